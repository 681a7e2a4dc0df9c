package redfishmock

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// BIOS attributes with the DMTF semantics (DSP0266 "Settings resource"):
// a system's Bios resource holds the attributes the BIOS runs with and is
// read-only; its @Redfish.Settings names a settings resource that takes
// PATCHes of pending values, which the BIOS applies at the next boot (a
// reset or power-on that goes through POST). Attributes persist across
// power cycles like real NVRAM does.
//
// DMTF's mockups show a settings resource with illustrative pending
// changes (public-rackmount1 would turn turbo off at the first boot). The
// mock starts with nothing pending instead: each settings resource mirrors
// its Bios, so that a simulated node's BIOS changes only when asked to.

// biosApplyTimes are the apply times the mock offers for BIOS settings.
var biosApplyTimes = []any{"OnReset"}

func isBios(d map[string]any) bool {
	t, _ := d["@odata.type"].(string)
	return strings.HasPrefix(t, "#Bios.")
}

// biosSettingsURI is the settings object a Bios resource names, or "".
func biosSettingsURI(bios map[string]any) string {
	set, _ := bios["@Redfish.Settings"].(map[string]any)
	return odataID(set["SettingsObject"])
}

// initBios makes every Bios settings resource of the mockup mirror its
// Bios (nothing pending) and advertises the supported apply times. Called
// once from NewServer, before the server is shared.
func (s *Server) initBios() {
	for key := range s.m.docs {
		if !strings.HasSuffix(key, "/Bios") {
			continue
		}
		bios, ok := s.doc(key)
		if !ok || !isBios(bios) {
			continue
		}
		setKey := biosSettingsURI(bios)
		set, ok := s.doc(setKey)
		if setKey == "" || setKey == key || !ok {
			continue
		}
		settings, _ := bios["@Redfish.Settings"].(map[string]any)
		delete(settings, "Messages") // the mockup's illustrative SettingsFailed
		settings["SupportedApplyTimes"] = biosApplyTimes
		bios["ResetBiosToDefaultsPending"] = false
		s.put(key, bios)
		set["Attributes"] = copyAttributes(bios)
		set["@Redfish.SettingsApplyTime"] = map[string]any{
			"@odata.type":                       "#Settings.v1_4_0.PreferredApplyTime",
			"ApplyTime":                         "OnReset",
			"ApplyTime@Redfish.AllowableValues": biosApplyTimes,
		}
		s.put(setKey, set)
	}
}

func copyAttributes(bios map[string]any) map[string]any {
	attrs, _ := bios["Attributes"].(map[string]any)
	out := make(map[string]any, len(attrs))
	for k, v := range attrs {
		out[k] = v
	}
	return out
}

// biosOfSettings returns the URI of the Bios whose settings object is key,
// or "". Caller holds s.mu.
func (s *Server) biosOfSettings(key, settingsKey string) string {
	parent := key[:max(strings.LastIndex(key, "/"), 0)]
	if b, ok := s.doc(parent); ok && isBios(b) && biosSettingsURI(b) == settingsKey {
		return parent
	}
	return ""
}

// patchBiosSettings validates a PATCH of a Bios settings resource as a
// whole (every name must be an attribute of the Bios, every value of the
// current value's JSON type, the apply time one offered) and then records
// the values as pending. Caller holds the write lock.
func (s *Server) patchBiosSettings(w http.ResponseWriter, r *http.Request, key, biosKey string, body map[string]any) *httpError {
	bios, _ := s.doc(biosKey)
	cur, _ := bios["Attributes"].(map[string]any)
	var errs []message
	add := func(e *httpError) { errs = append(errs, e.msgs...) }
	attrs, _ := body["Attributes"].(map[string]any)
	for _, k := range sortedKeys(body) {
		switch k {
		case "Attributes":
			if attrs == nil {
				add(errPropertyType("Attributes", jsonText(body[k])))
			}
		case "@Redfish.SettingsApplyTime":
			at, _ := body[k].(map[string]any)
			v, ok := at["ApplyTime"].(string)
			if !ok || len(at) != 1 {
				add(errPropertyType(k, jsonText(body[k])))
			} else if v != "OnReset" {
				add(errPropertyNotInList(k+"/ApplyTime", v))
			}
		default:
			add(errPropertyUnknown(k))
		}
	}
	if attrs == nil && len(errs) == 0 {
		add(errPropertyUnknown("Attributes"))
	}
	for _, k := range sortedKeys(attrs) {
		old, ok := cur[k]
		if !ok {
			add(errPropertyUnknown("Attributes/" + k))
			continue
		}
		if !sameJSONType(old, attrs[k]) {
			add(errPropertyType("Attributes/"+k, jsonText(attrs[k])))
		}
	}
	if len(errs) > 0 {
		return newError(http.StatusBadRequest, errs...)
	}
	set, _ := s.docForWrite(key)
	pending, _ := set["Attributes"].(map[string]any)
	if pending == nil {
		pending = copyAttributes(bios)
		set["Attributes"] = pending
	}
	for k, v := range attrs {
		pending[k] = v
	}
	s.put(key, set)
	writeJSON(w, r, http.StatusOK, set)
	return nil
}

func sameJSONType(a, b any) bool {
	switch a.(type) {
	case string:
		_, ok := b.(string)
		return ok
	case json.Number:
		_, ok := b.(json.Number)
		return ok
	case bool:
		_, ok := b.(bool)
		return ok
	case nil:
		return true
	}
	return false
}

// applyPendingBios is what the BIOS does at POST: the system's settings
// resource's values become current. Caller holds the write lock.
func (s *Server) applyPendingBios(sys map[string]any) {
	biosKey := odataID(sys["Bios"])
	bios, ok := s.doc(biosKey)
	if biosKey == "" || !ok {
		return
	}
	setKey := biosSettingsURI(bios)
	set, ok := s.doc(setKey)
	if setKey == "" || setKey == biosKey || !ok {
		return
	}
	pending, _ := set["Attributes"].(map[string]any)
	cur, _ := bios["Attributes"].(map[string]any)
	changed := false
	for k, v := range pending {
		if old, ok := cur[k]; ok && jsonText(old) != jsonText(v) {
			changed = true
		}
	}
	if !changed {
		return
	}
	bios, _ = s.docForWrite(biosKey)
	cur, _ = bios["Attributes"].(map[string]any)
	for k, v := range pending {
		if _, ok := cur[k]; ok {
			cur[k] = v
		}
	}
	if settings, ok := bios["@Redfish.Settings"].(map[string]any); ok {
		settings["Time"] = time.Now().UTC().Format(time.RFC3339)
	}
	s.put(biosKey, bios)
}
