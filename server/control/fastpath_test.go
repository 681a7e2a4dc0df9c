package control

import (
	"context"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/pkeypool"
	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// endedExec is the fake executor with agentgw's per-job end reports.
type endedExec struct {
	*fakeExec
	hook func(node string, job uint64)
}

func (e *endedExec) OnJobEnded(f func(node string, job uint64)) { e.hook = f }

// A confirmed partition launches its job, and an agent's end report
// finishes it, without another pass of the job loop; while no loop runs
// (not the leader) the events start nothing.
func TestEventsStartTheJobsStepsBetweenPasses(t *testing.T) {
	h := newHarness(t, pkeypool.Pool{}, true)
	ends := &endedExec{fakeExec: h.exec}
	h.loops.jobs.onJobEnded(ends)
	if ends.hook == nil {
		t.Fatal("the job loop did not register for end reports")
	}

	// No loop running: the confirmation launches nothing.
	idle := h.submit("alice", 1, time.Hour)
	h.pass() // allocates, then confirms the partition
	if j := h.job(idle); j.State != model.JobScheduled || !j.PartitionReady || len(h.exec.started) != 0 {
		t.Fatalf("job %d is %s (partition ready %v), started %v: want scheduled and not launched without a running loop", idle, j.State, j.PartitionReady, h.exec.started)
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	h.loops.jobs.setLive(ctx)
	id := h.submit("bob", 1, time.Hour)
	h.loops.jobs.reconcile(ctx) // allocates id (and launches idle)
	h.loops.jobs.steps.wait()
	if j := h.job(id); j.State != model.JobScheduled || j.PartitionReady {
		t.Fatalf("job %d is %s (partition ready %v) after the job pass, want scheduled, partition not yet confirmed", id, j.State, j.PartitionReady)
	}
	select {
	case <-h.loops.parts.kick:
	default:
		t.Fatal("an allocation with a partition key did not kick the partitions loop")
	}
	h.loops.parts.reconcile(ctx) // confirms: the event launches it
	h.loops.jobs.steps.wait()
	j := h.job(id)
	if j.State != model.JobRunning {
		t.Fatalf("job %d is %s after its partition was confirmed, want running without another job pass", id, j.State)
	}

	h.exec.exit(id, j.Nodes[0], 0)
	ends.hook(j.Nodes[0], id)
	h.loops.jobs.steps.wait()
	if got := h.job(id); got.State != model.JobCompleted {
		t.Fatalf("job %d is %s after its end report, want completed without another job pass", id, got.State)
	}
	// A pass's copy from before the end (its watch came second) commits
	// nothing: no refused FinishJob in the log.
	before := h.index()
	h.loops.jobs.watch(ctx, &j)
	if after := h.index(); after != before {
		t.Fatalf("a watch of a job that already ended committed %d entries", after-before)
	}

	// The loop ended (leadership lost): a report starts nothing.
	h.loops.jobs.clearLive()
	h.exec.exit(idle, h.job(idle).Nodes[0], 0)
	ends.hook(h.job(idle).Nodes[0], idle)
	h.loops.jobs.steps.wait()
	if got := h.job(idle); got.State != model.JobRunning {
		t.Fatalf("job %d is %s after a report with no loop running, want running (left to the passes)", idle, got.State)
	}
}

// index is the state's last applied index.
func (h *harness) index() uint64 {
	var i uint64
	h.store.Read(func(st *fsm.State) { i = st.Index })
	return i
}

// exitAtStart is the fake executor whose job ends, and is reported ended,
// as soon as it is started: a tiny job whose agent's end report arrives
// while the launch still commits StartJob.
type exitAtStart struct {
	*fakeExec
	report func(node string, job uint64)
}

func (e *exitAtStart) Start(t Task) error {
	if err := e.fakeExec.Start(t); err != nil {
		return err
	}
	e.exit(t.JobID, t.Node, 0)
	e.report(t.Node, t.JobID)
	return nil
}

// An end report that comes while the job's launch is in flight (the job
// not yet recorded running) is watched right after the launch, not left
// to the next pass.
func TestEndReportDuringTheLaunchIsWatchedAfterIt(t *testing.T) {
	h := newHarness(t, pkeypool.Pool{}, false) // no partition key: the allocation launches at once
	ends := &endedExec{fakeExec: h.exec}
	h.loops.jobs.onJobEnded(ends)
	h.loops.jobs.cfg.Exec = &exitAtStart{fakeExec: h.exec, report: func(node string, job uint64) { ends.hook(node, job) }}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	h.loops.jobs.setLive(ctx)

	id := h.submit("alice", 1, time.Hour)
	h.loops.jobs.reconcile(ctx) // allocates, launches; the report comes during the launch
	h.loops.jobs.steps.wait()
	if j := h.job(id); j.State != model.JobCompleted {
		t.Fatalf("job %d is %s after its end report came during its launch, want completed without another pass", id, j.State)
	}
}
