package redfishmock

import (
	"net/http"
	"strings"
	"testing"
)

func TestResetChangesPowerState(t *testing.T) {
	for _, mk := range mockups {
		t.Run(mk.name, func(t *testing.T) {
			s := NewServer(loadMockup(t, mk.name), Options{})
			target := mk.system + "/Actions/ComputerSystem.Reset"
			steps := []struct {
				reset, want string
			}{
				{"ForceOff", "Off"},
				{"On", "On"},
				{"GracefulShutdown", "Off"},
				{"ForceOn", "On"},
				{"ForceRestart", "On"},
				{"PushPowerButton", "Off"},
				{"PushPowerButton", "On"},
				{"Nmi", "On"},
				{"GracefulRestart", "On"},
			}
			for _, st := range steps {
				rec := do(t, s, http.MethodPost, target, `{"ResetType":"`+st.reset+`"}`)
				wantStatus(t, rec, http.StatusNoContent)
				if got := powerState(t, s, mk.system); got != st.want {
					t.Fatalf("after %s: PowerState %s, want %s", st.reset, got, st.want)
				}
			}
			if got := len(s.Resets()); got != len(steps) {
				t.Errorf("recorded %d resets, want %d", got, len(steps))
			}
			if r := s.Resets()[0]; r.System != mk.system || r.ResetType != "ForceOff" || r.Before != "On" || r.After != "Off" {
				t.Errorf("first reset recorded as %+v", r)
			}
		})
	}
}

func TestResetRejectsBadRequests(t *testing.T) {
	s := NewServer(loadMockup(t, "public-rackmount1"), Options{})
	sys := "/redfish/v1/Systems/437XR1138R2"
	target := sys + "/Actions/ComputerSystem.Reset"
	for _, tc := range []struct {
		name, body, id string
	}{
		{"invalid type", `{"ResetType":"Explode"}`, "ActionParameterValueNotInList"},
		// PowerCycle is a valid Redfish value, but rackmount1's
		// AllowableValues do not list it.
		{"not allowed here", `{"ResetType":"PowerCycle"}`, "ActionParameterValueNotInList"},
		{"missing", `{}`, "ActionParameterMissing"},
		{"empty body", ``, "ActionParameterMissing"},
		{"wrong type", `{"ResetType":1}`, "ActionParameterValueTypeError"},
		{"unknown parameter", `{"ResetType":"On","Delay":5}`, "ActionParameterUnknown"},
		{"malformed", `{"ResetType":`, "MalformedJSON"},
		{"array", `["On"]`, "MalformedJSON"},
		{"trailing data", `{"ResetType":"On"} {}`, "MalformedJSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, do(t, s, http.MethodPost, target, tc.body), http.StatusBadRequest, tc.id)
		})
	}
	if got := powerState(t, s, sys); got != "On" {
		t.Errorf("rejected resets changed PowerState to %s", got)
	}
	if n := len(s.Resets()); n != 0 {
		t.Errorf("%d rejected resets recorded", n)
	}
	// Targets must be the declared ones.
	wantError(t, do(t, s, http.MethodPost, sys+"/Actions/ComputerSystem.Explode", `{}`), http.StatusBadRequest, "ActionNotSupported")
	wantError(t, do(t, s, http.MethodPost, "/redfish/v1/Systems/Nope/Actions/ComputerSystem.Reset", `{"ResetType":"On"}`), http.StatusNotFound, "ResourceMissingAtURI")
	wantError(t, do(t, s, http.MethodPost, sys, `{}`), http.StatusMethodNotAllowed, "OperationNotAllowed")
}

// TestResetWithoutAllowableValues covers a system that does not narrow
// ResetType: the full Redfish enum applies, so PowerCycle works.
func TestResetWithoutAllowableValues(t *testing.T) {
	s := NewServer(loadMockup(t, "public-rackmount1"), Options{})
	sys := "/redfish/v1/Systems/437XR1138R2"
	d, err := s.Resource(sys)
	must(t, err)
	reset := d["Actions"].(map[string]any)["#ComputerSystem.Reset"].(map[string]any)
	delete(reset, "ResetType@Redfish.AllowableValues")
	must(t, s.SetResource(sys, d))

	wantStatus(t, do(t, s, http.MethodPost, sys+"/Actions/ComputerSystem.Reset", `{"ResetType":"ForceOff"}`), http.StatusNoContent)
	wantStatus(t, do(t, s, http.MethodPost, sys+"/Actions/ComputerSystem.Reset", `{"ResetType":"PowerCycle"}`), http.StatusNoContent)
	if got := powerState(t, s, sys); got != "On" {
		t.Errorf("PowerCycle from Off left PowerState %s", got)
	}
	wantError(t, do(t, s, http.MethodPost, sys+"/Actions/ComputerSystem.Reset", `{"ResetType":"Explode"}`), http.StatusBadRequest, "ActionParameterValueNotInList")
}

