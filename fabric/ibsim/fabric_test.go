package ibsim

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestTopologyDeterministic(t *testing.T) {
	top := Topology{Spines: 2, Leaves: 4, HostsPerLeaf: 8}
	if err := top.Validate(); err != nil {
		t.Fatal(err)
	}
	hs := top.Hosts()
	if len(hs) != 32 || hs[0].Name != "node001" || hs[31].Name != "node032" {
		t.Fatalf("hosts: %d first %q last %q", len(hs), hs[0].Name, hs[31].Name)
	}
	if hs[0].PortGUID != 0x0002c90300000011 || HostPortGUID(32) != hs[31].PortGUID {
		t.Fatalf("guids: %#x %#x", hs[0].PortGUID, hs[31].PortGUID)
	}
	a, b := top.NetFile(), top.NetFile()
	if string(a) != string(b) {
		t.Fatal("net file not deterministic")
	}
	for _, want := range []string{`Hca	1 "node001"	# "node001 HCA-1"`, `Hca	1 "sm01"`, `Switch	11 "L01"`, `Switch	4 "S02"`} {
		if !strings.Contains(string(a), want) {
			t.Errorf("net file lacks %q", want)
		}
	}
	if Topology(Topology{Leaves: 2}).Validate() == nil {
		t.Error("two leaves without spines accepted")
	}
	big := Topology{Spines: 18, Leaves: 36, HostsPerLeaf: 18}
	if big.Hosts()[647].Name != "node648" || len(big.simLimits()) != 0 {
		t.Errorf("648: %s %v", big.Hosts()[647].Name, big.simLimits())
	}
}

func TestAvailableNamesWhatIsMissing(t *testing.T) {
	saved := tools
	defer func() { tools = saved }()
	tools = append(tools, tool{"ibex-no-such-tool", "ibex-test-pkg"})
	err := Available()
	if err == nil || !strings.Contains(err.Error(), "ibex-no-such-tool") || !strings.Contains(err.Error(), "apt-get install") {
		t.Fatalf("Available: %v", err)
	}
	t.Log(err)
}

func TestSetOptions(t *testing.T) {
	in := []byte("# c\nlog_file /var/log/opensm.log\nforce_log_flush FALSE\n")
	out, err := setOptions(in, map[string]string{"log_file": "/x", "force_log_flush": "TRUE"})
	if err != nil || string(out) != "# c\nlog_file /x\nforce_log_flush TRUE\n" {
		t.Fatalf("%q %v", out, err)
	}
	if _, err := setOptions(in, map[string]string{"nope": "1"}); err == nil {
		t.Fatal("missing key accepted")
	}
}

// TestFabric starts a real 2x4x8 fabric and checks discovery, the
// direct SMP reader against smpquery, the console, and SM restart.
func TestFabric(t *testing.T) {
	f := StartForTest(t, Config{Topology: Topology{Spines: 2, Leaves: 4, HostsPerLeaf: 8}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	out, err := f.Run(ctx, "ibnetdiscover", "-p")
	if err != nil {
		t.Fatal(err)
	}
	cas := 0
	lid := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		fs := strings.Fields(l)
		if len(fs) > 4 && fs[0] == "CA" {
			cas++
			lid[fs[3]] = fs[1]
		}
	}
	if cas != 33 {
		t.Fatalf("ibnetdiscover saw %d CA ports, want 33:\n%s", cas, out)
	}
	if !strings.Contains(string(out), "'node001 HCA-1'") || lid["0x0002c90300000011"] == "" {
		t.Errorf("node001 not described as \"node001 HCA-1\" with GUID 0x0002c90300000011:\n%s", out)
	}

	guids := []uint64{f.Hosts()[0].PortGUID, f.Hosts()[31].PortGUID, f.Topology.SMHost().PortGUID}
	tabs, err := f.PKeyTables(ctx, guids)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range guids {
		sq, err := f.Run(ctx, "smpquery", "pkeys", lid[fmt.Sprintf("0x%016x", g)], "1")
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, l := range strings.Split(string(sq), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) != "" && !strings.Contains(k, "#") {
				for _, x := range strings.Fields(v) {
					if x != "0x0000" {
						want = append(want, x)
					}
				}
			}
		}
		var got []string
		for _, v := range tabs[g] {
			if v != 0 {
				got = append(got, fmt.Sprintf("0x%04x", v))
			}
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) || len(got) == 0 || len(tabs[g]) != 64 {
			t.Errorf("port %#x: direct %v (len %d), smpquery %v", g, got, len(tabs[g]), want)
		}
	}

	// Console: unlink a host; its port becomes unreachable, then back.
	victim := f.Hosts()[5]
	if _, err := f.Console(fmt.Sprintf("Unlink %q", victim.Name)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.PKeyTables(ctx, []uint64{victim.PortGUID}); err == nil {
		t.Error("unlinked port still readable")
	}
	if _, err := f.Console(fmt.Sprintf("ReLink %q", victim.Name)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.PKeyTables(ctx, []uint64{victim.PortGUID}); err != nil {
		t.Errorf("relinked port: %v", err)
	}
	att, err := f.Console("Attached")
	if err != nil || !strings.Contains(att, "SM") {
		t.Errorf("Attached: %q %v", att, err)
	}

	// A hung tool is killed after ToolTimeout instead of blocking forever.
	f.ToolTimeout = 200 * time.Millisecond
	if _, err := f.Run(ctx, "sleep", "10"); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("hung tool: %v", err)
	}
	f.ToolTimeout = 0

	pid := f.SMPID()
	if err := f.RestartSM(ctx); err != nil {
		t.Fatal(err)
	}
	if f.SMPID() == pid || f.SMPID() == 0 {
		t.Errorf("opensm pid %d -> %d", pid, f.SMPID())
	}
	if m, _ := filepath.Glob(filepath.Join(f.Dir, "sys-*")); len(m) != 0 {
		t.Errorf("umad2sim sysfs trees outside scratch: %v", m)
	}
	if _, err := os.Stat(f.ScratchDir()); err != nil {
		t.Error(err)
	}
}
