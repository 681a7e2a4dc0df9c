package scheduler

import (
	"slices"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/model"
)

func TestSyntheticTreeShape(t *testing.T) {
	tr := mustTree(t, 100, 16, 3) // 7 leaves (last has 4), pods of 3 leaves
	if tr.NumHosts() != 100 || tr.NumLeaves() != 7 || tr.MaxLeafSize() != 16 || tr.Levels() != 3 {
		t.Fatalf("hosts %d leaves %d max leaf %d levels %d", tr.NumHosts(), tr.NumLeaves(), tr.MaxLeafSize(), tr.Levels())
	}
	if l, _ := tr.Leaf("node100"); tr.LeafName(l) != "leaf07" || tr.LeafSize(l) != 4 {
		t.Fatalf("node100 on %s (%d hosts)", tr.LeafName(l), tr.LeafSize(l))
	}
	if got := tr.LeavesSpanned([]string{"node001", "node016", "node017", "nope"}); got != 2 {
		t.Fatalf("spanned = %d", got)
	}
	if tr2 := mustTree(t, 32, 8, 0); tr2.Levels() != 2 || tr2.Hosts()[8] != "node009" {
		t.Fatalf("leaf/spine: levels %d, host 8 %s", tr2.Levels(), tr2.Hosts()[8])
	}
}

// TestTreeRails: hosts with an HCA on each of two leaves form one rail
// group per leaf pair, under the lowest switch above both leaves; a job
// inside one group spans one leaf per rail.
func TestTreeRails(t *testing.T) {
	b := NewTreeBuilder()
	for _, l := range []string{"leafA", "leafB"} {
		b.Switch(l, "pod1")
	}
	for _, l := range []string{"leafC", "leafD"} {
		b.Switch(l, "pod2")
	}
	b.Switch("pod1", "core")
	b.Switch("pod2", "core")
	for i, h := range []string{"gpu1", "gpu2", "gpu3", "gpu4"} {
		_ = i
		b.Host(h, []string{"leafB", "leafA"})
	}
	for _, h := range []string{"gpu5", "gpu6", "gpu7", "gpu8"} {
		b.Host(h, []string{"leafC", "leafD"})
	}
	b.Host("cpu1", []string{"leafA"})
	b.Host("cpu2", []string{"leafA"})
	b.Host("login", nil)
	tr, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	g, _ := tr.Leaf("gpu2")
	if tr.LeafName(g) != "rails:leafA+leafB" || tr.Rails(g) != 2 || tr.LeafSize(g) != 4 {
		t.Fatalf("gpu2 in %s (rails %d, size %d)", tr.LeafName(g), tr.Rails(g), tr.LeafSize(g))
	}
	if p := tr.nodes[tr.groups[g].parent].name; p != "pod1" {
		t.Fatalf("rail group under %s, want pod1", p)
	}
	if !slices.Equal(tr.Unplaced(), []string{"login"}) {
		t.Fatalf("unplaced = %v", tr.Unplaced())
	}
	o := occWith(tr, "gpu1")
	hs := o.view(nil).place(4, 1)
	if got := names(tr, hs); !slices.Equal(got, []string{"gpu5", "gpu6", "gpu7", "gpu8"}) {
		t.Fatalf("4 GPU nodes on one rail group = %v", got)
	}
}

func TestTreeBuilderErrors(t *testing.T) {
	b := NewTreeBuilder()
	b.Switch("a", "b")
	b.Switch("b", "a")
	b.Host("h", []string{"a"})
	if _, err := b.Build(); err == nil || !strings.Contains(err.Error(), "ancestor") {
		t.Fatalf("cycle: %v", err)
	}
	b = NewTreeBuilder()
	b.Host("h", []string{"l"})
	b.Host("h", []string{"l"})
	if _, err := b.Build(); err == nil {
		t.Fatal("duplicate host accepted")
	}
	if _, err := NewTreeBuilder().Build(); err == nil {
		t.Fatal("empty tree accepted")
	}
	if _, err := SyntheticTree(0, 4, 0); err == nil {
		t.Fatal("zero hosts accepted")
	}
}

// TestTreeDisconnected: two top-level switches that nothing joins are
// never spanned by one job.
func TestTreeDisconnected(t *testing.T) {
	b := NewTreeBuilder()
	b.Switch("l1", "islandA")
	b.Switch("l2", "islandB")
	b.Host("a1", []string{"l1"})
	b.Host("a2", []string{"l1"})
	b.Host("b1", []string{"l2"})
	tr, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if hs := occWith(tr).view(nil).place(3, 0); hs != nil {
		t.Fatalf("placed across disconnected islands: %v", names(tr, hs))
	}
}

func TestTreeFromNodes(t *testing.T) {
	nodes := []*model.Node{{Name: "n10", Leaf: "leaf2"}, {Name: "n2", Leaf: "leaf1"}, {Name: "n1", Leaf: "leaf1"}, {Name: "n9", Leaf: "leaf2"}}
	tr := TreeFromNodes(nodes)
	if !slices.Equal(tr.Hosts(), []string{"n1", "n2", "n9", "n10"}) || tr.NumLeaves() != 2 {
		t.Fatalf("hosts = %v, leaves %d", tr.Hosts(), tr.NumLeaves())
	}
	if TreeFromNodes(nil).NumHosts() != 0 {
		t.Fatal("empty")
	}
}

func TestNatCompare(t *testing.T) {
	in := []string{"node10", "node9", "leaf02", "leaf1", "a", "node009x", "node9x"}
	slices.SortFunc(in, natCompare)
	want := []string{"a", "leaf1", "leaf02", "node9", "node9x", "node009x", "node10"}
	if !slices.Equal(in, want) {
		t.Fatalf("sorted = %v, want %v", in, want)
	}
}
