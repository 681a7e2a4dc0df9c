package redfishmock

import (
	"net/http"
	"slices"
	"strings"
)

// bootEnums are the ComputerSystem.v1_x enums for the Boot properties the
// server lets clients PATCH, used when the mockup gives no
// "<prop>@Redfish.AllowableValues" annotation. Properties mapped to nil
// accept any string.
var bootEnums = map[string][]string{
	"BootSourceOverrideTarget": {
		"None", "Pxe", "Floppy", "Cd", "Usb", "Hdd", "BiosSetup", "Utilities",
		"Diags", "UefiShell", "UefiTarget", "SDCard", "UefiHttp", "RemoteDrive",
		"UefiBootNext", "Recovery",
	},
	"BootSourceOverrideEnabled":    {"Disabled", "Once", "Continuous"},
	"BootSourceOverrideMode":       {"Legacy", "UEFI"},
	"UefiTargetBootSourceOverride": nil,
	"BootNext":                     nil,
}

func isComputerSystem(d map[string]any) bool {
	t, _ := d["@odata.type"].(string)
	return strings.HasPrefix(t, "#ComputerSystem.")
}

// handlePatch implements PATCH for a ComputerSystem's Boot object and for
// VirtualMedia (virtualmedia.go), the only writable things ibex needs. The whole body is validated before anything
// changes, so a rejected PATCH leaves the resource untouched, and every
// problem is reported at once, as DSP0266 asks of services.
func (s *Server) handlePatch(w http.ResponseWriter, r *http.Request, key string) *httpError {
	body, herr := readBody(r)
	if herr != nil {
		return herr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.doc(key)
	if !ok {
		return errNotFound(key)
	}
	biosKey := ""
	if isBios(cur) {
		biosKey = s.biosOfSettings(key, key)
	}
	if !isComputerSystem(cur) && !isVirtualMedia(cur) && biosKey == "" {
		return errMethodNotAllowed(http.MethodPatch, key)
	}
	if m := r.Header.Get("If-Match"); m != "" && !etagMatches(m, etagOf(cur)) {
		return errPreconditionFailed(key)
	}
	if biosKey != "" {
		return s.patchBiosSettings(w, r, key, biosKey, body)
	}
	if isVirtualMedia(cur) {
		return s.patchVirtualMedia(w, r, key, cur, body)
	}
	changes, herr := validateSystemPatch(cur, body)
	if herr != nil {
		return herr
	}
	sys, _ := s.docForWrite(key)
	boot, _ := sys["Boot"].(map[string]any)
	for k, v := range changes {
		boot[k] = v
	}
	s.put(key, sys)
	writeJSON(w, r, http.StatusOK, sys)
	return nil
}

// validateSystemPatch checks a PATCH body against the current system and
// returns the Boot properties to set.
func validateSystemPatch(sys, body map[string]any) (map[string]string, *httpError) {
	var errs []message
	add := func(e *httpError) { errs = append(errs, e.msgs...) }
	changes := map[string]string{}
	keys := sortedKeys(body)
	if len(keys) == 0 {
		add(errPropertyUnknown("Boot"))
	}
	for _, k := range keys {
		if k != "Boot" {
			if _, exists := sys[k]; exists {
				add(errPropertyNotWritable(k))
			} else {
				add(errPropertyUnknown(k))
			}
			continue
		}
		cur, hasBoot := sys["Boot"].(map[string]any)
		patch, isObj := body["Boot"].(map[string]any)
		switch {
		case !hasBoot:
			add(errPropertyUnknown("Boot"))
		case !isObj:
			add(errPropertyType("Boot", jsonText(body["Boot"])))
		default:
			validateBoot(cur, patch, changes, add)
		}
	}
	if len(errs) > 0 {
		return nil, newError(http.StatusBadRequest, errs...)
	}
	return changes, nil
}

func validateBoot(cur, patch map[string]any, changes map[string]string, add func(*httpError)) {
	for _, k := range sortedKeys(patch) {
		prop := "Boot/" + k
		enum, writable := bootEnums[k]
		if !writable {
			if _, exists := cur[k]; exists {
				add(errPropertyNotWritable(prop))
			} else {
				add(errPropertyUnknown(prop))
			}
			continue
		}
		v, ok := patch[k].(string)
		if !ok {
			add(errPropertyType(prop, jsonText(patch[k])))
			continue
		}
		if av, ok := cur[k+"@Redfish.AllowableValues"]; ok {
			enum = stringList(av)
		}
		if enum != nil && !slices.Contains(enum, v) {
			add(errPropertyNotInList(prop, v))
			continue
		}
		changes[k] = v
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
