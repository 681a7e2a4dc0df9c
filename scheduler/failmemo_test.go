package scheduler

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// memoTree is a three-level fabric of hosts in leaves of 3 to 8 under two
// or three pods, every third host labelled gpu, with uplinks for
// link-isolated jobs.
func memoTree(t *testing.T, rng *rand.Rand) *Tree {
	t.Helper()
	b := NewTreeBuilder()
	pods := 2 + rng.IntN(2)
	h := 0
	for p := range pods {
		pod := fmt.Sprintf("pod%d", p)
		b.Switch(pod, "")
		for l := range 2 + rng.IntN(3) {
			leaf := fmt.Sprintf("leaf%d-%d", p, l)
			b.Switch(leaf, pod)
			b.Uplink(leaf, pod)
			b.Uplink(leaf, pod)
			for range 3 + rng.IntN(6) {
				h++
				var fs []string
				if h%3 == 0 {
					fs = []string{"gpu"}
				}
				b.Host(fmt.Sprintf("n%03d", h), []string{leaf}, fs...)
			}
		}
	}
	tr, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestFailMemoSamePlan: on random busy fabrics and queues mixing plain,
// feature, switch-limited, link-isolated, image and reservation jobs, every
// policy (and the compact and node-hold variants) plans exactly the same
// with the failed-placement memo as without it.
func TestFailMemoSamePlan(t *testing.T) {
	pols := Policies()
	for _, base := range []Policy{IbexPolicy(), EASYPolicy()} {
		hn := base
		hn.Name, hn.HoldNodes = base.Name+"+holdnodes", true
		pols = append(pols, hn)
	}
	loose := IbexPolicy()
	loose.Name, loose.BackfillAtBound, loose.BoundWait = "ibex-loose", false, 0
	pols = append(pols, loose)

	rng := rand.New(rand.NewPCG(17, 5))
	hits := 0
	for iter := range 600 {
		s := randomSnapshot(t, rng)
		for _, pol := range pols {
			failMemoOff = true
			want := Schedule(s, pol, t0)
			failMemoOff = false
			got := Schedule(s, pol, t0)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("iter %d %s: with the memo\n%+v\nwithout\n%+v", iter, pol.Name, got, want)
			}
			hits += countMemoHits(s, pol)
		}
	}
	if hits == 0 {
		t.Fatal("the memo never skipped a search: the test checks nothing")
	}
}

// countMemoHits replays s's queue the way Schedule does up to the first
// job that does not fit and counts the later jobs the memo answers
// without a search.
func countMemoHits(s Snapshot, p Policy) int {
	ps := newPass(s.Tree, &s, p, t0)
	m := failMemo{}
	hits := 0
	for _, i := range queue(&s, p, t0) {
		r := requestFor(s.Pending[i], s.Options)
		key, ok := ps.memoKey(&r, nil, 0)
		if !ok {
			continue
		}
		if n, seen := m[key]; seen && r.Nodes >= n {
			hits++
			continue
		}
		if hs := ps.tryPlaceMemo(m, &r, nil, 0); hs != nil {
			ps.start(&Plan{}, &r, hs)
		}
	}
	return hits
}

// TestFailMemoSpareByFeatures: under EASY by count, a plain job refused
// because it would take the gpu head's spare gpu nodes says nothing about
// a larger plain job that fits on plain nodes: it still starts.
func TestFailMemoSpareByFeatures(t *testing.T) {
	b := NewTreeBuilder()
	for i := 1; i <= 8; i++ {
		leaf, fs := "leaf1", []string{"gpu"}
		if i > 4 {
			leaf, fs = "leaf2", nil
		}
		b.Host(fmt.Sprintf("n%d", i), []string{leaf}, fs...)
	}
	tr, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	nodes := nodesOf(tr)
	busy := run(nodes, 1, "x", 100*minute, -10, "n1", "n2")
	s := Snapshot{Tree: tr, Nodes: nodes, Running: []*model.Job{busy},
		Pending: []*model.Job{job(2, "x", 4, hour, 1), job(3, "x", 2, 10*hour, 2), job(4, "x", 3, 10*hour, 3)},
		Options: map[uint64]JobOptions{2: {Features: []string{"gpu"}}}}
	p := Schedule(s, EASYPolicy(), t0)
	if got := started(p); len(got) != 1 || !reflect.DeepEqual(got[4], []string{"n5", "n6", "n7"}) {
		t.Fatalf("started %v, want only job 4 on n5-n7 (hold %+v, reasons %v)", got, p.Hold, p.Reasons)
	}
}

// randomSnapshot is a busy memoTree with a queue mixing plain, feature,
// switch-limited, link-isolated, image and reservation jobs.
func randomSnapshot(t *testing.T, rng *rand.Rand) Snapshot {
	tr := memoTree(t, rng)
	nodes := nodesOf(tr)
	for i, n := range nodes {
		n.Features = tr.Features(n.Name)
		if rng.IntN(4) == 0 {
			n.Image = "rocky9"
		}
		if rng.IntN(25) == 0 {
			nodes[i].State = model.NodeDown
		}
	}
	var running, pending []*model.Job
	id := uint64(1)
	for i := 0; i < len(nodes); {
		k := 1 + rng.IntN(6)
		if i+k > len(nodes) || rng.IntN(3) == 0 {
			i++
			continue
		}
		var hs []string
		free := true
		for _, n := range nodes[i : i+k] {
			free = free && n.State == model.NodeReady
			hs = append(hs, n.Name)
		}
		if free {
			running = append(running, run(nodes, id, "t", time.Duration(1+rng.IntN(300))*minute, -float64(rng.IntN(60)), hs...))
			id++
		}
		i += k
	}
	opts := map[uint64]JobOptions{}
	for range 5 + rng.IntN(40) {
		pending = append(pending, job(id, []string{"a", "b", "c"}[rng.IntN(3)], 1+rng.IntN(len(nodes)/2), time.Duration(1+rng.IntN(300))*minute, -float64(rng.IntN(100))))
		switch rng.IntN(6) {
		case 0:
			opts[id] = JobOptions{Features: []string{"gpu"}}
		case 1:
			opts[id] = JobOptions{Switches: 1 + rng.IntN(2), SwitchWait: time.Duration(rng.IntN(200)) * minute}
		case 2:
			opts[id] = JobOptions{Isolation: IsolationLinks}
		case 3:
			opts[id] = JobOptions{Image: "rocky9"}
		case 4:
			opts[id] = JobOptions{Reservation: "R"}
		}
		id++
	}
	return Snapshot{Tree: tr, Nodes: nodes, Running: running, Pending: pending, Options: opts,
		Reservations: []Reservation{{Name: "R", Tenant: "a", Nodes: 1 + rng.IntN(6), Start: at(float64(rng.IntN(200))), End: at(400)}}}
}
