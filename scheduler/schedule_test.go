package scheduler

import (
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

const (
	minute = time.Minute
	hour   = time.Hour
)

// easyScenario is the textbook EASY case on 10 nodes (two leaves of five).
// A holds node001-006 until minute 100. Queue: B 8 nodes/50 min, C 4/200,
// D 2/200, E 2/50. B cannot start; at minute 100 all 10 nodes are free, so
// B is promised minute 100 and 2 spare nodes. C is long and needs 4 > 2:
// no. D is long and needs 2 <= 2: yes (spare 0). E ends by minute 50,
// before B starts: yes.
func easyScenario() Snapshot {
	tr, _ := SyntheticTree(10, 5, 0)
	nodes := nodesOf(tr)
	a := run(nodes, 1, "x", 110*minute, -10, "node001", "node002", "node003", "node004", "node005", "node006")
	return Snapshot{
		Tree: tr, Nodes: nodes, Running: []*model.Job{a},
		Pending: []*model.Job{job(2, "x", 8, 50*minute, 1), job(3, "x", 4, 200*minute, 2), job(4, "x", 2, 200*minute, 3), job(5, "x", 2, 50*minute, 4)},
	}
}

func TestScheduleFCFSHeadBlocks(t *testing.T) {
	p := Schedule(easyScenario(), FCFSPolicy(), at(10))
	if len(p.Start) != 0 || p.Hold != nil {
		t.Fatalf("FCFS started %v, hold %v", startedIDs(p), p.Hold)
	}
	if !slices.Equal(p.Order, []uint64{2, 3, 4, 5}) {
		t.Fatalf("order = %v", p.Order)
	}
}

func TestScheduleEASY(t *testing.T) {
	p := Schedule(easyScenario(), EASYPolicy(), at(10))
	got := started(p)
	if !slices.Equal(startedIDs(p), []uint64{4, 5}) {
		t.Fatalf("EASY started %v, want D (4) and E (5)", startedIDs(p))
	}
	if !slices.Equal(got[4], []string{"node007", "node008"}) || !slices.Equal(got[5], []string{"node009", "node010"}) {
		t.Fatalf("nodes = %v", got)
	}
	if p.Hold == nil || p.Hold.JobID != 2 || !p.Hold.At.Equal(at(100)) || p.Hold.Spare != 0 || p.Hold.Nodes != nil {
		t.Fatalf("hold = %+v, want job 2 at minute 100 with 0 spare", p.Hold)
	}
}

// TestScheduleEASYHoldNodes: with node holds, B's 8 nodes at minute 100
// are chosen now. Tightest fit takes leaf02 whole plus three nodes of
// leaf01, busy ones first, so every node free now is held: the long D no
// longer fits, the short E still does (it ends before B starts).
func TestScheduleEASYHoldNodes(t *testing.T) {
	pol := EASYPolicy()
	pol.HoldNodes = true
	p := Schedule(easyScenario(), pol, at(10))
	if !slices.Equal(startedIDs(p), []uint64{5}) {
		t.Fatalf("started %v, want only E (5)", startedIDs(p))
	}
	want := []string{"node001", "node002", "node003", "node006", "node007", "node008", "node009", "node010"}
	if p.Hold == nil || !slices.Equal(p.Hold.Nodes, want) {
		t.Fatalf("hold = %+v, want nodes %v", p.Hold, want)
	}
}

// TestScheduleUnknownReleaseBlocks: allocated nodes whose job is missing
// from Running might never come back, so no promise can be made and
// nothing overtakes the head.
func TestScheduleUnknownReleaseBlocks(t *testing.T) {
	s := easyScenario()
	s.Running = nil
	if p := Schedule(s, EASYPolicy(), at(10)); len(p.Start) != 0 {
		t.Fatalf("started %v without knowing when nodes come back", startedIDs(p))
	}
}

// TestScheduleSkipsImpossibleHead: a job larger than the nodes that are up
// must not hold back the queue under backfill (it does under FCFS).
func TestScheduleSkipsImpossibleHead(t *testing.T) {
	tr := mustTree(t, 8, 4, 0)
	nodes := nodesOf(tr)
	nodes[0].Drained = true
	s := Snapshot{Tree: tr, Nodes: nodes, Pending: []*model.Job{job(1, "x", 8, hour, 0), job(2, "x", 1, hour, 1)}}
	if p := Schedule(s, EASYPolicy(), at(5)); !slices.Equal(startedIDs(p), []uint64{2}) {
		t.Fatalf("EASY started %v, want [2]", startedIDs(p))
	}
	if p := Schedule(s, FCFSPolicy(), at(5)); len(p.Start) != 0 {
		t.Fatalf("FCFS started %v", startedIDs(p))
	}
}

// TestPriorityAgeAndFairshare computes the multifactor order by hand.
// Usage (no decay): alice 300, bob 100, carol 0 node-seconds; ΣU = 400;
// equal shares (1/3 each). F = 2^-(U/ΣU · 3): alice 2^-2.25 = 0.2102,
// bob 2^-0.75 = 0.5946, carol 1. Ages over AgeMax 100 min: a1 50 min
// (0.5), b1 10 min (0.1), c1 0.
//
//	FairshareWeight 10000: a1 500+2102, b1 100+5946, c1 10000 -> c1 b1 a1
//	FairshareWeight  1000: a1 500+210,  b1 100+595,  c1 1000  -> c1 a1 b1
func TestPriorityAgeAndFairshare(t *testing.T) {
	tr := mustTree(t, 4, 4, 0)
	s := Snapshot{Tree: tr, Nodes: nodesOf(tr),
		Pending: []*model.Job{job(1, "alice", 8, hour, -50), job(2, "bob", 8, hour, -10), job(3, "carol", 8, hour, 0)},
		Usage:   &Usage{At: t0, NodeSeconds: map[string]float64{"alice": 300, "bob": 100}},
	}
	pol := Policy{Order: OrderPriority, AgeWeight: 1000, AgeMax: 100 * minute, FairshareWeight: 10000}
	if p := Schedule(s, pol, t0); !slices.Equal(p.Order, []uint64{3, 2, 1}) {
		t.Fatalf("order = %v, want [3 2 1]", p.Order)
	}
	pol.FairshareWeight = 1000
	if p := Schedule(s, pol, t0); !slices.Equal(p.Order, []uint64{3, 1, 2}) {
		t.Fatalf("order = %v, want [3 1 2]", p.Order)
	}
	fs := fairshare(&s, pol, t0)
	for tenant, want := range map[string]float64{"alice": math.Exp2(-2.25), "bob": math.Exp2(-0.75), "carol": 1} {
		if math.Abs(fs[tenant]-want) > 1e-12 {
			t.Errorf("F(%s) = %v, want %v", tenant, fs[tenant], want)
		}
	}
}

// TestUsageDecay: one node for one hour, half-life one hour, seen at the
// end: ∫0..3600 2^-(3600-t)/3600 dt = 3600/ln2 · (1 - 1/2) = 2596.95 s.
// An hour later it is worth half of that.
func TestUsageDecay(t *testing.T) {
	u := NewUsage(hour)
	u.Add("alice", 1, t0, t0.Add(hour))
	want := 3600 / math.Ln2 * 0.5
	if got := u.NodeSeconds["alice"]; math.Abs(got-want) > 1e-6 {
		t.Fatalf("usage = %v, want %v", got, want)
	}
	u.Add("bob", 2, t0.Add(hour), t0.Add(2*hour))
	if got := u.NodeSeconds["alice"]; math.Abs(got-want/2) > 1e-6 {
		t.Fatalf("alice after an hour = %v, want %v", got, want/2)
	}
	if got := u.NodeSeconds["bob"]; math.Abs(got-2*want) > 1e-6 {
		t.Fatalf("bob = %v, want %v", got, 2*want)
	}
	jobs := []*model.Job{{Tenant: "alice", State: model.JobCompleted, StartTime: t0, EndTime: t0.Add(hour), Nodes: []string{"n1"}}}
	if got := UsageFromJobs(jobs, t0.Add(2*hour), hour).NodeSeconds["alice"]; math.Abs(got-want/2) > 1e-6 {
		t.Fatalf("UsageFromJobs = %v, want %v", got, want/2)
	}
	// Running jobs count up to now: alice runs 1 node for the last hour.
	s := Snapshot{Running: []*model.Job{{Tenant: "alice", StartTime: t0, Nodes: []string{"n1"}}}, Pending: []*model.Job{{Tenant: "bob"}, {Tenant: "alice"}}}
	fs := fairshare(&s, Policy{HalfLife: hour}, t0.Add(hour))
	if math.Abs(fs["alice"]-math.Exp2(-2)) > 1e-12 || fs["bob"] != 1 {
		t.Fatalf("fair share with a running job = %v", fs)
	}
}

// reservationScenario: 8 nodes on two leaves; alice books 4 nodes from
// minute 60 to 120; bob queues J1 4 nodes/90 min, J3 2/100, J2 4/30.
func reservationScenario() Snapshot {
	tr, _ := SyntheticTree(8, 4, 0)
	return Snapshot{Tree: tr, Nodes: nodesOf(tr),
		Reservations: []Reservation{{Name: "R", Tenant: "alice", Nodes: 4, Start: at(60), End: at(120)}},
		Pending:      []*model.Job{job(1, "bob", 4, 90*minute, 1), job(3, "bob", 2, 100*minute, 2), job(2, "bob", 4, 30*minute, 3)},
	}
}

// TestReservationBackfill: R is pinned to leaf01. J1 would overlap R, so
// it goes to leaf02. J3 (100 min) would overlap R too and nothing else is
// free: it becomes the head, promised minute 90 when J1 ends. J2 ends at
// minute 30, before R starts, so it may use R's nodes now.
func TestReservationBackfill(t *testing.T) {
	p := Schedule(reservationScenario(), EASYPolicy(), t0)
	if len(p.Pins) != 1 || !slices.Equal(p.Pins[0].Nodes, []string{"node001", "node002", "node003", "node004"}) {
		t.Fatalf("pins = %+v", p.Pins)
	}
	got := started(p)
	if !slices.Equal(startedIDs(p), []uint64{1, 2}) || !slices.Equal(got[1], []string{"node005", "node006", "node007", "node008"}) ||
		!slices.Equal(got[2], []string{"node001", "node002", "node003", "node004"}) {
		t.Fatalf("started %v", got)
	}
	if p.Hold == nil || p.Hold.JobID != 3 || !p.Hold.At.Equal(at(90)) {
		t.Fatalf("hold = %+v, want job 3 at minute 90", p.Hold)
	}
}

// TestReservationActive: during R only alice's jobs naming it run on its
// nodes, and only if they end by R's end.
func TestReservationActive(t *testing.T) {
	s := reservationScenario()
	s.Reservations[0].Hosts = []string{"node001", "node002", "node003", "node004"}
	s.Pending = []*model.Job{job(10, "bob", 6, 10*minute, 61), job(11, "alice", 2, 30*minute, 62), job(12, "alice", 2, 90*minute, 63), job(13, "alice", 1, 10*minute, 64)}
	s.Options = map[uint64]JobOptions{11: {Reservation: "R"}, 12: {Reservation: "R"}}
	p := Schedule(s, EASYPolicy(), at(70))
	got := started(p)
	if !slices.Equal(startedIDs(p), []uint64{11, 13}) || !slices.Equal(got[11], []string{"node001", "node002"}) || !slices.Equal(got[13], []string{"node005"}) {
		t.Fatalf("started %v, want 11 in R and 13 outside", got)
	}
}

// TestSwitchesWait: 4 nodes with at most 1 leaf wait (10 min) while every
// leaf has only 2 free, then take two leaves.
func TestSwitchesWait(t *testing.T) {
	tr := mustTree(t, 8, 4, 0)
	nodes := nodesOf(tr)
	a := run(nodes, 1, "x", 10*hour, -30, "node001", "node002", "node005", "node006")
	s := Snapshot{Tree: tr, Nodes: nodes, Running: []*model.Job{a},
		Pending: []*model.Job{job(2, "x", 4, hour, -5)},
		Options: map[uint64]JobOptions{2: {Switches: 1, SwitchWait: 10 * minute}}}
	if p := Schedule(s, FCFSPolicy(), t0); len(p.Start) != 0 {
		t.Fatalf("started before the switch wait ran out: %v", started(p))
	}
	p := Schedule(s, EASYPolicy(), t0)
	if len(p.Start) != 0 || p.Hold == nil || !p.Hold.At.Equal(at(5)) {
		t.Fatalf("EASY: started %v, hold %+v; want a hold at minute 5 (wait expiry)", startedIDs(p), p.Hold)
	}
	if p := Schedule(s, FCFSPolicy(), at(6)); len(p.Start) != 1 || tr.LeavesSpanned(p.Start[0].Nodes) != 2 {
		t.Fatalf("after the wait: %v", started(p))
	}
}

// TestSchedulePure: the snapshot is not modified and the same input gives
// the same plan.
func TestSchedulePure(t *testing.T) {
	s := easyScenario()
	before := make([]model.Node, len(s.Nodes))
	for i, n := range s.Nodes {
		before[i] = *n
	}
	p1 := Schedule(s, IbexPolicy(), at(10))
	p2 := Schedule(s, IbexPolicy(), at(10))
	if !reflect.DeepEqual(p1, p2) {
		t.Fatalf("two passes differ:\n%+v\n%+v", p1, p2)
	}
	for i, n := range s.Nodes {
		if !reflect.DeepEqual(*n, before[i]) {
			t.Fatalf("node %s changed", n.Name)
		}
	}
}

// TestScheduleNeverDoubleBooks runs random snapshots through every policy:
// no node twice, only free nodes, exact sizes, and no job that ends after
// a reservation starts on its nodes.
func TestScheduleNeverDoubleBooks(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for iter := range 200 {
		tr := mustTree(t, 8+rng.IntN(120), 1+rng.IntN(16), rng.IntN(4))
		nodes := nodesOf(tr)
		var running, pending []*model.Job
		id := uint64(1)
		for i := 0; i < len(nodes); {
			k := 1 + rng.IntN(6)
			if i+k > len(nodes) || rng.IntN(3) == 0 {
				i++
				continue
			}
			var hs []string
			for _, n := range nodes[i : i+k] {
				hs = append(hs, n.Name)
			}
			running = append(running, run(nodes, id, "t", time.Duration(1+rng.IntN(300))*minute, -float64(rng.IntN(60)), hs...))
			id++
			i += k
		}
		for range 1 + rng.IntN(30) {
			pending = append(pending, job(id, []string{"a", "b", "c"}[rng.IntN(3)], 1+rng.IntN(len(nodes)), time.Duration(1+rng.IntN(300))*minute, -float64(rng.IntN(100))))
			id++
		}
		s := Snapshot{Tree: tr, Nodes: nodes, Running: running, Pending: pending,
			Reservations: []Reservation{{Name: "R", Tenant: "a", Nodes: 1 + rng.IntN(4), Start: at(float64(rng.IntN(200))), End: at(400)}}}
		for _, pol := range Policies() {
			p := Schedule(s, pol, t0)
			used := map[string]bool{}
			resv := map[string]bool{}
			for _, pin := range p.Pins {
				for _, n := range pin.Nodes {
					resv[n] = true
				}
			}
			for _, a := range p.Start {
				var j *model.Job
				for _, pj := range pending {
					if pj.ID == a.JobID {
						j = pj
					}
				}
				if len(a.Nodes) != j.NumNodes {
					t.Fatalf("iter %d %s: job %d got %d nodes, wants %d", iter, pol.Name, j.ID, len(a.Nodes), j.NumNodes)
				}
				for _, n := range a.Nodes {
					if used[n] {
						t.Fatalf("iter %d %s: %s twice", iter, pol.Name, n)
					}
					used[n] = true
					if resv[n] && t0.Add(j.TimeLimit).After(s.Reservations[0].Start) {
						t.Fatalf("iter %d %s: job %d on reserved %s past the start", iter, pol.Name, j.ID, n)
					}
					for _, nd := range nodes {
						if nd.Name == n && !nd.Schedulable() {
							t.Fatalf("iter %d %s: %s is %s", iter, pol.Name, n, nd.State)
						}
					}
				}
			}
		}
	}
}

// TestPendingReasons: every pending job that does not start gets Slurm's
// reason: the first that does not fit "Resources", the ones behind it
// "Priority", a job waiting for its switch limit "Switches", and a job
// asking for features too few nodes carry "Constraint".
func TestPendingReasons(t *testing.T) {
	p := Schedule(easyScenario(), FCFSPolicy(), at(10))
	want := map[uint64]string{2: ReasonResources, 3: ReasonPriority, 4: ReasonPriority, 5: ReasonPriority}
	if !reflect.DeepEqual(p.Reasons, want) {
		t.Fatalf("FCFS reasons = %v, want %v", p.Reasons, want)
	}
	p = Schedule(easyScenario(), EASYPolicy(), at(10))
	want = map[uint64]string{2: ReasonResources, 3: ReasonPriority} // 4 and 5 start
	if !reflect.DeepEqual(p.Reasons, want) {
		t.Fatalf("EASY reasons = %v, want %v", p.Reasons, want)
	}

	tr := mustTree(t, 8, 4, 0)
	nodes := nodesOf(tr)
	a := run(nodes, 1, "x", 10*hour, -30, "node001", "node002", "node005", "node006")
	s := Snapshot{Tree: tr, Nodes: nodes, Running: []*model.Job{a},
		Pending: []*model.Job{job(2, "x", 4, hour, -5)},
		Options: map[uint64]JobOptions{2: {Switches: 1, SwitchWait: 10 * minute}}}
	if p := Schedule(s, FCFSPolicy(), t0); p.Reasons[2] != ReasonSwitches {
		t.Fatalf("switch-limited job: reason %q, want %q", p.Reasons[2], ReasonSwitches)
	}
	s.Options = map[uint64]JobOptions{2: {Features: []string{"gpu"}}}
	if p := Schedule(s, EASYPolicy(), t0); p.Reasons[2] != ReasonConstraint {
		t.Fatalf("job for a feature no node has: reason %q, want %q", p.Reasons[2], ReasonConstraint)
	}
}
