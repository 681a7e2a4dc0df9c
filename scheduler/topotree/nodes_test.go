package topotree

import (
	"os"
	"slices"
	"testing"

	"github.com/ibex-hpc/ibex/fabric/ibnet"
	"github.com/ibex-hpc/ibex/scheduler"
)

// TestFromFabricNodes: on the two-leaf ibtopotool sample, nodes take the
// places of the hosts they were matched to (under their own names), hosts
// without a node are left out, and every unplaced node is a leaf of its
// own, so a two-node job on unplaced nodes spans two leaves.
func TestFromFabricNodes(t *testing.T) {
	fh, err := os.Open("../../testdata/ib-topology/ibtopotool-doc-samples/1.topo")
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	f, err := ibnet.Parse(fh)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := FromFabricNodes(f, Nodes{
		OnHost:   map[string]string{"H-0008f10403960558": "alpha", "H-0008f10403961354": "beta", "H-0008f10403960984": "gamma"},
		Alone:    []string{"lost1", "lost2"},
		Features: func(n string) []string { return map[string][]string{"alpha": {"gpu"}}[n] },
	})
	if err != nil {
		t.Fatal(err)
	}
	hosts := tr.Hosts()
	slices.Sort(hosts)
	if want := []string{"alpha", "beta", "gamma", "lost1", "lost2"}; !slices.Equal(hosts, want) {
		t.Fatalf("tree hosts %v, want %v", hosts, want)
	}
	leafOf := func(n string) string {
		l, ok := tr.Leaf(n)
		if !ok {
			t.Fatalf("%s not in the tree", n)
		}
		return tr.LeafName(l)
	}
	if a, b, g := leafOf("alpha"), leafOf("beta"), leafOf("gamma"); a != "S-005442ba00003080" || b != a || g != "S-0008f10400410015" {
		t.Fatalf("leaves: alpha %s, beta %s, gamma %s", a, b, g)
	}
	if l1, l2 := leafOf("lost1"), leafOf("lost2"); l1 != "unplaced:lost1" || l2 != "unplaced:lost2" {
		t.Fatalf("unplaced leaves: %s, %s", l1, l2)
	}
	if fs := tr.Features("alpha"); !slices.Equal(fs, []string{"gpu"}) {
		t.Fatalf("alpha's features %v", fs)
	}
	if n := tr.LeavesSpanned([]string{"lost1", "lost2"}); n != 2 {
		t.Fatalf("two unplaced nodes span %d leaves, want 2", n)
	}
	// The scheduler puts a two-node job on the leaf that holds two nodes.
	snap := snapshotAllFree(tr)
	snap.Pending = pending(1, 2)
	plan := scheduler.Schedule(snap, scheduler.IbexPolicy(), now)
	if len(plan.Start) != 1 || tr.LeavesSpanned(plan.Start[0].Nodes) != 1 {
		t.Fatalf("plan %+v", plan.Start)
	}

	// Without a topology every node is alone.
	tr, err = FromFabricNodes(nil, Nodes{Alone: []string{"n1", "n2", "n3"}})
	if err != nil || tr.NumHosts() != 3 || tr.NumLeaves() != 3 {
		t.Fatalf("alone-only tree: %v, %d hosts, %d leaves", err, tr.NumHosts(), tr.NumLeaves())
	}
	if _, err := FromFabricNodes(f, Nodes{}); err == nil {
		t.Fatal("a tree with no nodes built without error")
	}
}
