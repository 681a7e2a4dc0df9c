package trace

import (
	"fmt"
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

// TestTraceGoals holds issue 16's placement goal on the replays it is
// measured on: at least 95% of all multi-node jobs on the fewest leaves
// their size needs, at a mean bounded slowdown no higher than EASY's.
// Skipped with -short and under the race detector (full replays).
//
// KTH-SP2 and Lublin on synthetic trees with leaves of 16, 20 and 24
// nodes: ibex (the default), ibex-aligned and ibex-sized meet the goal
// (ibex at 97.9-100% with slowdown 54-68 on KTH and 513-559 on Lublin,
// EASY 91 and 590); utilization stays within two points of EASY's (on
// Lublin, 93.6% busy under EASY, waiting for compact placements leaves
// nodes idle that EASY fills with spread jobs: ibex gives up 0.5-1.2
// points, ibex-aligned 0.9-1.7, ibex-sized 0.3-1.5).
//
// PSMN's X5 fabric (89 hosts on six leaves of mixed sizes) replaying
// KTH-SP2 and the synthetic stream (TestStreamGoals): ibex-slowdown meets
// the whole goal (X5: 96.44% at bsld 130.03 against EASY's 147.86, margins
// of 1.4 points and 12%; it also meets it on KTH and Lublin above, where
// its utilization on Lublin at leaves of 20, 91.67% against EASY's
// 93.63%, is 0.04 points inside the two-point guard). The others meet the
// placement half only: ibex-sized's slowdown is asserted to stay within
// 1.25 times EASY's (it is at 1.15), ibex-aligned's within 1.8 (1.59);
// the default ibex policy is at 2.30. ibex-sized is at 95.01% of the
// bound on X5, two jobs above the line: a change that moves it is to be
// measured (ibex-trace --sweep compact-max-share=...), not this line
// moved.
func TestTraceGoals(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("full trace replay: not with -short or -race")
	}
	const maxUtilCost = 0.02
	for _, name := range []string{"KTH-SP2-1996-2.1-cln.swf.gz", "lublin_256.swf"} {
		for _, leaf := range []int{16, 20, 24} {
			t.Run(fmt.Sprintf("%s/leaf%d", name, leaf), func(t *testing.T) {
				t.Parallel()
				rep, err := RunFile(filepath.Join(swfDir, name), Options{LeafSize: leaf,
					Policies: []scheduler.Policy{scheduler.EASYPolicy(), scheduler.IbexPolicy(), scheduler.AlignedPolicy(), scheduler.SizedPolicy(), scheduler.SlowdownPolicy()}})
				if err != nil {
					t.Fatal(err)
				}
				easy := rep.Results[0]
				for _, m := range rep.Results[1:] {
					t.Logf("%s: at leaf LB %.1f%% (easy %.1f%%), bsld %.2f (easy %.2f), util %.2f%% (easy %.2f%%)",
						m.Policy, 100*m.AtLB, 100*easy.AtLB, m.MeanBSLD, easy.MeanBSLD, 100*m.Utilization, 100*easy.Utilization)
					if m.AtLB < 0.95 || m.MeanBSLD > easy.MeanBSLD+1e-9 || m.Utilization < easy.Utilization-maxUtilCost {
						t.Errorf("%s: at leaf LB %.1f%% (goal 95%%), bsld %.2f (goal <= EASY's %.2f), util %.2f%% (EASY %.2f%%)",
							m.Policy, 100*m.AtLB, m.MeanBSLD, easy.MeanBSLD, 100*m.Utilization, 100*easy.Utilization)
					}
				}
			})
		}
	}
	t.Run("X5", func(t *testing.T) {
		t.Parallel()
		f, err := LoadFabric("../../testdata/ib-topology/psmn-x5/X5.topofile")
		if err != nil {
			t.Fatal(err)
		}
		rep, err := RunFile(filepath.Join(swfDir, "KTH-SP2-1996-2.1-cln.swf.gz"), Options{Fabric: f,
			Policies: []scheduler.Policy{scheduler.EASYPolicy(), scheduler.AlignedPolicy(), scheduler.SizedPolicy(), scheduler.SlowdownPolicy()}})
		if err != nil {
			t.Fatal(err)
		}
		easy := rep.Results[0]
		for i, guard := range []float64{0, 1.8, 1.25, 1} {
			if i == 0 {
				continue
			}
			m := rep.Results[i]
			t.Logf("%s: at leaf LB %.2f%% (easy %.1f%%), bsld %.2f (easy %.2f, guard %.2f times), util %.2f%% (easy %.2f%%)",
				m.Policy, 100*m.AtLB, 100*easy.AtLB, m.MeanBSLD, easy.MeanBSLD, guard, 100*m.Utilization, 100*easy.Utilization)
			if m.AtLB < 0.95 || m.MeanBSLD > guard*easy.MeanBSLD {
				t.Errorf("%s: at leaf LB %.2f%% (goal 95%%), bsld %.2f (guard: %.2f times EASY's %.2f)", m.Policy, 100*m.AtLB, m.MeanBSLD, guard, easy.MeanBSLD)
			}
		}
	})
}

