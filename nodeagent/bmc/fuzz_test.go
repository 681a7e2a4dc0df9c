package bmc

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzParseErrorBody: whatever a BMC sends, the error is one bounded line
// that keeps the status.
func FuzzParseErrorBody(f *testing.F) {
	samples, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "redfish", "sushy-json-samples", "*error*.json"))
	for _, p := range samples {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(400, data)
		}
	}
	f.Add(502, []byte("<html>bad gateway</html>"))
	f.Add(500, []byte(`{"error":{"@Message.ExtendedInfo":{"Message":"one"}}}`))
	f.Add(404, []byte(`{"@Message.ExtendedInfo":[1,"x",null,{"MessageId":2}]}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := parseErrorBody(status, body)
		msg := e.Error()
		if e.StatusCode != status {
			t.Fatalf("status %d became %d", status, e.StatusCode)
		}
		if strings.ContainsAny(msg, "\n\r") {
			t.Fatalf("multi-line error %q", msg)
		}
		// 4 text fields per message, each bounded, plus the header.
		if max := 64 + (maxMessages+2)*(4*(maxTextLength+8)); len(msg) > max {
			t.Fatalf("error is %d bytes long", len(msg))
		}
		if len(e.Messages) > maxMessages+1 {
			t.Fatalf("%d messages kept", len(e.Messages))
		}
		if utf8.Valid(body) && !utf8.ValidString(msg) {
			t.Fatalf("valid UTF-8 body gave invalid message %q", msg)
		}
	})
}

// FuzzParseResources: the lenient decoders of ComputerSystem and
// UpdateService never panic, and only report what is really there.
func FuzzParseResources(f *testing.F) {
	for _, name := range []string{"public-rackmount1/Systems/437XR1138R2", "public-smartnic/Systems/Card1-SoC", "public-tower/UpdateService"} {
		if data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "redfish", "dmtf-publications", name, "index.json")); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{`{}`, `[]`, `null`, `{"Boot":null}`, `{"Boot":[]}`, `{"Boot":{"BootSourceOverrideTarget@Redfish.AllowableValues":"Pxe"}}`,
		`{"Actions":{"#ComputerSystem.Reset":{"target":5}}}`, `{"Actions":[],"FirmwareInventory":"x"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		sys, serr := parseSystem(raw)
		us, uerr := parseUpdateService(raw)
		var probe map[string]json.RawMessage
		isObj := json.Unmarshal(raw, &probe) == nil && probe != nil
		if isObj != (serr == nil) || isObj != (uerr == nil) {
			t.Fatalf("object %v but errors %v / %v", isObj, serr, uerr)
		}
		if !isObj {
			return
		}
		if !sys.HasBoot && sys.AllowedTargets != nil {
			t.Fatal("allowed targets without a Boot object")
		}
		if sys.Actions.Reset != nil && sys.Actions.Reset.Target == "" {
			t.Fatal("reset action without a target")
		}
		if us.SimpleUpdate != nil && us.SimpleUpdate.Target == "" {
			t.Fatal("SimpleUpdate action without a target")
		}
		if _, ok := probe["FirmwareInventory"]; !ok && us.FirmwareInventory != "" {
			t.Fatal("FirmwareInventory link invented")
		}
	})
}

