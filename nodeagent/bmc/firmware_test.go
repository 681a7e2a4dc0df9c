package bmc

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/ibex-hpc/ibex/nodeagent/redfishmock"
)

func TestVersionKnown(t *testing.T) {
	for v, want := range map[string]bool{
		"1.45.455b66-rev4": true, "P79 v1.45 (12/06/2017)": true, "ex235n.bios-1.2.1": true, "14.32.1010": true,
		"2.10": true, "0.3.1": true, "U46": true, "(1.2)": true,
		"": false, "  ": false, "N/A": false, " n/a ": false, "NA": false, "Unknown": false, "undefined": false,
		"UNDEFINED": false, "None": false, "null": false, "not available": false, "NotApplicable": false,
		"(none)": false, "<unknown>": false, `"N/A"`: false, "-": false, "--": false, "?": false, "...": false,
		"0": false, "0.0.0": false, "0.0.0.0": false, "ffffffff": false, "0xFFFF": false,
		"1.2\x00": false, "\x01\x02": false, "1.2\t3": false, "v1\u200b": false, "\xff\xfe": false, "1.2\ufffd": false,
		strings.Repeat("1", maxVersionLength+1): false,
	} {
		if got := versionKnown(v); got != want {
			t.Errorf("versionKnown(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestDisplayVersion(t *testing.T) {
	for in, want := range map[string]string{
		"1.2.3":           "1.2.3",
		"  1.2 ":          "1.2",
		"1.2\x00\x07":     `1.2\u0000\u0007`,
		"\xff\xfeab":      `\xff\xfeab`,
		"line1\nline2":    `line1\u000aline2`,
		"déjà 1.0":        "déjà 1.0",
		"undefined":       "undefined",
		"1.0\u202e(evil)": `1.0\u202e(evil)`,
	} {
		if got, _ := displayVersion(in); got != want {
			t.Errorf("displayVersion(%q) = %q, want %q", in, got, want)
		}
	}
	long, known := displayVersion(strings.Repeat("x", 1000))
	if known || len(long) > maxVersionLength+3 {
		t.Errorf("1000-byte version: %d bytes shown, known %v", len(long), known)
	}
}

// TestFirmwarePlaceholderVersions serves vendor placeholders and garbage
// as firmware versions, including bytes that are not UTF-8 (which would
// make the agent's protobuf Hello fail to marshal), straight from the wire.
func TestFirmwarePlaceholderVersions(t *testing.T) {
	srv, ts := startMock(t, "public-tower")
	coll := "/redfish/v1/UpdateService/FirmwareInventory"
	d := resource(t, srv, coll)
	members := d["Members"].([]any)
	entries := map[string]string{ // Id -> the raw JSON value of Version
		"HCA1": `"N/A"`, "NIC1": `"undefined"`, "NIC2": `""`, "NIC3": `"\u0000\u0001"`, "NIC4": "\"1.2\xff\xfe\"",
		"NIC5": `"0.0.0"`, "NIC6": `null`, "NIC7": `"14.32.1010"`, "NIC8": `"(none)"`,
	}
	for id, ver := range entries {
		uri := coll + "/" + id
		members = append(members, map[string]any{"@odata.id": uri})
		must(t, srv.InjectFault(redfishmock.Fault{Method: "GET", Path: uri, Status: 200,
			Body: []byte(`{"@odata.id":"` + uri + `","@odata.type":"#SoftwareInventory.v1_10_0.SoftwareInventory","Id":"` + id +
				`","Name":"Network\u0007 Controller","Version":` + ver + `,"Updateable":false}`)}))
	}
	d["Members"] = members
	must(t, srv.SetResource(coll, d))
	fw, err := dial(t, testConfig(ts.URL, "")).FirmwareInventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Firmware{}
	for _, f := range fw {
		got[f.ID] = f
		for _, s := range []string{f.ID, f.Name, f.Version} {
			if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) {
				t.Errorf("entry %s carries unprintable text %q", f.ID, s)
			}
		}
	}
	for id := range entries {
		f, ok := got[id]
		if want := id == "NIC7"; !ok || f.Known != want {
			t.Errorf("%s: %+v (present %v), want Known %v", id, f, ok, want)
		}
	}
	// encoding/json has already replaced the bad bytes with U+FFFD.
	if got["NIC4"].Version != `1.2\ufffd\ufffd` || got["NIC1"].Version != "undefined" || got["NIC7"].Version != "14.32.1010" {
		t.Errorf("versions shown: %q %q %q", got["NIC4"].Version, got["NIC1"].Version, got["NIC7"].Version)
	}
	if !got["BIOS"].Known || !got["BMC"].Known {
		t.Errorf("real versions lost: %+v", fw)
	}
}

// TestFirmwareFallback: without a firmware inventory, the BMC version comes
// from the Manager's FirmwareVersion and the BIOS version from the
// system's BiosVersion.
func TestFirmwareFallback(t *testing.T) {
	ctx := context.Background()
	versions := func(t *testing.T, r *Redfish) map[string]Firmware {
		t.Helper()
		fw, err := r.FirmwareInventory(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]Firmware{}
		for _, f := range fw {
			out[f.ID] = f
		}
		return out
	}

	t.Run("no UpdateService", func(t *testing.T) {
		_, ts := startMock(t, "handwritten/vmedia-server")
		got := versions(t, dial(t, testConfig(ts.URL, "")))
		if len(got) != 2 || got["BMC"].Version != "2.14.0-dev-1123-g5e8d0c2" || got["BMC"].URI != "/redfish/v1/Managers/bmc" ||
			got["BIOS"].Version != "1.9.2" || got["BIOS"].URI != "/redfish/v1/Systems/system" || !got["BMC"].Known || got["BIOS"].Updateable {
			t.Errorf("fallback inventory %+v", got)
		}
	})
	t.Run("UpdateService without FirmwareInventory", func(t *testing.T) {
		srv, ts := startMock(t, "public-tower")
		us := resource(t, srv, "/redfish/v1/UpdateService")
		delete(us, "FirmwareInventory")
		must(t, srv.SetResource("/redfish/v1/UpdateService", us))
		got := versions(t, dial(t, testConfig(ts.URL, "")))
		if len(got) != 2 || got["BMC"].Version != "1.45.455b66-rev4" || got["BIOS"].Version != "P79 v1.95 (12/06/2019)" {
			t.Errorf("fallback inventory %+v", got)
		}
	})
	t.Run("FirmwareInventory missing, no ManagedBy", func(t *testing.T) {
		// The Cray EX shape: the systems have no Links, so the BMC is
		// found through the service root's Managers.
		srv, ts := startMock(t, exBlade)
		must(t, srv.RemoveResource("/redfish/v1/UpdateService/FirmwareInventory"))
		got := versions(t, dial(t, testConfig(ts.URL, "Node1")))
		if len(got) != 2 || !strings.HasPrefix(got["BMC"].Version, "nc.1.6.19") || got["BIOS"].URI != "/redfish/v1/Systems/Node1" {
			t.Errorf("fallback inventory %+v", got)
		}
	})
	t.Run("placeholder versions there too", func(t *testing.T) {
		srv, ts := startMock(t, "handwritten/vmedia-server")
		sys := resource(t, srv, "/redfish/v1/Systems/system")
		sys["BiosVersion"] = "N/A"
		must(t, srv.SetResource("/redfish/v1/Systems/system", sys))
		got := versions(t, dial(t, testConfig(ts.URL, "")))
		if got["BIOS"].Known || !got["BMC"].Known {
			t.Errorf("fallback inventory %+v", got)
		}
	})
	t.Run("nothing to report", func(t *testing.T) {
		srv, ts := startMock(t, "public-smartnic")
		for _, uri := range []string{"/redfish/v1/Systems/Card1-SoC", "/redfish/v1/Managers/BMC"} {
			d := resource(t, srv, uri)
			delete(d, "BiosVersion")
			delete(d, "FirmwareVersion")
			must(t, srv.SetResource(uri, d))
		}
		_, err := dial(t, testConfig(ts.URL, "Card1-SoC")).FirmwareInventory(ctx)
		if !errors.Is(err, ErrUnsupported) {
			t.Errorf("FirmwareInventory = %v, want ErrUnsupported", err)
		}
	})
}
