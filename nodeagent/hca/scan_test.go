package hca

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeTree creates files (path -> content) under a temp root's class dir.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range files {
		full := filepath.Join(root, ClassDir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// fileErrors returns the paths (relative to the class dir) of every
// *FileError joined in err.
func fileErrors(t *testing.T, root string, err error) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		var fe *FileError
		if !errors.As(e, &fe) {
			t.Errorf("error is not a *FileError: %v", e)
			return
		}
		rel, _ := filepath.Rel(filepath.Join(root, ClassDir), fe.Path)
		out[filepath.ToSlash(rel)] = fe.Error()
	}
	if err != nil {
		walk(err)
	}
	return out
}

// A real-host style tree with every optional file, all well formed.
func TestScanFullTree(t *testing.T) {
	root := writeTree(t, map[string]string{
		"mlx5_0/fw_ver":                              "20.35.1012\n",
		"mlx5_0/board_id":                            "MT_0000000228\n",
		"mlx5_0/hca_type":                            "MT4123\n",
		"mlx5_0/node_guid":                           "043f:7203:00f0:4c46\n",
		"mlx5_0/sys_image_guid":                      "043f:7203:00f0:4c46\n",
		"mlx5_0/node_type":                           "1: CA\n",
		"mlx5_0/node_desc":                           "cn001 mlx5_0\n",
		"mlx5_0/ports/1/state":                       "1: DOWN\n",
		"mlx5_0/ports/1/phys_state":                  "2: Polling\n",
		"mlx5_0/ports/1/rate":                        "10 Gb/sec (4X SDR)\n",
		"mlx5_0/ports/1/link_layer":                  "InfiniBand\n",
		"mlx5_0/ports/1/lid":                         "0x1a\n",
		"mlx5_0/ports/1/sm_lid":                      "0x1\n",
		"mlx5_0/ports/1/lid_mask_count":              "0\n",
		"mlx5_0/ports/1/gids/0":                      "fe80:0000:0000:0000:043f:7203:00f0:4c46\n",
		"mlx5_0/ports/1/counters/symbol_error":       "7\n",
		"mlx5_0/ports/1/hw_counters/out_of_sequence": "2\n",
	})
	s := NewScanner(root)
	var located []string
	s.Locate = func(dev string) (Location, error) {
		located = append(located, dev)
		return Location{PCIAddress: "0000:3b:00.0", Netdevs: []string{"ib0"}}, nil
	}
	devs, err := s.Inventory()
	if err != nil || len(devs) != 1 {
		t.Fatalf("Inventory: %v %v", devs, err)
	}
	d := devs[0]
	if d.NodeGUID != 0x043f720300f04c46 || d.SysImageGUID != d.NodeGUID || d.NodeType != (State{1, "CA"}) || d.NodeDesc != "cn001 mlx5_0" {
		t.Errorf("device identity: %+v", d)
	}
	if d.PCIAddress != "0000:3b:00.0" || len(d.Netdevs) != 1 || len(located) != 1 || located[0] != "mlx5_0" {
		t.Errorf("location: %q %v (located %v)", d.PCIAddress, d.Netdevs, located)
	}
	p := d.Ports[0]
	if p.GUID != 0x043f720300f04c46 || p.GID.Prefix() != 0xfe80000000000000 || p.LID != 26 || p.SMLID != 1 || p.LMC != 0 {
		t.Errorf("port addressing: %+v", p)
	}
	if p.Active() || p.LinkUp() || p.Counters["symbol_error"] != 7 || p.HWCounters["out_of_sequence"] != 2 {
		t.Errorf("port state/counters: %+v", p)
	}

	s.NoCounters = true
	if d, err := s.Device("mlx5_0"); err != nil || d.Ports[0].Counters != nil || d.Ports[0].HWCounters != nil {
		t.Errorf("NoCounters: %+v %v", d.Ports[0], err)
	}
}

