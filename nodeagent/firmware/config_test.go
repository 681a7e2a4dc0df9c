package firmware

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// The mstconfig fixture is written in the layout mstconfig 4.x prints for
// `-e query` (no ConnectX adapter on the build machine to capture one).
func TestParseConfigQuery(t *testing.T) {
	got, err := ParseConfigQuery(readOutput(t, "mstconfig_e_query_sriov.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Setting{
		"SRIOV_EN":              {Default: "False(0)", Current: "True(1)", Next: "True(1)"},
		"NUM_OF_VFS":            {Default: "0", Current: "8", Next: "8"},
		"LINK_TYPE_P1":          {Default: "IB(1)", Current: "IB(1)", Next: "IB(1)"},
		"ADVANCED_PCI_SETTINGS": {Default: "False(0)", Current: "False(0)", Next: "True(1)"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %+v, want %+v", k, got[k], w)
		}
	}
	for name, out := range map[string]string{
		"no section":   "Device #1:\n",
		"no -e":        "Configurations:                Next Boot\n SRIOV_EN  True(1)\n",
		"short line":   "Configurations:   Default  Current  Next Boot\n SRIOV_EN False(0) True(1)\n",
		"tool error":   "-E- Failed to open device: mlx5_9\n",
		"twice":        "Configurations:   Default  Current  Next Boot\n A 0 0 0\n A 0 0 0\n",
		"control char": "Configurations:   Default  Current  Next Boot\n A 0 \x1b 0\n",
	} {
		if _, err := ParseConfigQuery(out); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestMstconfigCommandLines(t *testing.T) {
	rec := &recorder{out: readOutput(t, "mstconfig_e_query_sriov.txt")}
	m := &Mstflint{Run: rec.run}
	ctx := context.Background()
	if _, err := m.QueryConfig(ctx, "mlx5_0", []string{"SRIOV_EN", "NUM_OF_VFS"}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.QueryConfig(ctx, "mlx5_0", []string{"NOT_PRINTED"}); err == nil {
		t.Error("a parameter the tool did not report counted as read")
	}
	rec.out = "Applying... Done!\n-I- Please reboot machine to load new configurations.\n"
	if err := m.SetConfig(ctx, "mlx5_0", map[string]string{"SRIOV_EN": "1", "NUM_OF_VFS": "8"}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"mstconfig -d mlx5_0 -e query SRIOV_EN NUM_OF_VFS",
		"mstconfig -d mlx5_0 -e query NOT_PRINTED",
		"mstconfig -d mlx5_0 -y set NUM_OF_VFS=8 SRIOV_EN=1",
	}
	for i, w := range want {
		if i >= len(rec.calls) || strings.Join(rec.calls[i], " ") != w {
			t.Errorf("call %d: got %q, want %q", i, rec.calls, w)
		}
	}
	for _, kv := range []map[string]string{{"-y": "1"}, {"A": "1 B=2"}, {"A=B": "1"}, {"A": ""}} {
		if err := m.SetConfig(ctx, "mlx5_0", kv); err == nil {
			t.Errorf("SetConfig(%v) accepted", kv)
		}
	}
	if len(rec.calls) != 3 {
		t.Errorf("invalid settings reached the tool: %q", rec.calls[3:])
	}
	rec.out, rec.err = "-E- Unknown Parameter: FOO\n", errors.New("exit status 1")
	if err := m.SetConfig(ctx, "mlx5_0", map[string]string{"FOO": "1"}); err == nil || !strings.Contains(err.Error(), "Unknown Parameter") {
		t.Errorf("tool error: %v", err)
	}
}

// TestFakeSettingsNeedAReset: a set changes the next boot only; Reset
// activates it, like the adapter.
func TestFakeSettingsNeedAReset(t *testing.T) {
	f := NewFake()
	f.AddDevice("mlx5_0", FakeDevice{PSID: "MT_1", Burned: "1.0", Running: "1.0", Config: map[string]Setting{"SRIOV_EN": {Default: "0", Current: "0", Next: "0"}}})
	ctx := context.Background()
	if err := f.SetConfig(ctx, "mlx5_0", map[string]string{"SRIOV_EN": "1"}); err != nil {
		t.Fatal(err)
	}
	if s, _ := f.QueryConfig(ctx, "mlx5_0", []string{"SRIOV_EN"}); s["SRIOV_EN"].Current != "0" || s["SRIOV_EN"].Next != "1" {
		t.Fatalf("before reset: %+v", s)
	}
	if err := f.Reset(ctx, "mlx5_0"); err != nil {
		t.Fatal(err)
	}
	if s, _ := f.QueryConfig(ctx, "mlx5_0", []string{"SRIOV_EN"}); s["SRIOV_EN"].Current != "1" {
		t.Fatalf("after reset: %+v", s)
	}
	if _, err := f.QueryConfig(ctx, "mlx5_0", []string{"NOPE"}); err == nil {
		t.Fatal("an unknown parameter was read")
	}
	if err := f.SetConfig(ctx, "mlx5_0", map[string]string{"NOPE": "1"}); err == nil {
		t.Fatal("an unknown parameter was set")
	}
}

func FuzzParseConfigQuery(f *testing.F) {
	f.Add(readOutput(f, "mstconfig_e_query_sriov.txt"))
	f.Add("Configurations:   Default  Current  Next Boot\n* A 0 1 1\n")
	f.Fuzz(func(t *testing.T, out string) {
		got, err := ParseConfigQuery(out)
		if err != nil {
			return
		}
		for k, s := range got {
			for _, v := range []string{k, s.Default, s.Current, s.Next} {
				if v == "" || strings.ContainsAny(v, " \t\r\n") {
					t.Fatalf("accepted %q: %q", k, v)
				}
			}
		}
	})
}
