package topotree

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/fabric/ibnet"
	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/scheduler"
)

func TestFromFatTree(t *testing.T) {
	tr, err := FromFatTree(topology.DefaultFatTree)
	if err != nil {
		t.Fatal(err)
	}
	if tr.NumHosts() != 32 || tr.NumLeaves() != 4 || tr.Levels() != 2 || tr.MaxLeafSize() != 8 {
		t.Fatalf("hosts %d leaves %d levels %d", tr.NumHosts(), tr.NumLeaves(), tr.Levels())
	}
	if l, _ := tr.Leaf("node009"); tr.LeafName(l) != "leaf02" {
		t.Fatalf("node009 on %s", tr.LeafName(l))
	}
	if _, err := FromFatTree(topology.FatTree{}); err == nil {
		t.Fatal("invalid fat tree accepted")
	}
}

// TestFromGeneratedFabric: a three-level fabric with rail-optimised GPU
// pods, SHARP nodes and a failed cable. Pods become level 2, the fabric
// level 3; each pod's GPU hosts form one rail group of 8 leaves.
func TestFromGeneratedFabric(t *testing.T) {
	cfg := ibnet.FatTreeConfig{Pods: 3, LeavesPerPod: 8, SpinesPerPod: 4, Cores: 4, HostsPerLeaf: 4,
		RailHostsPerPod: 2, Rails: 8, SHARP: true, DownLinks: 1, SwitchPorts: 40}
	var buf bytes.Buffer
	if err := ibnet.GenerateFatTree(&buf, cfg); err != nil {
		t.Fatal(err)
	}
	f, err := ibnet.Parse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := FromFabric(f, func(h string) []string {
		if strings.HasPrefix(h, "gpu") {
			return []string{"gpu"}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if tr.NumHosts() != 3*8*4+3*2 || tr.Levels() != 3 || tr.NumLeaves() != 3*8+3 {
		t.Fatalf("hosts %d levels %d leaf groups %d", tr.NumHosts(), tr.Levels(), tr.NumLeaves())
	}
	g, _ := tr.Leaf("gpu0001")
	if tr.Rails(g) != 8 || tr.LeafSize(g) != 2 || !strings.HasPrefix(tr.LeafName(g), "rails:p01-leaf01+") {
		t.Fatalf("gpu0001 in %s, %d rails, %d hosts", tr.LeafName(g), tr.Rails(g), tr.LeafSize(g))
	}
	if !slices.Equal(tr.Features("gpu0003"), []string{"gpu"}) {
		t.Fatalf("features = %v", tr.Features("gpu0003"))
	}
	// A 16-node job fits in one pod (4 leaves of 4): Schedule must keep it
	// there, and 4 GPU nodes need two rail groups.
	s := snapshotAllFree(tr)
	s.Pending = pending(1, 16)
	p := scheduler.Schedule(s, scheduler.IbexPolicy(), now)
	if len(p.Start) != 1 || tr.LeavesSpanned(p.Start[0].Nodes) != 4 || !samePod(p.Start[0].Nodes) {
		t.Fatalf("16 nodes: %v", p.Start)
	}
}

// TestFromRealFabric: the PSMN X5 dump (see testdata/ib-topology): every
// host placed, one leaf group per leaf switch, levels from the cabling.
func TestFromRealFabric(t *testing.T) {
	fh, err := os.Open("../../testdata/ib-topology/psmn-x5/X5.topofile")
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	f, err := ibnet.Parse(fh)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := FromFabric(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tr.NumHosts() != len(f.Hosts()) || tr.NumLeaves() != len(f.Leaves()) || len(tr.Unplaced()) != 0 {
		t.Fatalf("hosts %d/%d, leaf groups %d/%d, unplaced %v", tr.NumHosts(), len(f.Hosts()), tr.NumLeaves(), len(f.Leaves()), tr.Unplaced())
	}
	for _, leaf := range f.Leaves() {
		for _, h := range f.LeafHosts(leaf) {
			if l, ok := tr.Leaf(h.Name); !ok || tr.LeafName(l) != leaf.Name {
				t.Fatalf("host %s: tree leaf %v, fabric leaf %s", h.Name, tr.LeafName(l), leaf.Name)
			}
		}
	}
	if tr.Levels() < 2 {
		t.Fatalf("levels = %d", tr.Levels())
	}
}