// FuzzParseLinked: the decoders of collections, inventory entries,
// Managers, VirtualMedia and ActionInfo never panic, hand out only URIs
// this client may request, and stay within their bounds.
func FuzzParseLinked(f *testing.F) {
	for _, name := range []string{
		"dmtf-publications/public-rackmount1/UpdateService/FirmwareInventory",
		"dmtf-publications/public-rackmount1/UpdateService/FirmwareInventory/BMC",
		"dmtf-publications/public-rackmount1/Managers/BMC",
		"dmtf-publications/public-rackmount1/Systems/437XR1138R2/VirtualMedia/CD1",
		"handwritten/vmedia-server/Managers/bmc/VirtualMedia/CD1",
		"handwritten/ex-blade/Systems/Node0/ResetActionInfo",
	} {
		if data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "redfish", filepath.FromSlash(name), "index.json")); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{
		`{"Members":[{"@odata.id":"/redfish/v1/../x"},{"@odata.id":"/redfish/v1/a?b"},{"@odata.id":"https://evil/redfish/v1"},1,null]}`,
		`{"Members":{"@odata.id":"/redfish/v1/x"}}`, `{"RelatedItem":[{"@odata.id":"/redfish/v1/Systems/1/"}],"Version":5}`,
		`{"FirmwareVersion":null,"VirtualMedia":"/redfish/v1/x"}`, `{"Image":null,"Inserted":"yes","MediaTypes":["CD",2]}`,
		`{"Actions":{"#VirtualMedia.InsertMedia":{"target":"/redfish/v1/x","TransferProtocolType@Redfish.AllowableValues":"HTTP"}}}`,
		`{"Parameters":[{"Name":"ResetType","AllowableValues":["On",1]},{"Name":5}]}`,
	} {
		f.Add([]byte(s))
	}
	checkURI := func(t *testing.T, what, u string) {
		if u != "" && uriOf(u) != u {
			t.Fatalf("%s %q is not a clean Redfish URI", what, u)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var probe map[string]json.RawMessage
		isObj := json.Unmarshal(raw, &probe) == nil && probe != nil
		members, cerr := parseCollection(raw)
		sw, serr := parseSoftware(raw)
		md, merr := parseManager(raw)
		vm, verr := parseMedia(raw)
		vals, aerr := parseActionInfo(raw, "ResetType")
		if !isObj {
			if serr == nil || merr == nil || verr == nil || aerr == nil || cerr == nil {
				t.Fatal("a non-object was accepted")
			}
			return
		}
		if serr != nil || merr != nil || verr != nil || aerr != nil {
			t.Fatalf("object refused: %v %v %v %v", serr, merr, verr, aerr)
		}
		if len(members) > maxMembers || len(sw.RelatedItem) > maxLinks || len(vm.MediaTypes) > maxLinks || len(vals) > maxLinks {
			t.Fatal("bounds exceeded")
		}
		for _, m := range members {
			checkURI(t, "member", m)
			if m == "" {
				t.Fatal("empty member kept")
			}
		}
		for _, it := range sw.RelatedItem {
			checkURI(t, "RelatedItem", it)
		}
		checkURI(t, "software @odata.id", sw.ODataID)
		checkURI(t, "manager VirtualMedia", md.VirtualMedia)
		checkURI(t, "media @odata.id", vm.ODataID)
		for _, a := range []*actionDoc{vm.Insert, vm.Eject} {
			if a != nil && (a.Target == "" || uriOf(a.Target) != a.Target) {
				t.Fatalf("action target %q", a.Target)
			}
		}
		if _, ok := probe["Image"]; ok != vm.HasImage {
			t.Fatalf("HasImage %v, Image present %v", vm.HasImage, ok)
		}
	})
}

// FuzzVersion: whatever a BMC puts in a version, what is shown is valid,
// printable, bounded UTF-8 (it goes into logs and protobuf strings), and a
// version called known is shown as reported.
func FuzzVersion(f *testing.F) {
	for _, s := range []string{"1.45.455b66-rev4", "N/A", "undefined", "", "\x00", "1.2\xff", "0.0.0", "(none)", "ffff", "déjà\u202e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		shown, known := displayVersion(v)
		if !utf8.ValidString(shown) || len(shown) > maxVersionLength+3 {
			t.Fatalf("displayVersion(%q) = %q", v, shown)
		}
		for _, r := range shown {
			if !unicode.IsPrint(r) || r == utf8.RuneError {
				t.Fatalf("displayVersion(%q) = %q has unprintable %U", v, shown, r)
			}
		}
		if known != versionKnown(v) {
			t.Fatal("displayVersion and versionKnown disagree")
		}
		if known && shown != strings.TrimSpace(v) {
			t.Fatalf("known version %q shown as %q", v, shown)
		}
		if known && !strings.ContainsFunc(v, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) {
			t.Fatalf("%q called known", v)
		}
	})
}

// FuzzParseCAPEM: a CA file is parsed without panics, and accepted only
// when it holds certificates and nothing but.
func FuzzParseCAPEM(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"))
	f.Add([]byte("garbage"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		pool, err := parseCAPEM(data)
		if (err == nil) != (pool != nil) {
			t.Fatalf("pool %v, err %v", pool, err)
		}
		if err == nil && !bytes.Contains(data, []byte("-----BEGIN CERTIFICATE-----")) {
			t.Fatal("accepted without a CERTIFICATE block")
		}
	})
}
