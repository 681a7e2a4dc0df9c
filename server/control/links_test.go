package control

import (
	"slices"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/pkeypool"
	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/scheduler"
)

// The controller commits an isolated job's uplinks with its allocation,
// and a second isolated job that would need the same cable waits with
// reason Links while a one-node job behind it backfills (the nodes are
// free: only the cable is not).
// The harness fabric is 2 leaves of 2 nodes under one spine.
func TestIsolatedJobHoldsItsLinks(t *testing.T) {
	h := newHarness(t, pkeypool.Pool{}, false)
	isolated := func() uint64 {
		return h.apply(&fsm.SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 2, TimeLimit: time.Hour, Argv: []string{"true"},
			Isolation: scheduler.IsolationLinks}, Time: h.store.Now()}).(uint64)
	}
	// One free node per leaf: an isolated 2-node job must cross the spine.
	h.apply(&fsm.DrainNode{Node: "node001", Reason: "test", Time: h.store.Now()})
	h.apply(&fsm.DrainNode{Node: "node003", Reason: "test", Time: h.store.Now()})
	a := isolated()
	h.pass()
	ja := h.job(a)
	if ja.State != model.JobScheduled && ja.State != model.JobRunning {
		t.Fatalf("isolated job %d: %s (%s)", a, ja.State, ja.Reason)
	}
	if want := []string{"leaf01>spine01", "leaf02>spine01"}; !slices.Equal(ja.Links, want) {
		t.Fatalf("job %d on %v holds links %v, want %v", a, ja.Nodes, ja.Links, want)
	}
	h.apply(&fsm.UndrainNode{Node: "node001", Time: h.store.Now()})
	h.apply(&fsm.UndrainNode{Node: "node003", Time: h.store.Now()})
	b := isolated()
	h.pass()
	if jb := h.job(b); jb.State != model.JobPending || jb.Reason != scheduler.ReasonLinks {
		t.Fatalf("second isolated job: %s reason %q, want pending with %q", jb.State, jb.Reason, scheduler.ReasonLinks)
	}
	c := h.submit("bob", 1, time.Hour)
	h.pass()
	if jc := h.job(c); jc.State == model.JobPending {
		t.Fatalf("a one-node job should backfill on node001 or node003: %s", jc.Reason)
	}
}
