package redfishmock

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// FuzzCanonicalPath checks that no accepted path can name anything outside
// /redfish, and that the handler only ever serves URIs the mockup has.
func FuzzCanonicalPath(f *testing.F) {
	for _, seed := range []string{
		"/redfish/v1/", "/redfish/v1/Systems/437XR1138R2", "/redfish/v1/../../etc/passwd",
		"/redfish/v1/%2e%2e/x", "/redfish/v1/..%2fx", "/redfish/v1/%5c", "/redfish//v1//Systems/",
		"/redfish/v1/$metadata", "/redfish/v1/Registries/Base.1.5.0.json", "/redfish/v1/%00", "/redfish/v1/%zz",
	} {
		f.Add(seed)
	}
	m := loadMockup(f, "public-rackmount1")
	s := NewServer(m, Options{})
	f.Fuzz(func(t *testing.T, p string) {
		key, err := canonicalPath(p)
		if err == nil {
			if !strings.HasPrefix(key, "/redfish") || strings.Contains(key, "//") || strings.Contains(key, "\\") ||
				strings.Contains(key, "/.") || strings.ContainsRune(key, 0) || (len(key) > 1 && strings.HasSuffix(key, "/")) {
				t.Fatalf("canonicalPath(%q) = %q", p, key)
			}
		}
		u, perr := url.ParseRequestURI(p)
		if perr != nil {
			return
		}
		req := httptest.NewRequest(http.MethodGet, "http://bmc.test/", nil)
		req.URL = u
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			k, err := canonicalPath(u.EscapedPath())
			if err != nil {
				t.Fatalf("served %q although it is not canonical", p)
			}
			if _, ok := m.docs[k]; !ok {
				t.Fatalf("served %q -> %q, which is not in the mockup", p, k)
			}
		case http.StatusBadRequest, http.StatusNotFound:
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("error body for %q is not JSON", p)
			}
		default:
			t.Fatalf("GET %q: status %d", p, rec.Code)
		}
	})
}

// FuzzSystemPatch throws arbitrary bodies at PATCH of a system and checks
// that the server answers 200 or a Redfish 400, and that the Boot object
// only ever holds values the mockup allows.
func FuzzSystemPatch(f *testing.F) {
	for _, seed := range []string{
		`{"Boot":{"BootSourceOverrideTarget":"Pxe","BootSourceOverrideEnabled":"Once"}}`,
		`{"Boot":{"BootSourceOverrideMode":"Legacy"}}`,
		`{"Boot":{"BootSourceOverrideTarget":"Floppy"}}`,
		`{"Boot":{"UefiTargetBootSourceOverride":"/0x31"}}`,
		`{"Boot":null}`, `{"Boot":[1,2]}`, `{"AssetTag":"x"}`, `{}`, `[]`, `null`, `"x"`, ``, `{"Boot":{"a":{"b":[]}}}`,
	} {
		f.Add([]byte(seed))
	}
	m := loadMockup(f, "public-rackmount1")
	sys := "/redfish/v1/Systems/437XR1138R2"
	f.Fuzz(func(t *testing.T, body []byte) {
		s := NewServer(m, Options{})
		rec := do(t, s, http.MethodPatch, sys, string(body))
		switch rec.Code {
		case http.StatusOK:
		case http.StatusBadRequest:
			if ids := messageIDs(t, rec); len(ids) == 0 {
				t.Fatalf("400 without messages: %s", rec.Body)
			}
		default:
			t.Fatalf("status %d for %q", rec.Code, body)
		}
		d, err := s.Resource(sys)
		if err != nil {
			t.Fatal(err)
		}
		boot := d["Boot"].(map[string]any)
		checkIn := func(prop string, allowed []string) {
			if v := boot[prop]; !slices.Contains(allowed, v.(string)) {
				t.Fatalf("%s = %v after %q", prop, v, body)
			}
		}
		checkIn("BootSourceOverrideTarget", stringList(boot["BootSourceOverrideTarget@Redfish.AllowableValues"]))
		checkIn("BootSourceOverrideEnabled", bootEnums["BootSourceOverrideEnabled"])
		checkIn("BootSourceOverrideMode", bootEnums["BootSourceOverrideMode"])
		if rec.Code != http.StatusOK && !jsonContains(boot, `"BootSourceOverrideTarget":"Pxe"`) {
			t.Fatalf("rejected PATCH %q changed Boot: %v", body, boot)
		}
	})
}

