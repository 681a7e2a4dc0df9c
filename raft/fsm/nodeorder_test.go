package fsm

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ibex-hpc/ibex/model"
)

// nodeOrderMismatch says how the order Work and SortedNodes hand out
// differs from sorting the node table afresh ("" when it does not): the
// same nodes (the very pointers of the table) in name order.
func nodeOrderMismatch(s *State) string {
	want := make([]*model.Node, 0, len(s.Nodes))
	for _, n := range s.Nodes {
		want = append(want, n)
	}
	slices.SortFunc(want, byName)
	got := s.nodesInOrder()
	if len(got) != len(want) {
		return fmt.Sprintf("%d nodes in order, %d in the table", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			return fmt.Sprintf("position %d: %q (%p), want %q (%p)", i, got[i].Name, got[i], want[i].Name, want[i])
		}
	}
	return ""
}

// TestNodeOrderSameAsSort registers nodes in random batches and random
// name order, some names again, and after every entry checks that the
// kept order is the table sorted afresh, and that Work lists copies of the
// nodes in that order; then the same after Clone and Restore.
func TestNodeOrderSameAsSort(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		f := New()
		for range 30 {
			var specs []NodeSpec
			seen := map[string]bool{}
			for range 1 + rng.IntN(40) {
				name := fmt.Sprintf("n%d", rng.IntN(500))
				if !seen[name] {
					seen[name] = true
					specs = append(specs, NodeSpec{Name: name, Leaf: fmt.Sprintf("leaf%d", rng.IntN(5))})
				}
			}
			must(t, f.Apply(&RegisterNodes{Nodes: specs, Time: t0}))
			if !f.state.nodeOrderFresh() {
				t.Fatalf("seed %d: order not brought up to date after an apply", seed)
			}
			if why := nodeOrderMismatch(f.state); why != "" {
				t.Fatalf("seed %d: %s", seed, why)
			}
		}
		w := f.Work(0)
		for i, n := range f.state.nodesInOrder() {
			if w.Nodes[i].Name != n.Name || w.Nodes[i] == n || w.Nodes[i].Leaf != n.Leaf {
				t.Fatalf("seed %d: Work node %d is %q (%p), want a copy of %q (%p)", seed, i, w.Nodes[i].Name, w.Nodes[i], n.Name, n)
			}
		}
		c := f.state.Clone()
		if why := nodeOrderMismatch(c); why != "" {
			t.Fatalf("seed %d: clone: %s", seed, why)
		}
		var buf bytes.Buffer
		if err := WriteSnapshot(&buf, f.state); err != nil {
			t.Fatal(err)
		}
		r := New()
		if err := r.Restore(&buf); err != nil {
			t.Fatal(err)
		}
		if why := nodeOrderMismatch(r.state); why != "" {
			t.Fatalf("seed %d: restored: %s", seed, why)
		}
	}
}

// TestNodeOrderCheckSeesStaleOrder makes the kept order stale on purpose
// (a node added without addNode's note, two entries swapped, a pointer
// that is not the table's) and checks that the comparison above catches
// each, so TestNodeOrderSameAsSort can fail; and that readers never use
// an order that does not cover the table.
func TestNodeOrderCheckSeesStaleOrder(t *testing.T) {
	f := New()
	must(t, f.Apply(&RegisterNodes{Nodes: []NodeSpec{{Name: "a", Leaf: "l"}, {Name: "b", Leaf: "l"}, {Name: "c", Leaf: "l"}}, Time: t0}))
	s := f.state

	s.idx.nodes[0], s.idx.nodes[1] = s.idx.nodes[1], s.idx.nodes[0]
	if nodeOrderMismatch(s) == "" {
		t.Fatal("swapped order not caught")
	}
	s.rebuildNodeOrder()
	s.idx.nodes[2] = s.idx.nodes[2].Clone()
	if nodeOrderMismatch(s) == "" {
		t.Fatal("a copy instead of the table's node not caught")
	}
	s.rebuildNodeOrder()

	// A node written into the table directly: the order no longer covers
	// the table, so readers sort afresh instead of missing it, and the
	// next apply rebuilds.
	s.Nodes["b2"] = &model.Node{Name: "b2", State: model.NodeReady}
	if s.nodeOrderFresh() {
		t.Fatal("order taken as fresh with a node it lacks")
	}
	if why := nodeOrderMismatch(s); why != "" {
		t.Fatal(why)
	}
	s.keepNodeOrder()
	if !s.nodeOrderFresh() || nodeOrderMismatch(s) != "" {
		t.Fatal("keepNodeOrder did not rebuild an order that missed a node")
	}
}
