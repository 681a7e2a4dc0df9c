package scheduler

import (
	"slices"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// TestSlowdownPriority computes the expected-slowdown order by hand. One
// tenant, so fair share is equal for all; no age weight. At t0:
//
//	1: 2 h limit, waited 60 min:  X = (60+120)/120 = 1.5
//	2: 10 min limit, waited 20 min: X = (20+10)/10 = 3
//	3: 30 min limit, waited 30 min: X = (30+30)/30 = 2
//	4: no limit, waited 300 min:    X = 1 (not estimable)
//	5: 1 s limit, waited 1 min:     X = (60+10)/10 = 7 (the 10 s floor)
//
// Order 5 2 3 1 4; with SlowdownMax 2.5, jobs 5 and 2 tie with each other
// at 2.5 and fall back to submission order (2 before 5), then 3, 1, 4.
func TestSlowdownPriority(t *testing.T) {
	tr := mustTree(t, 4, 4, 0)
	j5 := job(5, "a", 1, time.Second, -1)
	s := Snapshot{Tree: tr, Nodes: nodesOf(tr), Pending: []*model.Job{
		job(1, "a", 8, 2*hour, -60), job(2, "a", 8, 10*minute, -20), job(3, "a", 8, 30*minute, -30),
		job(4, "a", 8, 0, -300), j5}}
	pol := Policy{Order: OrderPriority, FairshareWeight: 10000, SlowdownWeight: 1000}
	if p := Schedule(s, pol, t0); !slices.Equal(p.Order, []uint64{5, 2, 3, 1, 4}) {
		t.Fatalf("order = %v, want [5 2 3 1 4]", p.Order)
	}
	pol.SlowdownMax = 2.5
	if p := Schedule(s, pol, t0); !slices.Equal(p.Order, []uint64{2, 5, 3, 1, 4}) {
		t.Fatalf("capped order = %v, want [2 5 3 1 4]", p.Order)
	}
	for _, c := range []struct {
		j    *model.Job
		cap  float64
		want float64
	}{{s.Pending[0], 0, 1.5}, {s.Pending[1], 0, 3}, {s.Pending[3], 0, 1}, {j5, 0, 7}, {j5, 4, 4}} {
		if got := expectedSlowdown(c.j, t0, c.cap); got != c.want {
			t.Errorf("job %d cap %v: X = %v, want %v", c.j.ID, c.cap, got, c.want)
		}
	}
	// A job submitted in the future (clock skew) has waited nothing.
	if got := expectedSlowdown(job(6, "a", 1, 10*minute, 5), t0, 0); got != 1 {
		t.Errorf("future submission: X = %v, want 1", got)
	}
}
