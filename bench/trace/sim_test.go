package trace

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/scheduler"
)

const swfDir = "../../testdata/swf"

func parseFile(t testing.TB, name string) *Trace {
	t.Helper()
	fh, err := os.Open(filepath.Join(swfDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	tr, err := Parse(fh)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func sec(s int) time.Duration { return time.Duration(s) * time.Second }

// TestSimulateByHand: 4 nodes on two leaves of 2. J1 2 nodes 100 s, J2 4
// nodes 50 s (both at 0), J3 2 nodes, 50 s run, 80 s declared, at 10.
//
//	FCFS: J1 0-100, J2 100-150, J3 150-200. Waits 0/100/140, makespan 200,
//	      util 500/(4·200) = 62.5%, bsld 1, 3, 3.8 -> 2.6.
//	EASY: J2 is promised 100; J3 (10+80 <= 100) backfills 10-60.
//	      Waits 0/100/0, makespan 150, util 500/600, bsld 1, 3, 1.
func TestSimulateByHand(t *testing.T) {
	tree, err := scheduler.SyntheticTree(4, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	jobs := []Job{
		{ID: 1, Tenant: "a", Submit: 0, Run: sec(100), Walltime: sec(100), Nodes: 2},
		{ID: 2, Tenant: "a", Submit: 0, Run: sec(50), Walltime: sec(50), Nodes: 4},
		{ID: 3, Tenant: "b", Submit: sec(10), Run: sec(50), Walltime: sec(80), Nodes: 2},
	}
	for _, c := range []struct {
		policy          scheduler.Policy
		wait, p95, bsld float64
		makespan, util  float64
		starts          []time.Duration
	}{
		{scheduler.FCFSPolicy(), 80, 140, 2.6, 200, 0.625, []time.Duration{0, sec(100), sec(150)}},
		{scheduler.FirstFitPolicy(), 80, 140, 2.6, 200, 0.625, []time.Duration{0, sec(100), sec(150)}},
		{scheduler.EASYPolicy(), 100.0 / 3, 100, 5.0 / 3, 150, 500.0 / 600, []time.Duration{0, sec(100), sec(10)}},
		{scheduler.IbexPolicy(), 100.0 / 3, 100, 5.0 / 3, 150, 500.0 / 600, []time.Duration{0, sec(100), sec(10)}},
	} {
		out := Simulate(jobs, Config{Tree: tree, Policy: c.policy})
		starts := map[uint64]time.Duration{}
		for _, o := range out {
			starts[o.Job.ID] = o.Start
		}
		for i, want := range c.starts {
			if starts[uint64(i+1)] != want {
				t.Errorf("%s: J%d started at %v, want %v", c.policy.Name, i+1, starts[uint64(i+1)], want)
			}
		}
		m := Measure(c.policy.Name, jobs, out, 4, tree, 0)
		for _, v := range []struct {
			name      string
			got, want float64
		}{{"mean wait", m.MeanWait, c.wait}, {"p95 wait", m.P95Wait, c.p95}, {"bsld", m.MeanBSLD, c.bsld},
			{"makespan", m.Makespan, c.makespan}, {"util", m.Utilization, c.util}, {"at LB", m.AtLB, 1}, {"excess", m.MeanExcess, 0}} {
			if math.Abs(v.got-v.want) > 1e-9 {
				t.Errorf("%s: %s = %v, want %v", c.policy.Name, v.name, v.got, v.want)
			}
		}
		if m.MultiNode != 3 || m.Unstarted != 0 {
			t.Errorf("%s: %+v", c.policy.Name, m)
		}
	}
}

// TestEASYKeepsPromises: on random workloads with honest-or-generous
// walltimes, no job starts later than the first time the scheduler
// promised it (count holds and node holds alike), plus BoundWait for a
// policy that waits for compact placements.
func TestEASYKeepsPromises(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	tree, err := scheduler.SyntheticTree(24, 4, 3)
	if err != nil {
		t.Fatal(err)
	}
	var jobs []Job
	sub := time.Duration(0)
	for i := range 400 {
		sub += sec(rng.IntN(200))
		run := sec(1 + rng.IntN(1000))
		jobs = append(jobs, Job{ID: uint64(i + 1), Tenant: "t", Submit: sub, Run: run, Walltime: run + sec(rng.IntN(500)), Nodes: 1 + rng.IntN(24)})
	}
	nodeHolds := scheduler.EASYPolicy()
	nodeHolds.HoldNodes = true
	// FCFS with ibex's compact options: a job may come to wait for a
	// placement at the leaf bound after it was promised a spread one, so
	// its promise can move later, by at most BoundWait (the later hold is
	// within BoundWait of a spread start that is never later than the
	// first promise, and it is a node hold).
	compact := scheduler.EASYPolicy()
	ib := scheduler.IbexPolicy()
	compact.BackfillAtBound, compact.BoundWait = ib.BackfillAtBound, ib.BoundWait
	for _, pol := range []scheduler.Policy{scheduler.EASYPolicy(), nodeHolds, compact} {
		promised := map[uint64]time.Duration{}
		out := Simulate(jobs, Config{Tree: tree, Policy: pol, OnPlan: func(now time.Duration, p scheduler.Plan) {
			if p.Hold != nil {
				if _, ok := promised[p.Hold.JobID]; !ok {
					promised[p.Hold.JobID] = p.Hold.At.Sub(epoch)
				}
			}
		}})
		if len(out) != len(jobs) || len(promised) == 0 {
			t.Fatalf("%d of %d jobs ran, %d promises", len(out), len(jobs), len(promised))
		}
		for _, o := range out {
			if p, ok := promised[o.Job.ID]; ok && o.Start > p+pol.BoundWait {
				t.Errorf("hold nodes %v bound wait %v: job %d promised %v, started %v", pol.HoldNodes, pol.BoundWait, o.Job.ID, p, o.Start)
			}
		}
	}
}

// TestTraceGoals replays the two real traces (skipped with -short and
// under the race detector, where they are slow) on 16-node leaves: ibex's
// default policy must place at least 95% of all multi-node jobs on the
// fewest leaves their size needs (it reaches 98.2% on KTH-SP2 and 100% on
// Lublin), more than the same EASY backfill placing topology-blind, while
// its mean bounded slowdown stays at or below EASY's.
//
// Utilization: on KTH-SP2 (70% offered) it is the offered load whatever
// the policy. On Lublin (93.6% busy under EASY) waiting for compact
// placements leaves nodes idle that EASY would have filled with spread
// jobs: ibex gives up half a point (93.1%). More than one point is a
// regression.
func TestTraceGoals(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("full trace replay: not with -short or -race")
	}
	const maxUtilCost = 0.01
	for _, name := range []string{"KTH-SP2-1996-2.1-cln.swf.gz", "lublin_256.swf"} {
		began := time.Now()
		rep, err := RunFile(filepath.Join(swfDir, name), Options{LeafSize: 16, Policies: []scheduler.Policy{scheduler.EASYPolicy(), scheduler.IbexPolicy(), blindEASY()}})
		if err != nil {
			t.Fatal(err)
		}
		easy, ibex, blind := rep.Results[0], rep.Results[1], rep.Results[2]
		t.Logf("%s in %v: easy bsld %.2f util %.4f, ibex bsld %.2f util %.4f", name, time.Since(began), easy.MeanBSLD, easy.Utilization, ibex.MeanBSLD, ibex.Utilization)
		if ibex.MeanBSLD > easy.MeanBSLD+1e-9 || ibex.Utilization < easy.Utilization-maxUtilCost {
			t.Errorf("%s: ibex bsld %.2f util %.4f, easy bsld %.2f util %.4f", name, ibex.MeanBSLD, ibex.Utilization, easy.MeanBSLD, easy.Utilization)
		}
		t.Logf("%s: multi-node jobs at the leaf lower bound: ibex %.1f%%, easy %.1f%%, topology-blind easy %.1f%% (goal 95%%)", name, 100*ibex.AtLB, 100*easy.AtLB, 100*blind.AtLB)
		if ibex.AtLB < 0.95 || ibex.AtLB <= blind.AtLB {
			t.Errorf("%s: ibex placed %.1f%% of multi-node jobs at the leaf lower bound (goal 95%%), topology-blind EASY %.1f%%", name, 100*ibex.AtLB, 100*blind.AtLB)
		}
		if d := time.Since(began); d > 30*time.Second {
			t.Errorf("%s: %v", name, d)
		}
	}
}

// TestStreamGoals pools 20 synthetic streams (200 jobs of 1-32 nodes on
// 4×16 nodes at 90% load, 20% with --switches=LB@30s). ibex places every
// multi-node job at the leaf bound (asserted: at least 95%), but here the
// goal's other half is not reached: the jobs are short (20 minutes on
// average), so the waits for compact placements show in their slowdown
// (4.91 against EASY's 3.98). That is printed; the assertion is a guard
// against it getting worse than 1.3 times EASY's.
func TestStreamGoals(t *testing.T) {
	if testing.Short() {
		t.Skip("20 streams: not with -short")
	}
	var reps []*Report
	for seed := uint64(1); seed <= 20; seed++ {
		rep, err := RunStream(DefaultStream(seed), Options{Policies: []scheduler.Policy{scheduler.EASYPolicy(), scheduler.IbexPolicy()}})
		if err != nil {
			t.Fatal(err)
		}
		reps = append(reps, rep)
	}
	p := Pool(reps)
	easy, ibex := p.Results[0], p.Results[1]
	t.Logf("%s: at leaf LB ibex %.1f%% easy %.1f%%; mean bsld ibex %.2f easy %.2f (goal: at most EASY's); util ibex %.1f%% easy %.1f%%",
		p.Trace, 100*ibex.AtLB, 100*easy.AtLB, ibex.MeanBSLD, easy.MeanBSLD, 100*ibex.Utilization, 100*easy.Utilization)
	if ibex.MultiNode != easy.MultiNode || ibex.MultiNode < 3500 {
		t.Fatalf("multi-node jobs: ibex %d, easy %d", ibex.MultiNode, easy.MultiNode)
	}
	if ibex.AtLB < 0.95 {
		t.Errorf("ibex placed %.1f%% at the leaf lower bound, want >= 95%%", 100*ibex.AtLB)
	}
	if ibex.MeanBSLD > 1.3*easy.MeanBSLD {
		t.Errorf("ibex mean bsld %.2f, more than 1.3 times EASY's %.2f", ibex.MeanBSLD, easy.MeanBSLD)
	}
}

// TestStreamReproducible: a seed gives one stream, with the sizes, the
// --switches share and the offered load it promises.
func TestStreamReproducible(t *testing.T) {
	spec := DefaultStream(7)
	a, err := spec.Generate()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := spec.Generate()
	if !slices.Equal(a, b) {
		t.Fatal("same seed, different streams")
	}
	c, _ := DefaultStream(8).Generate()
	if slices.Equal(a, c) {
		t.Fatal("seeds 7 and 8 gave the same stream")
	}
	var work float64
	sw := 0
	for _, j := range a {
		if j.Nodes < 1 || j.Nodes > 32 || j.Walltime < j.Run || j.Run <= 0 {
			t.Fatalf("job %+v", j)
		}
		if j.Switches > 0 {
			sw++
			if j.Switches != (j.Nodes+15)/16 || j.SwitchWait != 30*time.Second {
				t.Fatalf("switches %+v", j)
			}
		}
		work += float64(j.Nodes) * j.Run.Seconds()
	}
	span := (a[len(a)-1].Submit - a[0].Submit).Seconds()
	if load := work / (64 * span); load < 0.7 || load > 1.2 {
		t.Errorf("offered load %.2f, want about 0.9", load)
	}
	if sw < 20 || sw > 60 {
		t.Errorf("%d of 200 jobs with --switches, want about 40", sw)
	}
	if _, err := (StreamSpec{Jobs: 10, MaxNodes: 100, Nodes: 64, LeafSize: 16, Load: 0.9, Run: time.Minute}).Generate(); err == nil {
		t.Error("jobs larger than the cluster accepted")
	}
}

// blindEASY is EASY backfill placing on the first free nodes in node
// order: the same schedule decisions without topology awareness.
func blindEASY() scheduler.Policy {
	p := scheduler.EASYPolicy()
	p.Name, p.Placement = "easy-blind", scheduler.PlaceFirstFit
	return p
}

// TestBoundsUseRealLeafSizes: the lower bound is the fewest leaves whose
// real sizes hold the job, not ceil(nodes / largest leaf).
func TestBoundsUseRealLeafSizes(t *testing.T) {
	b := NewBounds([]int{2, 4, 3})
	for n, want := range map[int]int{1: 1, 4: 1, 5: 2, 7: 2, 8: 3, 9: 3, 10: 4} {
		if got := b.Of(n); got != want {
			t.Errorf("Of(%d) = %d on leaves 4,3,2; want %d", n, got, want)
		}
	}
}

// TestMetricCanFail: every multi-node job counts. A 2-node job that starts
// at once across two leaves because one node of the only suitable leaf is
// busy is a miss, whatever the free nodes allowed.
func TestMetricCanFail(t *testing.T) {
	tree, err := scheduler.SyntheticTree(4, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	jobs := []Job{
		{ID: 1, Tenant: "a", Submit: 0, Run: sec(100), Walltime: sec(100), Nodes: 1},
		{ID: 2, Tenant: "a", Submit: 0, Run: sec(100), Walltime: sec(100), Nodes: 1},
		{ID: 3, Tenant: "a", Submit: sec(1), Run: sec(50), Walltime: sec(50), Nodes: 2},
	}
	// Whatever the simulator did with job 3, the reading must agree with
	// the leaves it spans.
	out := Simulate(jobs, Config{Tree: tree, Policy: scheduler.FirstFitPolicy()})
	m := Measure("ff", jobs, out, 4, tree, 0)
	if m.MultiNode != 1 {
		t.Fatalf("multi-node jobs = %d, want 1", m.MultiNode)
	}
	var o3 Outcome
	for _, o := range out {
		if o.Job.ID == 3 {
			o3 = o
		}
	}
	want := 1.0
	if o3.Leaves > 1 {
		want = 0
	}
	if m.AtLB != want {
		t.Fatalf("at LB = %v with job 3 on %d leaves", m.AtLB, o3.Leaves)
	}
	// And by construction: a placement on two leaves is a miss.
	m = Measure("split", jobs, []Outcome{out[0], out[1], {Job: jobs[2], Start: sec(1), Leaves: 2, Pods: 1}}, 4, tree, 0)
	if m.AtLB != 0 || m.MeanExcess != 1 || len(m.BySize) != 1 || m.BySize[0].MaxSpan != 2 {
		t.Fatalf("a split 2-node job on leaves of 2: %+v", m)
	}
}
