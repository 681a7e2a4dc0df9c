package scheduler

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

func TestPlaceBestFitLeaf(t *testing.T) {
	tr := mustTree(t, 32, 8, 0) // leaf01..04
	// free: leaf01 3, leaf02 8, leaf03 5, leaf04 8
	o := occWith(tr, "node001", "node002", "node003", "node004", "node005", "node017", "node018", "node019")
	got := names(tr, o.view(nil).place(4, 0))
	want := []string{"node020", "node021", "node022", "node023"} // leaf03: fewest free that fit
	if !slices.Equal(got, want) {
		t.Fatalf("place(4) = %v, want %v", got, want)
	}
}

// TestPlaceTightSpread: 20 nodes on leaves with 16, 16, 12 and 8 free need
// two leaves; 12+8 does it and leaves both empty leaves whole (the greedy
// "fullest first" would take 16+4).
func TestPlaceTightSpread(t *testing.T) {
	tr := mustTree(t, 64, 16, 0)
	o := occWith(tr)
	busyRange(tr, o, 3, 33, 36) // leaf03: 12 free
	busyRange(tr, o, 3, 49, 56) // leaf04: 8 free
	hs := o.view(nil).place(20, 0)
	if got := leavesOf(tr, hs); !slices.Equal(got, []string{"leaf03", "leaf04"}) || len(hs) != 20 {
		t.Fatalf("place(20) on %v (%d hosts), want leaf03+leaf04", got, len(hs))
	}
}

// TestPlaceLowestCommonSwitch: a three-level tree of two pods; a 6-node job
// fits in two leaves of either pod and must not straddle pods, and goes to
// the fuller pod (tightest fit keeps pod02 whole).
func TestPlaceLowestCommonSwitch(t *testing.T) {
	tr := mustTree(t, 32, 4, 4) // pod01 = leaf01-04 (node001-016), pod02 = leaf05-08
	if tr.Levels() != 3 {
		t.Fatalf("levels = %d", tr.Levels())
	}
	o := occWith(tr)
	busyRange(tr, o, 3, 1, 9) // pod01: leaf03 3 free, leaf04 4 free
	hs := o.view(nil).place(6, 0)
	if got := leavesOf(tr, hs); !slices.Equal(got, []string{"leaf03", "leaf04"}) {
		t.Fatalf("place(6) on %v, want leaf03+leaf04", got)
	}
	// 8 nodes: pod01 has 7 free, so pod02 (2 whole leaves).
	hs = o.view(nil).place(8, 0)
	if got := leavesOf(tr, hs); len(got) != 2 || tr.groups[tr.hostGroup[hs[0]]].parent == tr.groups[0].parent {
		t.Fatalf("place(8) on %v, want two leaves of pod02", got)
	}
}

// TestPlaceFewerLeavesBeatsLowerSwitch: when a pod can only hold the job
// on many leaves, crossing pods on fewer leaves wins: every extra leaf is
// more spine traffic.
func TestPlaceFewerLeavesBeatsLowerSwitch(t *testing.T) {
	tr := mustTree(t, 32, 4, 4)
	o := occWith(tr)
	// pod01: one node free per leaf (4 free); pod02: leaf05 full free, rest busy.
	for _, n := range []int{1, 2, 3, 5, 6, 7, 9, 10, 11, 13, 14, 15, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31} {
		o.set(tr.hostIdx[fmt.Sprintf("node%03d", n)], false)
	}
	// free: node004,008,012,016 (pod01, 4 leaves) + leaf05 (17-20) + node032.
	hs := o.view(nil).place(5, 0)
	if got := leavesOf(tr, hs); len(got) != 2 {
		t.Fatalf("place(5) on %v, want 2 leaves across pods", got)
	}
}

func TestPlaceSwitchLimit(t *testing.T) {
	tr := mustTree(t, 32, 8, 0)
	o := occWith(tr)
	for _, l := range []int{0, 8, 16, 24} { // 4 busy on every leaf
		busyRange(tr, o, 3, l+1, l+4)
	}
	if hs := o.view(nil).place(8, 1); hs != nil {
		t.Fatalf("8 nodes on one leaf with 4 free per leaf: %v", names(tr, hs))
	}
	if hs := o.view(nil).place(8, 2); len(leavesOf(tr, hs)) != 2 {
		t.Fatalf("place(8, max 2) = %v", names(tr, hs))
	}
}

func TestPlaceFeatures(t *testing.T) {
	b := NewTreeBuilder()
	for i := 1; i <= 8; i++ {
		leaf := fmt.Sprintf("leaf%d", (i-1)/4+1)
		b.Switch(leaf, "spine")
		var fs []string
		if i%2 == 0 {
			fs = []string{"gpu", "bigmem"}
		}
		b.Host(fmt.Sprintf("n%d", i), []string{leaf}, fs...)
	}
	tr, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	o := occWith(tr)
	got := names(tr, o.view([]string{"gpu"}).place(3, 0))
	if !slices.Equal(got, []string{"n2", "n6", "n8"}) { // two leaves: leaf2 whole, best fit for the last one
		t.Fatalf("3 gpu nodes = %v", got)
	}
	if hs := o.view([]string{"gpu", "ib-ndr"}).place(1, 0); hs != nil {
		t.Fatalf("placed on a feature nobody has: %v", names(tr, hs))
	}
	if f := tr.Features("n2"); !slices.Equal(f, []string{"bigmem", "gpu"}) {
		t.Fatalf("features = %v", f)
	}
}

func TestPlaceFirstFitIgnoresLeaves(t *testing.T) {
	tr := mustTree(t, 32, 8, 0)
	o := occWith(tr, "node001", "node002", "node003", "node004", "node005", "node006")
	got := names(tr, o.view(nil).firstFit(4))
	if !slices.Equal(got, []string{"node007", "node008", "node009", "node010"}) {
		t.Fatalf("firstFit(4) = %v", got)
	}
}

// TestPlaceProperties checks random fragmentations: the placement has
// exactly n distinct free hosts and spans the minimum number of leaves the
// free hosts allow (brute force: fullest leaves first).
func TestPlaceProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 300 {
		tr := mustTree(t, 20+rng.IntN(200), 1+rng.IntN(12), rng.IntN(5))
		o := occWith(tr)
		for h := range tr.hostNames {
			if rng.IntN(100) < 60 {
				o.set(int32(h), false)
			}
		}
		free := map[int32]bool{}
		perLeaf := make([]int, len(tr.groups))
		for h, f := range o.free {
			if f {
				free[int32(h)] = true
				perLeaf[tr.hostGroup[h]]++
			}
		}
		n := 1 + rng.IntN(len(tr.hostNames))
		hs := o.view(nil).place(n, 0)
		if n > len(free) {
			if hs != nil {
				t.Fatalf("iter %d: placed %d with %d free", iter, n, len(free))
			}
			continue
		}
		if len(hs) != n {
			t.Fatalf("iter %d: placed %d hosts, want %d", iter, len(hs), n)
		}
		seen := map[int32]bool{}
		for _, h := range hs {
			if !free[h] || seen[h] {
				t.Fatalf("iter %d: host %d not free or twice", iter, h)
			}
			seen[h] = true
		}
		sort.Sort(sort.Reverse(sort.IntSlice(perLeaf)))
		minL, sum := 0, 0
		for sum < n {
			sum += perLeaf[minL]
			minL++
		}
		if got := len(leavesOf(tr, hs)); got != minL {
			t.Fatalf("iter %d: %d nodes on %d leaves, minimum is %d", iter, n, got, minL)
		}
	}
}