// TestResetActionInfo covers a system that publishes allowed reset types
// through an ActionInfo resource, as bmcweb and AMI do.
func TestResetActionInfo(t *testing.T) {
	s := NewServer(loadMockup(t, "public-tower"), Options{})
	sys := "/redfish/v1/Systems/437XR1238R2"
	info := sys + "/ResetActionInfo"
	must(t, s.SetResource(info, map[string]any{
		"@odata.id": info, "@odata.type": "#ActionInfo.v1_1_2.ActionInfo", "Id": "ResetActionInfo",
		"Parameters": []any{map[string]any{"Name": "ResetType", "Required": true, "DataType": "String",
			"AllowableValues": []string{"On", "ForceOff"}}},
	}))
	d, err := s.Resource(sys)
	must(t, err)
	d["Actions"] = map[string]any{"#ComputerSystem.Reset": map[string]any{
		"target": sys + "/Actions/ComputerSystem.Reset", "@Redfish.ActionInfo": info}}
	must(t, s.SetResource(sys, d))

	wantStatus(t, do(t, s, http.MethodPost, sys+"/Actions/ComputerSystem.Reset", `{"ResetType":"ForceOff"}`), http.StatusNoContent)
	wantError(t, do(t, s, http.MethodPost, sys+"/Actions/ComputerSystem.Reset", `{"ResetType":"ForceRestart"}`), http.StatusBadRequest, "ActionParameterValueNotInList")
}

func TestOemActionAccepted(t *testing.T) {
	s := NewServer(loadMockup(t, "public-rackmount1"), Options{})
	rec := do(t, s, http.MethodPost, "/redfish/v1/Systems/437XR1138R2/Oem/Contoso/Actions/Contoso.Reset", `{}`)
	wantStatus(t, rec, http.StatusNoContent)
}

func TestBootOverridePersists(t *testing.T) {
	for _, mk := range mockups {
		t.Run(mk.name, func(t *testing.T) {
			s := NewServer(loadMockup(t, mk.name), Options{})
			rec := do(t, s, http.MethodPatch, mk.system,
				`{"Boot":{"BootSourceOverrideTarget":"Usb","BootSourceOverrideEnabled":"Continuous","BootSourceOverrideMode":"Legacy"}}`)
			wantStatus(t, rec, http.StatusOK)
			if b := decodeRec(t, rec)["Boot"].(map[string]any); b["BootSourceOverrideTarget"] != "Usb" {
				t.Errorf("PATCH response Boot = %v", b)
			}
			for prop, want := range map[string]string{
				"BootSourceOverrideTarget":  "Usb",
				"BootSourceOverrideEnabled": "Continuous",
				"BootSourceOverrideMode":    "Legacy",
			} {
				if got := bootProp(t, s, mk.system, prop); got != want {
					t.Errorf("%s = %q after PATCH, want %q", prop, got, want)
				}
			}
			// Only the patched properties change.
			if got := bootProp(t, s, mk.system, "UefiTargetBootSourceOverride"); got != "/0x31/0x33/0x01/0x01" {
				t.Errorf("UefiTargetBootSourceOverride changed to %q", got)
			}
		})
	}
}

