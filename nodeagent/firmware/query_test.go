package firmware

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Real mstflint outputs (ConnectX-6, PSID MT_0000000228), see
// testdata/ib-tool-outputs/SOURCE.txt.
var mstflintDir = filepath.Join("..", "..", "testdata", "ib-tool-outputs", "mstflint")

func readOutput(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(mstflintDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func parseOutput(t *testing.T, name string) Query {
	t.Helper()
	q, err := ParseQuery(readOutput(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return q
}

func TestParseQueryDevice(t *testing.T) {
	q := parseOutput(t, "mstflint_q_fw20_ConnectX6_MT_0000000228.txt")
	if q.ImageType != "FS4" || q.FWVersion != "20.35.1012" || q.Running() != "20.35.1012" || q.RunningReported || q.PendingReset {
		t.Errorf("versions: %+v", q)
	}
	if q.PSID != "MT_0000000228" || q.ReleaseDate != "28.10.2022" || q.ProductVersion != "20.35.1012" || q.DeviceID != 0 {
		t.Errorf("identity: %+v", q)
	}
	if q.BaseGUID != 0x043f720300f04c46 || q.BaseGUIDCount != 8 || q.BaseMAC.String() != "04:3f:72:f0:4c:46" || q.BaseMACCount != 8 {
		t.Errorf("GUID/MAC: %v %d %v %d", q.BaseGUID, q.BaseGUIDCount, q.BaseMAC, q.BaseMACCount)
	}
	wantRom := []string{"type=UEFI version=14.28.15 cpu=AMD64,AARCH64", "type=PXE version=3.6.804 cpu=AMD64"}
	if strings.Join(q.RomInfo, "|") != strings.Join(wantRom, "|") {
		t.Errorf("RomInfo %q", q.RomInfo)
	}
	if q.Fields["Image VSD"] != "N/A" || q.Fields["Security Attributes"] != "N/A" || q.SecurityAttributes != "" {
		t.Errorf("raw fields: %q", q.Fields)
	}
	if len(q.Messages) != 0 {
		t.Errorf("messages: %q", q.Messages)
	}
}

// The case firmware pinning hinges on: new firmware burned, old one still
// running until a firmware reset.
func TestParseQueryPendingReset(t *testing.T) {
	q := parseOutput(t, "mstflint_q_running_fw_pending_reset.txt")
	if q.FWVersion != "20.35.1012" || q.RunningVersion != "20.34.1002" || q.Running() != "20.34.1002" || !q.RunningReported || !q.PendingReset {
		t.Errorf("want burned 20.35.1012 running 20.34.1002 pending: %+v", q)
	}
	if q.PSID != "MT_0000000228" || q.BaseGUID != 0x043f720300f04c46 {
		t.Errorf("identity: %+v", q)
	}
}

func TestParseQueryImage(t *testing.T) {
	q := parseOutput(t, "mstflint_i_image_query.txt")
	if q.FWVersion != "20.36.1012" || q.PendingReset || q.PSID != "MT_0000000228" || q.ProductVersion != "rel-20_35_1012" {
		t.Errorf("image: %+v", q)
	}
	// Images carry no GUIDs: "N/A" with a count.
	if q.BaseGUID != 0 || q.BaseGUIDCount != 4 || q.BaseMAC != nil || q.BaseMACCount != 4 || q.Fields["Security Ver"] != "0" {
		t.Errorf("image GUIDs: %+v", q)
	}
}

// Hand-written in the layout of mstflint's FS2 (ConnectX-3) query format
// strings ("GUIDs:", "MACs:", "Device ID:"); not from a real device.
func TestParseQueryFS2Layout(t *testing.T) {
	out := "Image type:      FS2\nFW Version:      2.42.5000\nFW Release Date: 5.9.2017\nDevice ID:       4099\n" +
		"Description:     Node             Port1            Port2            Sys image\n" +
		"GUIDs:           e41d2d030061f5f0 e41d2d030061f5f1 e41d2d030061f5f2 e41d2d030061f5f3\n" +
		"MACs:                                 e41d2d61f5f1     e41d2d61f5f2\n" +
		"VSD:\nPSID:            MT_1090120019\n"
	q, err := ParseQuery(out)
	if err != nil {
		t.Fatal(err)
	}
	if q.DeviceID != 4099 || len(q.GUIDs) != 4 || q.BaseGUID != 0xe41d2d030061f5f0 || len(q.MACs) != 2 ||
		q.BaseMAC.String() != "e4:1d:2d:61:f5:f1" || q.PSID != "MT_1090120019" || q.FWVersion != "2.42.5000" {
		t.Errorf("FS2: %+v", q)
	}
}

func TestParseQueryErrors(t *testing.T) {
	good := readOutput(t, "mstflint_q_fw20_ConnectX6_MT_0000000228.txt")
	cases := map[string]string{
		// Printed by Debian's mstflint 4.21 on a machine without the device.
		"tool error":      "-E- Cannot open Device: 0000:00:00.0. Operation not supported. MFE_CR_ERROR\n",
		"empty":           "",
		"no FW Version":   strings.Replace(good, "FW Version:", "FW Versio:", 1),
		"duplicate key":   good + "FW Version:            20.36.1012\n",
		"bad version":     strings.Replace(good, "20.35.1012\nFW Release", "20.35 1012\nFW Release", 1),
		"bad running":     strings.Replace(good, "FW Release Date", "FW Version(Running):   ;rm -rf\nFW Release Date", 1),
		"bad PSID":        strings.Replace(good, "MT_0000000228", "MT 0000000228", 1),
		"bad GUID":        strings.Replace(good, "043f720300f04c46", "043f720300f04c4", 1),
		"bad MAC":         strings.Replace(good, "043f72f04c46", "043f72f04c4z", 1),
		"bad GUID count":  strings.Replace(good, "043f720300f04c46        8", "043f720300f04c46        x", 1),
		"bad device id":   good + "Device ID:             -1\n",
		"control chars":   good + "Image VSD2:   \x1b[31m\n",
		"invalid utf8":    good + "X: \xff\n",
		"error mid-way":   good + "-E- Failed to read from flash\n",
		"oversize output": strings.Repeat("x", maxQueryOutput+1),
	}
	for name, out := range cases {
		if q, err := ParseQuery(out); err == nil {
			t.Errorf("%s: parsed as %+v, want error", name, q)
		}
	}
	// Warnings and unknown lines are kept, not fatal.
	q, err := ParseQuery("-W- Firmware flash cache access is enabled.\nImage A is running\n" + good)
	if err != nil || len(q.Messages) != 2 {
		t.Errorf("messages: %v %q", err, q.Messages)
	}
}

func TestSameVersion(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"20.35.1012", "20.35.1012", true},
		{"16.28.0224", "16.28.224", true},
		{" 2.31.5050\n", "2.31.5050", true},
		{"20.35.1012", "20.34.1002", false},
		{"20.35", "20.35.0", false},
		{"rel-20_35_1012", "rel-20_35_1012", true},
		{"rel-20_35_1012", "20.35.1012", false},
		{"", "", false},
		{"1.0", "", false},
	} {
		if got := SameVersion(c.a, c.b); got != c.want {
			t.Errorf("SameVersion(%q, %q) = %v", c.a, c.b, got)
		}
	}
}
