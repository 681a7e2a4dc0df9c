package control

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/pkeypool"
	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// scheduled submits a job of n nodes and runs the pass that allocates it.
func (h *harness) scheduled(n int) model.Job {
	h.t.Helper()
	id := h.submit("alice", n, time.Hour)
	h.pass()
	j := h.job(id)
	if j.State != model.JobScheduled {
		h.t.Fatalf("job %d is %s after one pass, want scheduled", id, j.State)
	}
	return j
}

func (h *harness) cancel(id uint64) {
	h.t.Helper()
	h.apply(&fsm.CancelJob{JobID: id, By: "alice", Time: h.store.Now()})
}

// TestCancelledBeforeLaunchIsNeverDispatched: a cancel committed after the
// pass read the state (its view still says "scheduled") starts nothing.
func TestCancelledBeforeLaunchIsNeverDispatched(t *testing.T) {
	h := newHarness(t, pkeypool.Pool{}, false)
	stale := h.scheduled(2)
	h.cancel(stale.ID)
	h.loops.jobs.launch(t.Context(), &stale)
	if len(h.exec.started) != 0 {
		t.Fatalf("started %v for a job cancelled before its launch", h.exec.started)
	}
	if j := h.job(stale.ID); j.State != model.JobCancelled {
		t.Fatalf("job is %s, want cancelled", j.State)
	}
}

// TestCancelDuringLaunchStopsTheRest: a cancel that lands while the first
// node's task is dispatched keeps the other nodes' tasks from leaving.
func TestCancelDuringLaunchStopsTheRest(t *testing.T) {
	h := newHarness(t, pkeypool.Pool{}, false)
	j := h.scheduled(3)
	h.exec.onStart = func(task Task) {
		if task.NodeIndex == 0 {
			h.cancel(task.JobID)
		}
	}
	h.pass()
	if len(h.exec.started) != 1 {
		t.Fatalf("started %v, want only the first node's task (the cancel came during it)", h.exec.started)
	}
	if got := h.job(j.ID); got.State != model.JobCancelled {
		t.Fatalf("job is %s, want cancelled (not marked running)", got.State)
	}
}

// TestTasksCarryTheTerm: every dispatched task carries the term the
// launch decision was taken in, so agents can refuse a deposed leader.
func TestTasksCarryTheTerm(t *testing.T) {
	h := newHarness(t, pkeypool.Pool{}, true)
	h.store.SetTerm(7)
	j := h.scheduled(2)
	h.pass()
	if len(h.exec.tasks) != 2 {
		t.Fatalf("%d tasks dispatched, want 2", len(h.exec.tasks))
	}
	for _, task := range h.exec.tasks {
		if task.Term != 7 || task.PKey != j.PKey || task.PKey == 0 || task.Tenant != "alice" {
			t.Fatalf("task %+v: want term 7, the job's key %#x and tenant alice", task, j.PKey)
		}
	}
	n := h.node(j.Nodes[0])
	wire := h.loops.jobs.agentTask(&n, &model.NodeTask{ID: "x", Kind: model.TaskErase})
	if wire.GetTerm() != 7 {
		t.Fatalf("hygiene task term %d, want 7", wire.GetTerm())
	}
}

// TestDeposedLeaderLaunchesNothing: a leader that lost its role between
// reading the state and launching dispatches nothing.
func TestDeposedLeaderLaunchesNothing(t *testing.T) {
	h := newHarness(t, pkeypool.Pool{}, false)
	j := h.scheduled(1)
	h.store.SetLeader(false)
	h.pass()
	if len(h.exec.started) != 0 {
		t.Fatalf("a deposed leader started %v", h.exec.started)
	}
	if got := h.job(j.ID); got.State != model.JobScheduled {
		t.Fatalf("job is %s", got.State)
	}
}

// TestUnreachableNodeWaitsThenFails: a node whose agent is not connected
// keeps the job scheduled for launchWait, then fails it with the reason.
func TestUnreachableNodeWaitsThenFails(t *testing.T) {
	h := newHarness(t, pkeypool.Pool{}, false)
	j := h.scheduled(1)
	h.exec.failStart[j.Nodes[0]] = fmt.Errorf("%w: the agent of %s is not connected", ErrUnreachable, j.Nodes[0])
	h.pass()
	if got := h.job(j.ID); got.State != model.JobScheduled {
		t.Fatalf("job %s (%s) at the first unreachable launch, want still scheduled", got.State, got.Reason)
	}
	h.store.Advance(launchWait / 2)
	h.pass()
	if got := h.job(j.ID); got.State != model.JobScheduled {
		t.Fatalf("job %s before launchWait", got.State)
	}
	h.store.Advance(launchWait / 2)
	h.pass()
	got := h.job(j.ID)
	if got.State != model.JobFailed || !strings.Contains(got.Reason, "not connected") {
		t.Fatalf("job %s (%q) after launchWait, want failed naming the agent", got.State, got.Reason)
	}
	if len(h.loops.jobs.unreachable) != 0 {
		t.Fatalf("launch-wait clocks left: %v", h.loops.jobs.unreachable)
	}
}

// TestUnreachableThenBack: the agent reconnects within launchWait and the
// job starts.
func TestUnreachableThenBack(t *testing.T) {
	h := newHarness(t, pkeypool.Pool{}, false)
	j := h.scheduled(1)
	h.exec.failStart[j.Nodes[0]] = fmt.Errorf("%w: not connected", ErrUnreachable)
	h.pass()
	delete(h.exec.failStart, j.Nodes[0])
	h.pass()
	if got := h.job(j.ID); got.State != model.JobRunning {
		t.Fatalf("job %s (%s), want running", got.State, got.Reason)
	}
}

// TestRefusedFailsWithTheAgentsReason: an agent that refused the task
// (e.g. the partition key is not in its P_Key table) fails the job with
// its reason, and the other nodes' tasks are killed.
func TestRefusedFailsWithTheAgentsReason(t *testing.T) {
	h := newHarness(t, pkeypool.Pool{}, false)
	j := h.scheduled(2)
	h.pass()
	h.exec.set(j.ID, j.Nodes[1], Status{Phase: Refused, Reason: "partition key 0x8001 not in the P_Key table"})
	h.pass()
	got := h.job(j.ID)
	want := "node " + j.Nodes[1] + " refused to start the job: partition key 0x8001"
	if got.State != model.JobFailed || !strings.Contains(got.Reason, want) {
		t.Fatalf("job %s (%q), want failed with %q", got.State, got.Reason, want)
	}
	if len(h.exec.killed) != 2 {
		t.Fatalf("killed %v, want both nodes", h.exec.killed)
	}
}