// TestOnceOverrideConsumedByBoot models DSP2046: a "Once" override reverts
// to Disabled when the host boots, so clients must set it right before the
// reset, and a power-off does not consume it.
func TestOnceOverrideConsumedByBoot(t *testing.T) {
	s := NewServer(loadMockup(t, "public-tower"), Options{})
	sys := "/redfish/v1/Systems/437XR1238R2"
	reset := sys + "/Actions/ComputerSystem.Reset"
	wantStatus(t, do(t, s, http.MethodPatch, sys, `{"Boot":{"BootSourceOverrideTarget":"Pxe","BootSourceOverrideEnabled":"Once"}}`), http.StatusOK)
	wantStatus(t, do(t, s, http.MethodPost, reset, `{"ResetType":"ForceOff"}`), http.StatusNoContent)
	if got := bootProp(t, s, sys, "BootSourceOverrideEnabled"); got != "Once" {
		t.Fatalf("power off consumed the override: %s", got)
	}
	wantStatus(t, do(t, s, http.MethodPost, reset, `{"ResetType":"On"}`), http.StatusNoContent)
	if got := bootProp(t, s, sys, "BootSourceOverrideEnabled"); got != "Disabled" {
		t.Errorf("boot did not consume the Once override: %s", got)
	}
	if got := bootProp(t, s, sys, "BootSourceOverrideTarget"); got != "Pxe" {
		t.Errorf("target changed to %s", got)
	}
}

func TestBootPatchRejected(t *testing.T) {
	s := NewServer(loadMockup(t, "public-smartnic"), Options{})
	sys := "/redfish/v1/Systems/437XR1138R2"
	for _, tc := range []struct {
		name, body, id string
	}{
		{"target not allowed", `{"Boot":{"BootSourceOverrideTarget":"Floppy"}}`, "PropertyValueNotInList"},
		{"bad enabled", `{"Boot":{"BootSourceOverrideEnabled":"Twice"}}`, "PropertyValueNotInList"},
		{"bad mode", `{"Boot":{"BootSourceOverrideMode":"BIOS"}}`, "PropertyValueNotInList"},
		{"wrong type", `{"Boot":{"BootSourceOverrideTarget":true}}`, "PropertyValueTypeError"},
		{"boot not object", `{"Boot":"Pxe"}`, "PropertyValueTypeError"},
		{"unknown boot prop", `{"Boot":{"Frobnicate":"x"}}`, "PropertyUnknown"},
		{"annotation", `{"Boot":{"BootSourceOverrideTarget@Redfish.AllowableValues":["Pxe"]}}`, "PropertyNotWritable"},
		{"other property", `{"AssetTag":"x"}`, "PropertyNotWritable"},
		{"unknown property", `{"Nope":1}`, "PropertyUnknown"},
		{"empty", `{}`, "PropertyUnknown"},
		{"malformed", `{"Boot":`, "MalformedJSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, do(t, s, http.MethodPatch, sys, tc.body), http.StatusBadRequest, tc.id)
		})
	}
	// One good and one bad property: all-or-nothing.
	wantError(t, do(t, s, http.MethodPatch, sys, `{"Boot":{"BootSourceOverrideTarget":"Hdd","BootSourceOverrideMode":"BIOS"}}`), http.StatusBadRequest, "PropertyValueNotInList")
	if got := bootProp(t, s, sys, "BootSourceOverrideTarget"); got != "Pxe" {
		t.Errorf("rejected PATCH changed target to %s", got)
	}
	// Two problems are both reported.
	rec := do(t, s, http.MethodPatch, sys, `{"Boot":{"BootSourceOverrideTarget":"Floppy"},"Nope":1}`)
	if ids := messageIDs(t, rec); len(ids) != 2 {
		t.Errorf("MessageIds = %v, want two", ids)
	}
	// The SmartNIC's SoC system has no Boot object at all.
	wantError(t, do(t, s, http.MethodPatch, "/redfish/v1/Systems/Card1-SoC", `{"Boot":{"BootSourceOverrideTarget":"Pxe"}}`), http.StatusBadRequest, "PropertyUnknown")
	wantError(t, do(t, s, http.MethodPatch, "/redfish/v1/Chassis", `{"Boot":{}}`), http.StatusMethodNotAllowed, "OperationNotAllowed")
	wantError(t, do(t, s, http.MethodPatch, "/redfish/v1/Systems/Nope", `{"Boot":{}}`), http.StatusNotFound, "ResourceMissingAtURI")
}

