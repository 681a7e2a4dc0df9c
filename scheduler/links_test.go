package scheduler

import (
	"slices"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/model"
)

// twoLeaves is a hand-built leaf/spine fabric: leafA and leafB with four
// hosts each, each leaf cabled once to spine1 and once to spine2 (2:1
// oversubscribed, like many real fabrics).
func twoLeaves(t *testing.T) *Tree {
	t.Helper()
	b := NewTreeBuilder()
	for _, leaf := range []string{"leafA", "leafB"} {
		b.Switch(leaf, "spines")
		b.Uplink(leaf, "spine1")
		b.Uplink(leaf, "spine2")
	}
	for _, h := range []string{"a1", "a2", "a3", "a4"} {
		b.Host(h, []string{"leafA"})
	}
	for _, h := range []string{"b1", "b2", "b3", "b4"} {
		b.Host(h, []string{"leafB"})
	}
	tr, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// An isolated job X runs on a1 and b1 holding spine1's cables at both
// leaves. A 4-node job then has 3+3 free nodes: EASY places it over both
// leaves at once; isolated, it would need 2 spines free at both leaves and
// only spine2 is, so it must wait with reason Links, while a 2-node
// isolated job (1+1 over spine2, or one leaf) still fits.
func TestIsolationRefusesAPlacementEASYTakes(t *testing.T) {
	tr := twoLeaves(t)
	if got := tr.NumLinks(); got != 4 {
		t.Fatalf("links = %d, want 4", got)
	}
	nodes := []*model.Node{}
	for _, h := range tr.Hosts() {
		l, _ := tr.Leaf(h)
		nodes = append(nodes, &model.Node{Name: h, Leaf: tr.LeafName(l), State: model.NodeReady})
	}
	x := &model.Job{ID: 1, NumNodes: 2, TimeLimit: 60 * 60e9, State: model.JobRunning, StartTime: t0,
		Nodes: []string{"a1", "b1"}, Isolation: IsolationLinks, Links: []string{"leafA>spine1", "leafB>spine1"}}
	for _, n := range nodes {
		if n.Name == "a1" || n.Name == "b1" {
			n.State, n.JobID = model.NodeAllocated, 1
		}
	}
	y := &model.Job{ID: 2, NumNodes: 4, TimeLimit: 30 * 60e9, State: model.JobPending, SubmitTime: t0}
	snap := func(iso string) Snapshot {
		yy := *y
		yy.Isolation = iso
		return Snapshot{Nodes: nodes, Tree: tr, Running: []*model.Job{x}, Pending: []*model.Job{&yy}}
	}
	plain := Schedule(snap(""), EASYPolicy(), t0)
	if len(plain.Start) != 1 || tr.LeavesSpanned(plain.Start[0].Nodes) != 2 {
		t.Fatalf("EASY without isolation: %+v, want the 4-node job started over both leaves", plain.Start)
	}
	iso := Schedule(snap(IsolationLinks), EASYPolicy(), t0)
	if len(iso.Start) != 0 {
		t.Fatalf("isolated 4-node job started on %v with links %v: only spine2 is free at both leaves", iso.Start[0].Nodes, iso.Start[0].Links)
	}
	if iso.Reasons[2] != ReasonLinks {
		t.Fatalf("reason = %q, want %q", iso.Reasons[2], ReasonLinks)
	}
	if iso.Hold == nil || !iso.Hold.At.Equal(t0.Add(60*60e9)) {
		t.Fatalf("hold = %+v, want the isolated job promised X's end", iso.Hold)
	}

	// Without X's links in the snapshot, the same job fits isolated (2+2
	// over both spines): the held links, not the nodes, stop it.
	x.Links = nil
	free := Schedule(snap(IsolationLinks), EASYPolicy(), t0)
	if len(free.Start) != 1 {
		t.Fatalf("with X holding no links the isolated job should start: %+v", free.Reasons)
	}
	want := []string{"leafA>spine1", "leafA>spine2", "leafB>spine1", "leafB>spine2"}
	if got := free.Start[0].Links; !slices.Equal(got, want) {
		t.Fatalf("links = %v, want %v (2 nodes per leaf: 2 spines at each)", got, want)
	}
}

// A job that fits one leaf holds no links; one over leaves holds, at every
// leaf, the same max-share planes (the rule in links.go).
func TestIsolatedPlacementHoldsMaxShareOnEveryLeaf(t *testing.T) {
	tr := mustTree(t, 64, 16, 0)
	o := occWith(tr)
	v := o.view(nil)
	if hs := v.placeIsolated(10, 0); tr.LeavesSpanned(names(tr, hs)) != 1 {
		t.Fatalf("10 nodes on an empty 16-node-leaf tree span %d leaves", tr.LeavesSpanned(names(tr, hs)))
	}
	busyRange(tr, o, 3, 1, 10)  // leaf01: 6 free
	busyRange(tr, o, 3, 17, 30) // leaf02: 2 free
	hs := v.placeIsolated(20, 0)
	if len(hs) != 20 {
		t.Fatalf("placed %d hosts, want 20", len(hs))
	}
	links, ok := o.linksFor(hs)
	if !ok {
		t.Fatal("placement without free links")
	}
	share := map[string]int{}
	for _, h := range names(tr, hs) {
		l, _ := tr.Leaf(h)
		share[tr.LeafName(l)]++
	}
	maxShare := 0
	for _, n := range share {
		maxShare = max(maxShare, n)
	}
	planes := map[string][]string{}
	for _, id := range links {
		leaf, sp, _ := strings.Cut(tr.links.names[id], ">")
		planes[leaf] = append(planes[leaf], sp)
	}
	var first []string
	for leaf := range share {
		if len(planes[leaf]) != maxShare {
			t.Fatalf("leaf %s holds %d links, want max share %d (shares %v)", leaf, len(planes[leaf]), maxShare, share)
		}
		if first == nil {
			first = planes[leaf]
		} else if !slices.Equal(first, planes[leaf]) {
			t.Fatalf("leaves hold different spines: %v", planes)
		}
	}
	// The water-fill keeps the share small: 20 nodes over 2 empty leaves
	// and leaf01's 6 is 10+10 or less, not 16+4.
	if maxShare > 10 {
		t.Fatalf("max share %d over %v: the placement holds more links than needed", maxShare, share)
	}
}

func TestMaxIsolated(t *testing.T) {
	if got := mustTree(t, 64, 16, 0).MaxIsolated(); got != 64 {
		t.Fatalf("full-bisection leaf/spine: %d, want 64", got)
	}
	if got := mustTree(t, 64, 16, 2).MaxIsolated(); got != 32 {
		t.Fatalf("two pods of 32: %d, want 32 (isolated jobs stay in one pod)", got)
	}
	tr := twoLeaves(t)
	if got := tr.MaxIsolated(); got != 4 {
		t.Fatalf("two leaves of 4 with 2 uplinks each: %d, want 4 (2+2 or one leaf)", got)
	}
	if tr.IsolationError(5) == nil || tr.IsolationError(4) != nil {
		t.Fatal("IsolationError disagrees with MaxIsolated")
	}
}