// FuzzActionBody sends arbitrary bodies to Reset and SimpleUpdate. Accepted
// resets must leave a valid PowerState; accepted updates must be recorded
// with a non-empty ImageURI; everything else must be a Redfish 400.
func FuzzActionBody(f *testing.F) {
	for _, seed := range []string{
		`{"ResetType":"ForceOff"}`, `{"ResetType":"PowerCycle"}`, `{"ResetType":""}`, `{"ResetType":null}`,
		`{"ImageURI":"http://x/fw.bin","Targets":["/redfish/v1/UpdateService/FirmwareInventory/BMC"]}`,
		`{"ImageURI":"x","TransferProtocol":"TFTP","ForceUpdate":true,"Username":"u","Password":"p"}`,
		`{"ImageURI":"x","Targets":[null]}`, `{}`, ``, `{"ResetType":"On"}{}`,
	} {
		f.Add(false, []byte(seed))
		f.Add(true, []byte(seed))
	}
	m := loadMockup(f, "public-rackmount1")
	sys := "/redfish/v1/Systems/437XR1138R2"
	f.Fuzz(func(t *testing.T, update bool, body []byte) {
		s := NewServer(m, Options{})
		target := sys + "/Actions/ComputerSystem.Reset"
		if update {
			target = "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate"
		}
		rec := do(t, s, http.MethodPost, target, string(body))
		switch {
		case rec.Code == http.StatusBadRequest:
			if len(messageIDs(t, rec)) == 0 {
				t.Fatalf("400 without messages: %s", rec.Body)
			}
			if len(s.Resets())+len(s.Updates()) != 0 {
				t.Fatal("rejected request was recorded")
			}
		case !update && rec.Code == http.StatusNoContent:
			if ps := powerState(t, s, sys); ps != "On" && ps != "Off" {
				t.Fatalf("PowerState %q after %q", ps, body)
			}
			if len(s.Resets()) != 1 {
				t.Fatal("accepted reset not recorded")
			}
		case update && rec.Code == http.StatusAccepted:
			if u := s.Updates(); len(u) != 1 || u[0].ImageURI == "" {
				t.Fatalf("Updates() = %+v after %q", u, body)
			}
		default:
			t.Fatalf("status %d for %q", rec.Code, body)
		}
	})
}

// FuzzMediaBody sends arbitrary bodies to InsertMedia, EjectMedia and
// PATCH of a VirtualMedia resource. Each is answered with success or a
// Redfish error, and the device always stays consistent: Inserted is a
// bool, Image is null or a URI, and media is never inserted without one.
func FuzzMediaBody(f *testing.F) {
	for _, seed := range []string{
		`{"Image":"http://x/boot.iso"}`, `{"Image":"http://x/boot.iso","Inserted":false,"WriteProtected":false,"TransferProtocolType":"HTTPS"}`,
		`{"Image":null,"Inserted":false}`, `{"Image":"","Inserted":true}`, `{"Inserted":true}`, `{}`, ``, `[]`, `{"Image":"x"}`,
		`{"UserName":"u","Password":"p","Image":"https://x/y"}`,
	} {
		for op := range 3 {
			f.Add(uint8(op), []byte(seed))
		}
	}
	m := loadMockup(f, vmediaServer)
	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		s := NewServer(m, Options{})
		method, target := http.MethodPost, vmInsert
		switch op % 3 {
		case 1:
			target = vmEject
		case 2:
			method, target = http.MethodPatch, vmCD
		}
		// Half the time, start with media inserted.
		if op&4 != 0 {
			wantStatus(t, do(t, s, http.MethodPost, vmInsert, `{"Image":"http://x/first.iso"}`), http.StatusNoContent)
		}
		before := len(s.Media())
		rec := do(t, s, method, target, string(body))
		switch rec.Code {
		case http.StatusOK, http.StatusNoContent:
			if len(s.Media()) != before+1 {
				t.Fatal("accepted change not recorded")
			}
		case http.StatusBadRequest, http.StatusConflict:
			if len(messageIDs(t, rec)) == 0 {
				t.Fatalf("%d without messages", rec.Code)
			}
			if len(s.Media()) != before {
				t.Fatal("rejected change recorded")
			}
		default:
			t.Fatalf("status %d for %q", rec.Code, body)
		}
		d, err := s.Resource(vmCD)
		if err != nil {
			t.Fatal(err)
		}
		inserted, ok := d["Inserted"].(bool)
		if !ok {
			t.Fatalf("Inserted = %v", d["Inserted"])
		}
		switch img := d["Image"].(type) {
		case nil:
			if inserted {
				t.Fatal("inserted without an image")
			}
		case string:
			if !isURIish(img) {
				t.Fatalf("Image %q", img)
			}
		default:
			t.Fatalf("Image = %v", img)
		}
	})
}
