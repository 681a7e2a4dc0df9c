package scheduler

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// bigTree is 100,000 nodes: 100 pods of 25 leaves of 40 nodes.
func bigTree(b *testing.B) *Tree {
	b.Helper()
	tr, err := SyntheticTree(100000, 40, 25)
	if err != nil {
		b.Fatal(err)
	}
	if tr.Levels() != 3 {
		b.Fatalf("levels = %d", tr.Levels())
	}
	return tr
}

// halfBusy returns nodes of tr with about half of them running jobs of 1 to
// 64 nodes, laid out in runs so the free space is fragmented the way a
// busy machine's is.
func halfBusy(tr *Tree, rng *rand.Rand) ([]*model.Node, []*model.Job) {
	nodes := nodesOf(tr)
	var running []*model.Job
	id := uint64(1 << 32)
	for i := 0; i < len(nodes); {
		k := 1 + rng.IntN(64)
		if rng.IntN(2) == 0 || i+k > len(nodes) {
			i += 1 + rng.IntN(16)
			continue
		}
		j := &model.Job{ID: id, Tenant: fmt.Sprintf("t%d", rng.IntN(50)), NumNodes: k, State: model.JobRunning,
			TimeLimit: time.Duration(1+rng.IntN(48)) * time.Hour, StartTime: t0.Add(-time.Duration(rng.IntN(3600)) * time.Second)}
		for _, n := range nodes[i : i+k] {
			n.State, n.JobID = model.NodeAllocated, id
			j.Nodes = append(j.Nodes, n.Name)
		}
		running = append(running, j)
		id++
		i += k
	}
	return nodes, running
}

// BenchmarkPlace1024 places one 1,024-node job on a half-busy 100,000-node
// three-level fat tree (the placement alone).
func BenchmarkPlace1024(b *testing.B) {
	tr := bigTree(b)
	nodes, running := halfBusy(tr, rand.New(rand.NewPCG(1, 1)))
	ps := newPass(tr, &Snapshot{Nodes: nodes, Running: running}, IbexPolicy(), t0)
	v := ps.occ.view(nil)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if hs := v.place(1024, 0); len(hs) != 1024 {
			b.Fatalf("placed %d", len(hs))
		}
	}
}

// BenchmarkSchedule1024 is a whole pass for one 1,024-node job on the same
// tree: loading 100,000 nodes into the occupancy dominates.
func BenchmarkSchedule1024(b *testing.B) {
	tr := bigTree(b)
	nodes, running := halfBusy(tr, rand.New(rand.NewPCG(1, 1)))
	s := Snapshot{Tree: tr, Nodes: nodes, Running: running, Pending: []*model.Job{job(1, "a", 1024, time.Hour, 0)}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if p := Schedule(s, IbexPolicy(), t0); len(p.Start) != 1 {
			b.Fatal("not placed")
		}
	}
}

// schedule10k is the 10k benchmarks' input: 10,000 pending jobs of 1 to
// 1,024 nodes from 50 tenants on the half-busy 100,000-node tree.
func schedule10k(b *testing.B) Snapshot {
	tr := bigTree(b)
	rng := rand.New(rand.NewPCG(2, 2))
	nodes, running := halfBusy(tr, rng)
	var pending []*model.Job
	for i := range 10000 {
		n := 1 << rng.IntN(11) // 1..1024
		pending = append(pending, job(uint64(i+1), fmt.Sprintf("t%d", rng.IntN(50)), n, time.Duration(1+rng.IntN(24))*time.Hour, -float64(rng.IntN(5000))))
	}
	u := NewUsage(7 * 24 * time.Hour)
	for i := range 50 {
		u.Add(fmt.Sprintf("t%d", i), 1+rng.IntN(1000), t0.Add(-48*time.Hour), t0.Add(-time.Duration(rng.IntN(40))*time.Hour))
	}
	return Snapshot{Tree: tr, Nodes: nodes, Running: running, Pending: pending, Usage: u}
}

// benchPasses runs one pass of pol over s per iteration.
func benchPasses(b *testing.B, s Snapshot, pol Policy) {
	b.ReportAllocs()
	b.ResetTimer()
	var started int
	for b.Loop() {
		started = len(Schedule(s, pol, t0).Start)
	}
	b.ReportMetric(float64(started), "started/op")
}

// BenchmarkSchedule10k is one full ibex pass (priority, fair share, EASY
// backfill, topology placement) over schedule10k.
func BenchmarkSchedule10k(b *testing.B) {
	benchPasses(b, schedule10k(b), IbexPolicy())
}

// BenchmarkSchedule10kCached is BenchmarkSchedule10k with a NodeCache and
// one NodesVersion for every pass, as the leader's passes run while only
// submissions arrive: the nodes are loaded once, not per pass.
func BenchmarkSchedule10kCached(b *testing.B) {
	s := schedule10k(b)
	s.Cache, s.NodesVersion = &NodeCache{}, 1
	benchPasses(b, s, IbexPolicy())
}

// BenchmarkSchedule10kLoose is BenchmarkSchedule10k without the compact
// placement options (BackfillAtBound, BoundWait): the pass as it was
// before them, to tell their cost from the rest.
func BenchmarkSchedule10kLoose(b *testing.B) {
	pol := IbexPolicy()
	pol.BackfillAtBound, pol.BoundWait = false, 0
	benchPasses(b, schedule10k(b), pol)
}
