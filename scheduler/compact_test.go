package scheduler

import (
	"slices"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// TestLowerBoundRealSizes: the bound counts the fabric's real leaf sizes
// (4, 3 and 2 hosts here), and a feature request only the hosts that have
// the feature.
func TestLowerBoundRealSizes(t *testing.T) {
	b := NewTreeBuilder()
	for i, leaf := range []string{"a", "a", "a", "a", "b", "b", "b", "c", "c"} {
		var fs []string
		if i == 0 || i >= 7 {
			fs = []string{"gpu"}
		}
		b.Switch(leaf, "spine")
		b.Host(string(rune('p'+i)), []string{leaf}, fs...)
	}
	tr, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	for n, want := range map[int]int{1: 1, 4: 1, 5: 2, 7: 2, 8: 3, 9: 3, 10: 4} {
		if got := tr.LowerBound(n); got != want {
			t.Errorf("LowerBound(%d) = %d on leaves of 4, 3, 2; want %d", n, got, want)
		}
	}
	o := occWith(tr)
	for n, want := range map[int]int{1: 1, 2: 1, 3: 2, 4: noFit} { // gpu: 1 on a, 2 on c
		if got := o.view([]string{"gpu"}).bound(n); got != want {
			t.Errorf("gpu bound(%d) = %d, want %d", n, got, want)
		}
	}
	if got := o.view(nil).bound(10); got != noFit {
		t.Errorf("bound(10) on 9 hosts = %d", got)
	}
}

// backfillScenario: 16 nodes on four leaves of 4. R1 holds leaf01 and
// node005-006, R2 node009-011 and node013-014, both until minute 60: free
// are node007-008 (leaf02), node012 (leaf03) and node015-016 (leaf04).
// H wants 10 nodes (blocked until minute 60, 6 spare then); B wants 3 for
// 200 minutes (no leaf has 3 free: only a spread placement fits); C wants
// 2 for 200 minutes (fits on one leaf).
func backfillScenario() Snapshot {
	tr, _ := SyntheticTree(16, 4, 0)
	nodes := nodesOf(tr)
	r1 := run(nodes, 1, "x", 70*minute, -10, "node001", "node002", "node003", "node004", "node005", "node006")
	r2 := run(nodes, 2, "x", 70*minute, -10, "node009", "node010", "node011", "node013", "node014")
	return Snapshot{Tree: tr, Nodes: nodes, Running: []*model.Job{r1, r2},
		Pending: []*model.Job{job(3, "x", 10, 30*minute, 1), job(4, "x", 3, 200*minute, 2), job(5, "x", 2, 200*minute, 3)}}
}

// TestBackfillAtBound: a backfill that would span more leaves than its
// size needs waits; one that fits on the fewest leaves starts. Without
// the option B starts over two leaves.
func TestBackfillAtBound(t *testing.T) {
	s := backfillScenario()
	tr := s.Tree
	loose := EASYPolicy()
	p := Schedule(s, loose, t0)
	if got := startedIDs(p); !slices.Equal(got, []uint64{4, 5}) {
		t.Fatalf("plain EASY started %v, want B (4) and C (5)", got)
	}
	if n := tr.LeavesSpanned(started(p)[4]); n != 2 {
		t.Fatalf("plain EASY put B on %d leaves, want 2 (the case this option is about)", n)
	}
	strict := EASYPolicy()
	strict.BackfillAtBound = true
	p = Schedule(s, strict, t0)
	if got := startedIDs(p); !slices.Equal(got, []uint64{5}) {
		t.Fatalf("BackfillAtBound started %v, want only C (5)", got)
	}
	if n := tr.LeavesSpanned(started(p)[5]); n != 1 {
		t.Fatalf("C on %d leaves", n)
	}
	if p.Reasons[4] != ReasonPriority || p.Reasons[3] != ReasonResources {
		t.Fatalf("reasons %v", p.Reasons)
	}
}

// boundWaitScenario: 8 nodes on two leaves of 4. R1 holds node001-002
// until minute 30, R2 node005 until minute 300. J wants 4 nodes for an
// hour: it fits now only over both leaves (2+2 or 3+1), and leaf01 is
// whole at minute 30. L wants 2 nodes for 200 minutes.
func boundWaitScenario() Snapshot {
	tr, _ := SyntheticTree(8, 4, 0)
	nodes := nodesOf(tr)
	r1 := run(nodes, 1, "x", 40*minute, -10, "node001", "node002")
	r2 := run(nodes, 2, "x", 310*minute, -10, "node005")
	return Snapshot{Tree: tr, Nodes: nodes, Running: []*model.Job{r1, r2},
		Pending: []*model.Job{job(3, "x", 4, hour, -1), job(4, "x", 2, 200*minute, 0)}}
}

// TestBoundWait: with a BoundWait longer than the 30 minutes until leaf01
// is whole, J waits for it (reason Topology, a hold of leaf01's nodes at
// minute 30) and the long job L keeps off those nodes (it goes to
// leaf02); with a shorter wait, or none, J starts now over two leaves.
func TestBoundWait(t *testing.T) {
	s := boundWaitScenario()
	tr := s.Tree
	for _, c := range []struct {
		wait    time.Duration
		waitFor bool
	}{{0, false}, {10 * minute, false}, {time.Hour, true}} {
		pol := EASYPolicy()
		pol.BoundWait = c.wait
		p := Schedule(s, pol, t0)
		got := started(p)
		if !c.waitFor {
			if hs, ok := got[3]; !ok || tr.LeavesSpanned(hs) != 2 {
				t.Fatalf("wait %v: J started on %v, want now on both leaves", c.wait, hs)
			}
			continue
		}
		if _, ok := got[3]; ok {
			t.Fatalf("wait %v: J started now on %v", c.wait, got[3])
		}
		if p.Reasons[3] != ReasonTopology {
			t.Fatalf("wait %v: J's reason %q, want %q", c.wait, p.Reasons[3], ReasonTopology)
		}
		want := []string{"node001", "node002", "node003", "node004"}
		if p.Hold == nil || p.Hold.JobID != 3 || !p.Hold.At.Equal(at(30)) || !slices.Equal(p.Hold.Nodes, want) {
			t.Fatalf("wait %v: hold %+v, want J at minute 30 on %v", c.wait, p.Hold, want)
		}
		if l, ok := got[4]; !ok || slices.ContainsFunc(l, func(n string) bool { return slices.Contains(want, n) }) {
			t.Fatalf("wait %v: L started on %v (ok %v), want leaf02", c.wait, l, ok)
		}
	}
}

// TestBoundWaitLookaheadsCapped: past maxLookaheads in one pass, a job
// that could wait for a compact placement starts where it fits instead.
func TestBoundWaitLookaheadsCapped(t *testing.T) {
	s := boundWaitScenario()
	pol := EASYPolicy()
	pol.BoundWait = time.Hour
	ps := newPass(s.Tree, &s, pol, t0)
	r := requestFor(s.Pending[0], nil)
	hs := ps.tryPlace(&r, nil, 0)
	if ps.boundSoon(&r, hs, t0) == nil {
		t.Fatal("no wait for leaf01 with lookaheads to spare")
	}
	ps.lookaheads = maxLookaheads
	if h := ps.boundSoon(&r, hs, t0); h != nil {
		t.Fatalf("waited past the look-ahead cap: %+v", h)
	}
}