// Malformed values become *FileErrors naming the file; everything else on
// the device is still returned.
func TestScanMalformedFiles(t *testing.T) {
	root := writeTree(t, map[string]string{
		"mlx5_0/fw_ver":                        "20.35.1012\n",
		"mlx5_0/board_id":                      "MT_\x00228\n",
		"mlx5_0/node_guid":                     "not-a-guid\n",
		"mlx5_0/ports/1/state":                 "ACTIVE\n",
		"mlx5_0/ports/1/phys_state":            "5: LinkUp\n",
		"mlx5_0/ports/1/rate":                  "fast\n",
		"mlx5_0/ports/1/lid":                   "26\n",
		"mlx5_0/ports/1/lid_mask_count":        "9\n",
		"mlx5_0/ports/1/gids/0":                "fe80::1%ib0\n",
		"mlx5_0/ports/1/counters/symbol_error": "12abc\n",
		"mlx5_0/ports/1/counters/link_downed":  "3\n",
		"mlx5_0/ports/x/state":                 "4: ACTIVE\n",
		"mlx5_0/ports/2/rate":                  strings.Repeat("9", maxAttrSize+1),
		"mlx5_1/fw_ver":                        "16.28.2006\n",
	})
	devs, err := Inventory(root)
	if err == nil {
		t.Fatal("want errors for malformed files")
	}
	if len(devs) != 2 || devs[0].Name != "mlx5_0" || devs[1].Name != "mlx5_1" || devs[1].FWVersion != "16.28.2006" {
		t.Fatalf("devices not returned next to errors: %+v", devs)
	}
	got := fileErrors(t, root, err)
	for _, bad := range []string{"mlx5_0/board_id", "mlx5_0/node_guid", "mlx5_0/ports/1/state", "mlx5_0/ports/1/rate",
		"mlx5_0/ports/1/lid", "mlx5_0/ports/1/lid_mask_count", "mlx5_0/ports/1/gids/0",
		"mlx5_0/ports/1/counters/symbol_error", "mlx5_0/ports/x", "mlx5_0/ports/2/rate"} {
		msg, ok := got[bad]
		if !ok {
			t.Errorf("no error for %s", bad)
			continue
		}
		if !strings.Contains(msg, filepath.Join(ClassDir, filepath.FromSlash(bad))) {
			t.Errorf("error for %s does not name the file: %s", bad, msg)
		}
		delete(got, bad)
	}
	for path, msg := range got {
		t.Errorf("unexpected error for %s: %s", path, msg)
	}
	d := devs[0]
	if d.FWVersion != "20.35.1012" || d.BoardID != "" || d.NodeGUID != 0 {
		t.Errorf("good fields lost or bad ones kept: %+v", d)
	}
	p := d.Ports[0]
	if p.State.Known() || p.PhysState != (State{5, "LinkUp"}) || p.Rate.Known() || p.Counters["link_downed"] != 3 {
		t.Errorf("port 1: %+v", p)
	}
	if _, ok := p.Counters["symbol_error"]; ok {
		t.Error("malformed counter kept")
	}
}

func TestScanMissingAndInvalid(t *testing.T) {
	empty := t.TempDir()
	if devs, err := Inventory(empty); devs != nil || err != nil {
		t.Errorf("no class dir: %v %v, want nothing", devs, err)
	}
	root := writeTree(t, map[string]string{"mlx5_0/fw_ver": "1.2.3\n", "stray": "x"})
	devs, err := Inventory(root)
	if len(devs) != 1 || devs[0].Ports != nil {
		t.Errorf("devs %+v", devs)
	}
	if _, ok := fileErrors(t, root, err)["stray"]; !ok {
		t.Errorf("stray file in class dir not reported: %v", err)
	}
	s := NewScanner(root)
	for _, name := range []string{"", ".", "..", "../x", "a/b"} {
		if _, err := s.Device(name); err == nil {
			t.Errorf("Device(%q): want error", name)
		}
	}
	if _, err := s.Device("mlx5_9"); err == nil || !strings.Contains(err.Error(), "mlx5_9") {
		t.Errorf("missing device: %v", err)
	}
	s.Locate = func(string) (Location, error) { return Location{}, errors.New("boom") }
	if d, err := s.Device("mlx5_0"); err == nil || d.FWVersion != "1.2.3" || !strings.Contains(err.Error(), "locate mlx5_0: boom") {
		t.Errorf("locate failure: %+v %v", d, err)
	}
}

func TestHostRoot(t *testing.T) {
	for root, want := range map[string]bool{"/": true, "": true, "//": true, "/sys/..": true, "/tmp": false, "testdata": false} {
		if IsHostRoot(root) != want {
			t.Errorf("IsHostRoot(%q) = %v", root, !want)
		}
		if (NewScanner(root).Locate != nil) != want {
			t.Errorf("NewScanner(%q).Locate set = %v", root, !want)
		}
	}
	// HostLocate must never panic or fail hard, whatever this machine has.
	loc, err := HostLocate("mlx5_0")
	t.Logf("HostLocate on this machine: %+v %v", loc, err)
	if _, statErr := os.Stat("/sys/class/infiniband"); os.IsNotExist(statErr) {
		if loc.PCIAddress != "" || loc.Netdevs != nil {
			t.Errorf("no RDMA on this host, yet HostLocate found %+v", loc)
		}
		if devs, err := Inventory("/"); devs != nil || err != nil {
			t.Errorf("Inventory(/) on a host without RDMA: %v %v", devs, err)
		}
	}
}
