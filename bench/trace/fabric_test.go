package trace

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/fabric/ibnet"
	"github.com/ibex-hpc/ibex/scheduler"
)

// TestReplayOnARealFabric replays Lublin on PSMN's X5 dump: 89 hosts on
// leaves of mixed sizes. The cluster is the fabric's hosts, jobs larger
// than it are dropped as too large, and the lower bound uses the real
// leaf sizes (a 24-node job fits one leaf there, not two of 16).
func TestReplayOnARealFabric(t *testing.T) {
	f, err := LoadFabric("../../testdata/ib-topology/psmn-x5/X5.topofile")
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Tree.NumHosts(); got != 89 {
		t.Fatalf("X5 has 89 hosts, the tree %d", got)
	}
	rep, err := Run(parseFile(t, "lublin_256.swf"), Options{Fabric: f, Policies: policies(t, "easy", "ibex")})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Nodes != 89 || rep.Fabric == "" || rep.Leaves != f.Tree.NumLeaves() || rep.LeafSize != f.Tree.MaxLeafSize() {
		t.Fatalf("report does not describe the fabric: %+v", rep)
	}
	if rep.Skipped.TooLarge == 0 {
		t.Fatal("Lublin_256 has jobs above 89 nodes; none were dropped as too large")
	}
	for _, m := range rep.Results {
		if m.Jobs != rep.Jobs || m.Utilization <= 0 || m.Utilization > 1 {
			t.Fatalf("%s: %+v", m.Policy, m)
		}
	}
	var buf bytes.Buffer
	if err := WriteTable(&buf, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "89 compute hosts") {
		t.Fatalf("table does not name the fabric:\n%s", buf.String())
	}
}

// TestFabricLeavesOutInfrastructure: on a rail-optimised fabric the
// single-HCA hosts are login and storage machines; a replay must not
// schedule on them, as an import would not.
func TestFabricLeavesOutInfrastructure(t *testing.T) {
	var dump bytes.Buffer
	err := ibnet.GenerateFatTree(&dump, ibnet.FatTreeConfig{Pods: 1, LeavesPerPod: 4, SpinesPerPod: 2,
		HostsPerLeaf: 1, RailHostsPerPod: 6, Rails: 4})
	if err != nil {
		t.Fatal(err)
	}
	f, err := ParseFabric(&dump)
	if err != nil {
		t.Fatal(err)
	}
	if f.Tree.NumHosts() != 6 || f.Infra != 4 {
		t.Fatalf("want 6 GPU hosts scheduled and 4 single-HCA hosts left out, got %d and %d", f.Tree.NumHosts(), f.Infra)
	}
	for _, h := range f.Tree.Hosts() {
		if !strings.HasPrefix(h, "gpu") {
			t.Fatalf("infrastructure host %s is in the replay tree", h)
		}
	}
}

func TestFabricRefusesSyntheticShape(t *testing.T) {
	f, err := LoadFabric("../../testdata/ib-topology/psmn-x5/X5.topofile")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(parseFile(t, "lublin_256.swf"), Options{Fabric: f, LeafSize: 16, Policies: policies(t, "easy")})
	if err == nil || !strings.Contains(err.Error(), "--leaf-size") {
		t.Fatalf("a leaf size with a fabric: %v", err)
	}
	if _, err := ParseFabric(strings.NewReader("# nothing here\n")); err == nil {
		t.Fatal("a dump without hosts was accepted")
	}
}

// FuzzParseFabric: any dump either fails or gives a tree of only compute
// hosts that a replay can place on.
func FuzzParseFabric(f *testing.F) {
	var dump bytes.Buffer
	_ = ibnet.GenerateFatTree(&dump, ibnet.FatTreeConfig{Pods: 1, LeavesPerPod: 2, SpinesPerPod: 1, HostsPerLeaf: 2})
	f.Add(dump.Bytes())
	f.Add([]byte("Switch 4 \"S-1\" # \"leaf\"\n[1] \"H-2\"[1] # \"h\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fab, err := ParseFabric(bytes.NewReader(data))
		if err != nil {
			return
		}
		if fab.Tree.NumHosts() < 1 || fab.Tree.NumLeaves() < 1 || fab.Infra < 0 {
			t.Fatalf("tree %d hosts %d leaves, %d infra", fab.Tree.NumHosts(), fab.Tree.NumLeaves(), fab.Infra)
		}
	})
}

func policies(t *testing.T, names ...string) []scheduler.Policy {
	t.Helper()
	var out []scheduler.Policy
	for _, n := range names {
		p, err := scheduler.PolicyByName(n)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}