// TestStreamGoals pools 20 synthetic streams (200 jobs of 1-32 nodes on
// 4×16 nodes at 90% load, 20% with --switches=LB@30s). ibex-slowdown
// meets the whole goal: every multi-node job at the leaf bound, at mean
// bounded slowdown 3.64 against EASY's 3.98 (a 9% margin), by ordering
// the queue by expected slowdown. ibex-aligned also places every job at
// the bound, but the jobs are short (20 minutes on average) and half of
// them need two of the four leaves, so backfilling only at the bound idles
// nodes and the waits show in its slowdown (4.75; ibex 4.91): guarded
// against getting worse than 1.25 times EASY's.
func TestStreamGoals(t *testing.T) {
	if testing.Short() {
		t.Skip("20 streams: not with -short")
	}
	var reps []*Report
	for seed := uint64(1); seed <= 20; seed++ {
		rep, err := RunStream(DefaultStream(seed), Options{Policies: []scheduler.Policy{scheduler.EASYPolicy(), scheduler.AlignedPolicy(), scheduler.SlowdownPolicy()}})
		if err != nil {
			t.Fatal(err)
		}
		reps = append(reps, rep)
	}
	p := Pool(reps)
	easy, al := p.Results[0], p.Results[1]
	t.Logf("%s: at leaf LB %s %.1f%% easy %.1f%%; mean bsld %.2f easy %.2f (goal: at most EASY's); util %.1f%% easy %.1f%%",
		p.Trace, al.Policy, 100*al.AtLB, 100*easy.AtLB, al.MeanBSLD, easy.MeanBSLD, 100*al.Utilization, 100*easy.Utilization)
	if al.MultiNode != easy.MultiNode || al.MultiNode < 3500 {
		t.Fatalf("multi-node jobs: %s %d, easy %d", al.Policy, al.MultiNode, easy.MultiNode)
	}
	if al.AtLB < 0.95 {
		t.Errorf("%s placed %.1f%% at the leaf lower bound, want >= 95%%", al.Policy, 100*al.AtLB)
	}
	if al.MeanBSLD > 1.25*easy.MeanBSLD {
		t.Errorf("%s mean bsld %.2f, more than 1.25 times EASY's %.2f", al.Policy, al.MeanBSLD, easy.MeanBSLD)
	}
	sl := p.Results[2]
	t.Logf("%s: at leaf LB %.1f%%, mean bsld %.2f (goal: at most EASY's %.2f), util %.1f%%", sl.Policy, 100*sl.AtLB, sl.MeanBSLD, easy.MeanBSLD, 100*sl.Utilization)
	if sl.AtLB < 0.95 || sl.MeanBSLD > easy.MeanBSLD {
		t.Errorf("%s: at leaf LB %.1f%% (goal 95%%), mean bsld %.2f (goal: at most EASY's %.2f)", sl.Policy, 100*sl.AtLB, sl.MeanBSLD, easy.MeanBSLD)
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
