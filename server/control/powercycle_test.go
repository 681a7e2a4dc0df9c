package control

import (
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// TestPowerCycleMarkSurvivesTheLeader: a BIOS reset is marked in the
// replicated state, so a leader that did not start it (a failover mid
// power cycle: the mark is all it knows) leaves the node alone while its
// agent is away, instead of fencing it and failing the job; once the mark
// runs out the node is fenced as any lost node is.
func TestPowerCycleMarkSurvivesTheLeader(t *testing.T) {
	h := newProvHarness(t, 1, 2, nil)
	// The previous leader marked the reset and went away.
	id, pass := loseRunningNode(t, h, func() {
		now := h.store.Now()
		h.apply(&fsm.PowerCycle{Node: "node001", Until: now.Add(5 * time.Minute), Time: now})
	}, time.Minute)
	if n, j := h.node("node001"), h.job(id); n.State != model.NodeAllocated || n.Prov.State == model.ProvFencing || j.State != model.JobRunning {
		t.Fatalf("power-cycling node: %s/%s, job %s: the mark must keep the liveness loop away", n.State, n.Prov.State, j.State)
	}
	// The mark runs out with the agent still gone: lost like any node.
	h.store.Advance(5 * time.Minute)
	pass()
	if n := h.node("node001"); n.Prov.State != model.ProvFencing {
		t.Fatalf("after the mark: %s/%s, want fencing", n.State, n.Prov.State)
	}
}

// TestBIOSResetLeavesAShortMark: the leader's own BIOS apply marks the
// reset and, with the agent back, leaves only rebootGrace of it.
func TestBIOSResetLeavesAShortMark(t *testing.T) {
	h, _, id := biosHarness(t)
	h.settle()
	if j := h.job(id); j.State != model.JobRunning {
		t.Fatalf("job %s (%s); %s", j.State, j.Reason, h)
	}
	n := h.node("node001")
	if n.PowerCycleUntil == nil {
		t.Fatal("no power cycle mark after the BIOS reset")
	}
	if left := n.PowerCycleUntil.Sub(h.store.Now()); left <= 0 || left > rebootGrace {
		t.Fatalf("mark runs %s more, want at most the grace %s", left, rebootGrace)
	}
}