func TestBootPatchIfMatch(t *testing.T) {
	s := NewServer(loadMockup(t, "public-rackmount1"), Options{})
	sys := "/redfish/v1/Systems/437XR1138R2"
	etag := do(t, s, http.MethodGet, sys, "").Header().Get("ETag")
	body := `{"Boot":{"BootSourceOverrideTarget":"Cd"}}`
	wantError(t, do(t, s, http.MethodPatch, sys, body, "If-Match", `W/"stale"`), http.StatusPreconditionFailed, "PreconditionFailed")
	rec := do(t, s, http.MethodPatch, sys, body, "If-Match", etag)
	wantStatus(t, rec, http.StatusOK)
	if rec.Header().Get("ETag") == etag {
		t.Error("ETag did not change after PATCH")
	}
	// The old ETag is stale now.
	wantStatus(t, do(t, s, http.MethodPatch, sys, body, "If-Match", etag), http.StatusPreconditionFailed)
	wantStatus(t, do(t, s, http.MethodPatch, sys, body, "If-Match", "*"), http.StatusOK)
}

func TestSimpleUpdateRecorded(t *testing.T) {
	for _, mk := range mockups {
		t.Run(mk.name, func(t *testing.T) {
			s := NewServer(loadMockup(t, mk.name), Options{})
			target := "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate"
			body := `{"ImageURI":"https://fw.example/bmc.bin","Targets":["/redfish/v1/UpdateService/FirmwareInventory/BMC"],"TransferProtocol":"HTTPS"}`
			rec := do(t, s, http.MethodPost, target, body)
			if mk.name == "public-smartnic" {
				// This mockup has no UpdateService at all.
				wantError(t, rec, http.StatusNotFound, "ResourceMissingAtURI")
				return
			}
			wantStatus(t, rec, http.StatusAccepted)
			loc := rec.Header().Get("Location")
			if !strings.HasPrefix(loc, "/redfish/v1/TaskService/Tasks/") {
				t.Fatalf("Location %q", loc)
			}
			task := decodeRec(t, do(t, s, http.MethodGet, loc, ""))
			if task["TaskState"] != "Completed" {
				t.Errorf("task = %v", task)
			}
			ups := s.Updates()
			if len(ups) != 1 || ups[0].ImageURI != "https://fw.example/bmc.bin" || ups[0].TransferProtocol != "HTTPS" ||
				len(ups[0].Targets) != 1 || ups[0].Targets[0] != "/redfish/v1/UpdateService/FirmwareInventory/BMC" || ups[0].Task != loc {
				t.Errorf("Updates() = %+v", ups)
			}
			ups[0].Targets[0] = "mutated"
			if s.Updates()[0].Targets[0] == "mutated" {
				t.Error("Updates() shares its slices")
			}
			if coll := decodeRec(t, do(t, s, http.MethodGet, "/redfish/v1/TaskService/Tasks", "")); !jsonContains(coll["Members"], "mock-update-1") {
				t.Errorf("task not listed in Tasks: %v", coll["Members"])
			}
		})
	}
}

func TestSimpleUpdateRejected(t *testing.T) {
	s := NewServer(loadMockup(t, "public-rackmount1"), Options{})
	target := "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate"
	for _, tc := range []struct {
		name, body, id string
	}{
		{"no image", `{"Targets":[]}`, "ActionParameterMissing"},
		{"empty image", `{"ImageURI":""}`, "ActionParameterMissing"},
		{"image not string", `{"ImageURI":42}`, "ActionParameterValueTypeError"},
		{"protocol not allowed", `{"ImageURI":"x","TransferProtocol":"GOPHER"}`, "ActionParameterValueNotInList"},
		{"targets not list", `{"ImageURI":"x","Targets":"/redfish/v1"}`, "ActionParameterValueTypeError"},
		{"target not string", `{"ImageURI":"x","Targets":[1]}`, "ActionParameterValueTypeError"},
		{"target is an Id", `{"ImageURI":"x","Targets":["BMC"]}`, "ActionParameterValueNotInList"},
		{"target missing", `{"ImageURI":"x","Targets":["/redfish/v1/UpdateService/FirmwareInventory/NIC"]}`, "ActionParameterValueNotInList"},
		{"force not bool", `{"ImageURI":"x","ForceUpdate":"yes"}`, "ActionParameterValueTypeError"},
		{"unknown", `{"ImageURI":"x","Reboot":true}`, "ActionParameterUnknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, do(t, s, http.MethodPost, target, tc.body), http.StatusBadRequest, tc.id)
		})
	}
	if n := len(s.Updates()); n != 0 {
		t.Errorf("%d rejected updates recorded", n)
	}
}
