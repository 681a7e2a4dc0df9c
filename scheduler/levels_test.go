package scheduler

import (
	"testing"

	"github.com/ibex-hpc/ibex/model"
)

// podScenario: two pods of four 4-node leaves. Free: pod01 leaf01 4 and
// one node on each other leaf (7); pod02 leaf05 4, leaf06 2, leaf07 2,
// leaf08 1 (9). Eight nodes fit on two leaves only across the pods
// (leaf01 + leaf05), or on three leaves inside pod02.
func podScenario(t *testing.T) Snapshot {
	tr := mustTree(t, 32, 4, 4)
	nodes := nodesOf(tr)
	busy := []string{"node006", "node007", "node008", "node010", "node011", "node012", "node014", "node015", "node016",
		"node023", "node024", "node027", "node028", "node030", "node031", "node032"}
	r := run(nodes, 1, "x", 10*hour, -10, busy...)
	return Snapshot{Tree: tr, Nodes: nodes, Running: []*model.Job{r}, Pending: []*model.Job{job(2, "x", 8, hour, -1)}}
}

// TestSwitchesPodLevel: --switches pod:1 keeps the job in one pod at the
// cost of a leaf; without it, fewer leaves win and the job crosses pods.
// When no pod has room it waits (reason Switches) until the wait runs
// out.
func TestSwitchesPodLevel(t *testing.T) {
	s := podScenario(t)
	tr := s.Tree
	p := Schedule(s, EASYPolicy(), t0)
	if len(p.Start) != 1 || tr.PodsSpanned(p.Start[0].Nodes) != 2 || tr.LeavesSpanned(p.Start[0].Nodes) != 2 {
		t.Fatalf("no limit: %v, want 2 leaves in 2 pods", p.Start)
	}
	s.Options = map[uint64]JobOptions{2: {Switches: 1, SwitchLevel: 2, SwitchWait: hour}}
	p = Schedule(s, EASYPolicy(), t0)
	if len(p.Start) != 1 || tr.PodsSpanned(p.Start[0].Nodes) != 1 || tr.LeavesSpanned(p.Start[0].Nodes) != 3 {
		t.Fatalf("pod:1: %v, want 3 leaves of pod02", p.Start)
	}
	s.Pending[0].NumNodes = 10 // no pod has 10 free
	p = Schedule(s, EASYPolicy(), t0)
	if len(p.Start) != 0 || p.Reasons[2] != ReasonSwitches {
		t.Fatalf("pod:1 with no pod of 10 free: started %v, reason %q", p.Start, p.Reasons[2])
	}
	if p = Schedule(s, EASYPolicy(), at(60)); len(p.Start) != 1 || tr.PodsSpanned(p.Start[0].Nodes) != 2 {
		t.Fatalf("pod:1 after its wait: %v, want both pods", p.Start)
	}
}

// TestSwitchesSeveralPods: pod:2 on three pods takes the two fullest.
func TestSwitchesSeveralPods(t *testing.T) {
	tr := mustTree(t, 48, 4, 4) // pods of 16: node001-016, 017-032, 033-048
	o := occWith(tr)
	busyRange(tr, o, 3, 9, 14)  // pod01: 10 free
	busyRange(tr, o, 3, 17, 23) // pod02: 9 free
	busyRange(tr, o, 3, 37, 40) // pod03: 12 free
	v := o.view(nil)
	hs := v.placeWithin(18, 0, 2, 2)
	if len(hs) != 18 || tr.PodsSpanned(names(tr, hs)) != 2 {
		t.Fatalf("pod:2 for 18 nodes: %d nodes on %d pods", len(hs), tr.PodsSpanned(names(tr, hs)))
	}
	for _, h := range names(tr, hs) {
		if h >= "node017" && h <= "node032" {
			t.Fatalf("pod:2 used pod02 (%s), the emptiest", h)
		}
	}
	if hs := v.placeWithin(18, 0, 2, 1); hs != nil {
		t.Fatalf("pod:1 placed 18 nodes with no pod of 18 free: %v", names(tr, hs))
	}
	if got := tr.MaxUnder(2); got != 16 {
		t.Fatalf("MaxUnder(pod) = %d, want 16", got)
	}
	if got, want := tr.MaxUnder(1), 4; got != want {
		t.Fatalf("MaxUnder(leaf) = %d", got)
	}
	if got := tr.MaxUnder(3); got != 48 {
		t.Fatalf("MaxUnder(root) = %d", got)
	}
}

// TestInfraHostsOnlyByFeature: an infrastructure host an admin labelled
// (InfraFeature plus its labels) is never given to a job that asks for no
// features, even when it is the only free node; a job asking for one of
// its labels may have it.
func TestInfraHostsOnlyByFeature(t *testing.T) {
	b := NewTreeBuilder()
	b.Switch("leaf1", "spine")
	b.Host("login1", []string{"leaf1"}, InfraFeature, "login")
	b.Host("cn1", []string{"leaf1"})
	b.Host("cn2", []string{"leaf1"})
	tr, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	nodes := nodesOf(tr)
	r := run(nodes, 1, "x", hour, -1, "cn1")
	s := Snapshot{Tree: tr, Nodes: nodes, Running: []*model.Job{r}, Pending: []*model.Job{job(2, "x", 2, hour, 0)}}
	p := Schedule(s, IbexPolicy(), t0)
	if len(p.Start) != 0 {
		t.Fatalf("a job without features got %v", p.Start[0].Nodes)
	}
	s.Options = map[uint64]JobOptions{2: {Features: []string{"login"}}}
	s.Pending[0].NumNodes = 1
	p = Schedule(s, IbexPolicy(), t0)
	if len(p.Start) != 1 || p.Start[0].Nodes[0] != "login1" {
		t.Fatalf("-C login: %v", p.Start)
	}
	if occWith(tr).view(nil).total() != 2 {
		t.Fatal("infra host counted for a featureless request")
	}
}
