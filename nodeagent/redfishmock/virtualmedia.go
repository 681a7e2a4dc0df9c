package redfishmock

import (
	"net/http"
	"path"
	"slices"
	"strings"
)

// MediaRequest is a virtual media change the server accepted, by action
// (InsertMedia, EjectMedia) or by PATCH of the VirtualMedia resource (the
// older way, which BMCs without the actions still use). The image password
// is not kept.
type MediaRequest struct {
	Device   string // URI of the VirtualMedia resource
	Via      string // "InsertMedia", "EjectMedia" or "PATCH"
	Image    string // image URI after the change ("" when ejected)
	Inserted bool   // Inserted after the change
}

func isVirtualMedia(d map[string]any) bool {
	t, _ := d["@odata.type"].(string)
	return strings.HasPrefix(t, "#VirtualMedia.")
}

// insertMedia implements VirtualMedia.InsertMedia. Like real BMCs (and as
// the schema asks), it refuses to insert over media that is already
// inserted: clients must eject first.
func (s *Server) insertMedia(w http.ResponseWriter, act *action, body map[string]any) *httpError {
	p := params{action: act.name, body: body}
	if herr := p.unknown("Image", "Inserted", "WriteProtected", "TransferProtocolType",
		"TransferMethod", "UserName", "Password", "MediaType"); herr != nil {
		return herr
	}
	image, herr := p.str("Image", true)
	if herr != nil {
		return herr
	}
	inserted, writeProtected := true, true
	if _, ok := body["Inserted"]; ok {
		if inserted, herr = p.boolean("Inserted"); herr != nil {
			return herr
		}
	}
	if _, ok := body["WriteProtected"]; ok {
		if writeProtected, herr = p.boolean("WriteProtected"); herr != nil {
			return herr
		}
	}
	for _, name := range []string{"TransferProtocolType", "TransferMethod"} {
		v, herr := p.str(name, false)
		if herr != nil {
			return herr
		}
		if v == "" {
			continue
		}
		if allowed, ok := s.allowable(act, name); ok && !slices.Contains(allowed, v) {
			return errParamNotInList(act.name, name, v)
		}
	}
	for _, name := range []string{"UserName", "Password", "MediaType"} {
		if _, herr := p.str(name, false); herr != nil {
			return herr
		}
	}
	if !isURIish(image) {
		return errParamNotInList(act.name, "Image", image)
	}
	dev, ok := s.docForWrite(act.owner)
	if !ok {
		return errNotFound(act.owner)
	}
	if cur, _ := dev["Image"].(string); cur != "" || dev["Inserted"] == true {
		return errResourceInUse(act.owner)
	}
	setMedia(dev, image, inserted)
	dev["WriteProtected"] = writeProtected
	if tp, _ := body["TransferProtocolType"].(string); tp != "" {
		dev["TransferProtocolType"] = tp
	}
	s.put(act.owner, dev)
	s.media = append(s.media, MediaRequest{Device: act.owner, Via: "InsertMedia", Image: image, Inserted: inserted})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ejectMedia implements VirtualMedia.EjectMedia, which takes no
// parameters. Ejecting an empty device succeeds, as on most BMCs.
func (s *Server) ejectMedia(w http.ResponseWriter, act *action, body map[string]any) *httpError {
	if herr := (params{action: act.name, body: body}).unknown(); herr != nil {
		return herr
	}
	dev, ok := s.docForWrite(act.owner)
	if !ok {
		return errNotFound(act.owner)
	}
	setMedia(dev, "", false)
	s.put(act.owner, dev)
	s.media = append(s.media, MediaRequest{Device: act.owner, Via: "EjectMedia"})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// setMedia sets the properties a BMC changes on insert or eject.
func setMedia(dev map[string]any, image string, inserted bool) {
	if image == "" {
		dev["Image"] = nil
		dev["ImageName"] = ""
		dev["ConnectedVia"] = "NotConnected"
	} else {
		dev["Image"] = image
		dev["ImageName"] = path.Base(image)
		dev["ConnectedVia"] = "URI"
	}
	dev["Inserted"] = inserted
}

// isURIish is the check BMCs make before trying to fetch an image: an
// absolute URI with a scheme, no spaces or control characters.
func isURIish(s string) bool {
	i := strings.Index(s, "://")
	if i <= 0 || len(s) == i+3 {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f })
}

// virtualMediaWritable are the VirtualMedia properties a PATCH may set.
var virtualMediaWritable = []string{"Image", "Inserted", "WriteProtected"}

// patchVirtualMedia implements PATCH of a VirtualMedia resource: Image
// (a URI, or null to disconnect), Inserted and WriteProtected. Like the
// system PATCH, the body is validated whole before anything changes.
func (s *Server) patchVirtualMedia(w http.ResponseWriter, r *http.Request, key string, cur, body map[string]any) *httpError {
	var errs []message
	add := func(e *httpError) { errs = append(errs, e.msgs...) }
	keys := sortedKeys(body)
	if len(keys) == 0 {
		add(errPropertyUnknown("Image"))
	}
	for _, k := range keys {
		v := body[k]
		switch {
		case !slices.Contains(virtualMediaWritable, k):
			if _, exists := cur[k]; exists {
				add(errPropertyNotWritable(k))
			} else {
				add(errPropertyUnknown(k))
			}
		case k == "Image":
			if str, ok := v.(string); v != nil && (!ok || (str != "" && !isURIish(str))) {
				add(errPropertyType(k, jsonText(v)))
			}
		default:
			if _, ok := v.(bool); !ok {
				add(errPropertyType(k, jsonText(v)))
			}
		}
	}
	if len(errs) > 0 {
		return newError(http.StatusBadRequest, errs...)
	}
	dev, _ := s.docForWrite(key)
	image, _ := dev["Image"].(string)
	if v, ok := body["Image"]; ok {
		image, _ = v.(string)
	}
	inserted := image != ""
	if v, ok := body["Inserted"].(bool); ok {
		inserted = v && image != ""
	}
	setMedia(dev, image, inserted)
	if v, ok := body["WriteProtected"].(bool); ok {
		dev["WriteProtected"] = v
	}
	s.put(key, dev)
	s.media = append(s.media, MediaRequest{Device: key, Via: "PATCH", Image: image, Inserted: inserted})
	writeJSON(w, r, http.StatusOK, dev)
	return nil
}

// Media returns the virtual media changes accepted so far, oldest first.
func (s *Server) Media() []MediaRequest {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.media)
}
