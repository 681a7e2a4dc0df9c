package redfishmock

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
)

// maxBodyBytes bounds request bodies; Redfish action and PATCH bodies are
// a few hundred bytes.
const maxBodyBytes = 1 << 20

// readBody parses a request body that must be a single JSON object. An empty
// body is an empty object, since some clients POST parameterless actions
// without one.
func readBody(r *http.Request) (map[string]any, *httpError) {
	data, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBodyBytes))
	if err != nil {
		return nil, newError(http.StatusRequestEntityTooLarge, message{key: "GeneralError", text: "The request body is too large."})
	}
	return parseBody(data)
}

func parseBody(data []byte) (map[string]any, *httpError) {
	if len(strings.TrimSpace(string(data))) == 0 {
		return map[string]any{}, nil
	}
	d, err := decodeObject(data)
	if err != nil {
		return nil, errMalformedJSON()
	}
	return d, nil
}

// action is a declared action that a POST resolved to.
type action struct {
	name  string         // e.g. "ComputerSystem.Reset"
	owner string         // URI of the resource declaring it
	decl  map[string]any // its entry under "Actions" (target, annotations)
}

// findAction resolves a POST URI to the action declared for it. The action
// must be listed, with that exact target, in the Actions (or Actions.Oem)
// object of the owning resource, as DSP0266 requires clients to discover
// targets rather than build them. Caller holds s.mu.
func (s *Server) findAction(key string) (*action, *httpError) {
	segs := strings.Split(strings.TrimPrefix(key, "/"), "/")
	n := len(segs)
	if n < 3 || segs[n-2] != "Actions" {
		return nil, errMethodNotAllowed(http.MethodPost, key)
	}
	owner := segs[:n-2]
	if i := slices.Index(owner, "Oem"); i > 0 {
		owner = owner[:i]
	}
	ownerKey := "/" + strings.Join(owner, "/")
	d, ok := s.doc(ownerKey)
	if !ok {
		return nil, errNotFound(key)
	}
	actions, _ := d["Actions"].(map[string]any)
	candidates := []map[string]any{actions}
	if oem, ok := actions["Oem"].(map[string]any); ok {
		candidates = append(candidates, oem)
	}
	for _, c := range candidates {
		for name, v := range c {
			decl, ok := v.(map[string]any)
			if !ok || !strings.HasPrefix(name, "#") {
				continue
			}
			if odataID(decl["target"]) == key {
				return &action{name: strings.TrimPrefix(name, "#"), owner: ownerKey, decl: decl}, nil
			}
		}
	}
	return nil, errActionNotSupported(segs[n-1])
}

func (s *Server) handleAction(w http.ResponseWriter, r *http.Request, key string) *httpError {
	body, herr := readBody(r)
	if herr != nil {
		return herr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	act, herr := s.findAction(key)
	if herr != nil {
		return herr
	}
	switch act.name {
	case "ComputerSystem.Reset":
		return s.reset(w, act, body)
	case "UpdateService.SimpleUpdate":
		return s.simpleUpdate(w, r, act, body)
	case "VirtualMedia.InsertMedia":
		return s.insertMedia(w, act, body)
	case "VirtualMedia.EjectMedia":
		return s.ejectMedia(w, act, body)
	}
	// Any other declared action is accepted and ignored, like DMTF's
	// Redfish-Mockup-Server does.
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// allowable returns the values the mockup allows for an action parameter:
// the inline "<param>@Redfish.AllowableValues" annotation, else the
// parameter's AllowableValues in the linked ActionInfo resource. ok is
// false when the mockup does not constrain the parameter. Caller holds s.mu.
func (s *Server) allowable(act *action, param string) (vals []string, ok bool) {
	if v, found := act.decl[param+"@Redfish.AllowableValues"]; found {
		return stringList(v), true
	}
	info, found := s.doc(odataID(act.decl["@Redfish.ActionInfo"]))
	if !found {
		return nil, false
	}
	params, _ := info["Parameters"].([]any)
	for _, p := range params {
		pm, _ := p.(map[string]any)
		if pm["Name"] != param {
			continue
		}
		if v, found := pm["AllowableValues"]; found {
			return stringList(v), true
		}
	}
	return nil, false
}

func stringList(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, e := range list {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// params checks an action body against the parameters an action accepts.
// Unknown parameters are rejected (ActionParameterUnknown) because a real
// BMC rejects them too, and silently ignoring a misspelt parameter is how
// clients ship bugs.
type params struct {
	action string
	body   map[string]any
}

func (p params) unknown(known ...string) *httpError {
	keys := make([]string, 0, len(p.body))
	for k := range p.body {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(known, k) {
			return errParamUnknown(p.action, k)
		}
	}
	return nil
}

func (p params) str(name string, required bool) (string, *httpError) {
	v, ok := p.body[name]
	if !ok {
		if required {
			return "", errParamMissing(p.action, name)
		}
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", errParamType(p.action, name, jsonText(v))
	}
	if required && s == "" {
		return "", errParamMissing(p.action, name)
	}
	return s, nil
}

func (p params) strs(name string) ([]string, *httpError) {
	v, ok := p.body[name]
	if !ok {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, errParamType(p.action, name, jsonText(v))
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		s, ok := e.(string)
		if !ok {
			return nil, errParamType(p.action, name, jsonText(v))
		}
		out = append(out, s)
	}
	return out, nil
}

func (p params) boolean(name string) (bool, *httpError) {
	v, ok := p.body[name]
	if !ok {
		return false, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, errParamType(p.action, name, jsonText(v))
	}
	return b, nil
}

// jsonText renders a decoded JSON value for an error message, bounded so a
// hostile body cannot make the error huge.
func jsonText(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		return "?"
	}
	if len(data) > 64 {
		return string(data[:61]) + "..."
	}
	return string(data)
}
