package firmware

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/nodeagent/hca"
)

const (
	psidCX6 = "MT_0000000228"
	sha0    = "0000000000000000000000000000000000000000000000000000000000000000"
)

func mustPolicy(t *testing.T, rules ...Rule) Policy {
	t.Helper()
	p, err := NewPolicy(rules...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPolicyValidation(t *testing.T) {
	ok := Rule{PSID: psidCX6, Version: "20.35.1012", SHA256: strings.ToUpper(sha0[:63]) + "A", Image: "cx6.bin"}
	p := mustPolicy(t, ok)
	if r, found := p.Rule(psidCX6); !found || r.SHA256 != sha0[:63]+"a" {
		t.Errorf("digest not normalised to lower case: %+v", r)
	}
	bad := map[string]Rule{
		"empty PSID":    {Version: "1.0", SHA256: sha0, Image: "x"},
		"PSID spaces":   {PSID: "MT 1", Version: "1.0", SHA256: sha0, Image: "x"},
		"no version":    {PSID: psidCX6, SHA256: sha0, Image: "x"},
		"short digest":  {PSID: psidCX6, Version: "1.0", SHA256: sha0[:40], Image: "x"},
		"non-hex":       {PSID: psidCX6, Version: "1.0", SHA256: strings.Repeat("g", 64), Image: "x"},
		"no image":      {PSID: psidCX6, Version: "1.0", SHA256: sha0},
		"newline image": {PSID: psidCX6, Version: "1.0", SHA256: sha0, Image: "a\nb"},
	}
	for name, r := range bad {
		if _, err := NewPolicy(r); err == nil {
			t.Errorf("%s: accepted %+v", name, r)
		}
	}
	if _, err := NewPolicy(ok, ok); err == nil {
		t.Error("duplicate PSID accepted")
	}

	js := `{"rules":[{"psid":"MT_0000000228","version":"20.35.1012","sha256":"` + sha0 + `","image":"cx6.bin"},
	                 {"psid":"MT_0000000008","version":"16.35.2000","sha256":"` + sha0 + `","image":"cx5.bin"}]}`
	p, err := ParsePolicy([]byte(js))
	if err != nil || len(p.Rules()) != 2 || p.Rules()[0].PSID != "MT_0000000008" {
		t.Fatalf("ParsePolicy: %v %+v", err, p.Rules())
	}
	for _, bad := range []string{`{"rules":[{"psid":"MT_1","version":"1","sha":"x","image":"y"}]}`, `{"rules":[]} {}`, `[`} {
		if _, err := ParsePolicy([]byte(bad)); err == nil {
			t.Errorf("ParsePolicy(%s): want error", bad)
		}
	}
}

func TestCheckQueries(t *testing.T) {
	p := mustPolicy(t, Rule{PSID: psidCX6, Version: "20.35.1012", SHA256: sha0, Image: "cx6.bin"})
	good := parseOutput(t, "mstflint_q_fw20_ConnectX6_MT_0000000228.txt")
	pending := parseOutput(t, "mstflint_q_running_fw_pending_reset.txt")

	if r := Check(ObservedFromQuery("mlx5_0", good), p); !r.Compliant() || len(r.Reasons) != 0 || len(r.Notes) != 0 || r.Pinned != "20.35.1012" {
		t.Errorf("pinned device: %+v", r)
	}
	r := Check(ObservedFromQuery("mlx5_0", pending), p)
	if r.Status != Drift || len(r.Reasons) != 1 || !strings.Contains(r.Reasons[0], "20.34.1002 still runs: pending firmware reset") {
		t.Errorf("pending reset toward the pin: %+v", r)
	}
	// Pinned to the version that runs now: the burned one is a time bomb.
	old := mustPolicy(t, Rule{PSID: psidCX6, Version: "20.34.1002", SHA256: sha0, Image: "old.bin"})
	r = Check(ObservedFromQuery("mlx5_0", pending), old)
	if r.Status != Drift || len(r.Reasons) != 1 || !strings.Contains(r.Reasons[0], "flash holds 20.35.1012") {
		t.Errorf("running pinned, flash not: %+v", r)
	}
	r = Check(ObservedFromQuery("mlx5_0", good), Policy{})
	if r.Status != UnknownPSID || r.Compliant() || !strings.Contains(r.Reasons[0], "MT_0000000228 has no pinned firmware") {
		t.Errorf("unknown PSID: %+v", r)
	}
	if r := Check(Observed{Device: "x", Running: "1.0"}, p); r.Status != UnknownPSID {
		t.Errorf("no PSID: %+v", r)
	}
	if r := Check(Observed{Device: "x", PSID: psidCX6}, p); r.Status != Drift {
		t.Errorf("unknown running version must not be compliant: %+v", r)
	}
	if Compliant.String() != "compliant" || Drift.String() != "drift" || UnknownPSID.String() != "unknown-psid" {
		t.Error("status names")
	}
}

// Check also works from the sysfs inventory, where only running firmware is
// visible. Uses the procfs fixture tree.
func TestCheckInventory(t *testing.T) {
	devs, err := hca.Inventory(filepath.Join("..", "..", "testdata", "ib-sysfs", "procfs"))
	if err != nil {
		t.Fatal(err)
	}
	p := mustPolicy(t,
		Rule{PSID: "SM_2001000001034", Version: "14.28.2006", SHA256: sha0, Image: "mlx5.bin"},
		Rule{PSID: "SM_1141000001000", Version: "2.42.5000", SHA256: sha0, Image: "mlx4.bin"})
	got := map[string]Result{}
	for _, d := range devs {
		got[d.Name] = Check(ObservedFromHCA(d), p)
	}
	if r := got["mlx5_0"]; !r.Compliant() || len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "flash not inspected") {
		t.Errorf("mlx5_0: %+v", r)
	}
	if r := got["mlx4_0"]; r.Status != Drift || !strings.Contains(r.Reasons[0], "running firmware 2.31.5050, pinned 2.42.5000") {
		t.Errorf("mlx4_0: %+v", r)
	}
	// hfi1's board_id is free text, not a PSID.
	if r := got["hfi1_0"]; r.Status != UnknownPSID {
		t.Errorf("hfi1_0: %+v", r)
	}
}
