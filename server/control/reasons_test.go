package control

import (
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/pkeypool"
	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// TestPendingReasonsRecorded: jobs that wait say why, and a queue whose
// reasons do not change costs no further raft entries.
func TestPendingReasonsRecorded(t *testing.T) {
	h := newHarness(t, pkeypool.Pool{}, false)
	h.submit("alice", 4, time.Hour) // takes the whole cluster
	b := h.submit("bob", 2, time.Hour)
	c := h.submit("bob", 1, time.Hour)
	h.store.Applied()
	h.pass()
	if rb, rc := h.job(b).Reason, h.job(c).Reason; rb != "Resources" || rc != "Priority" {
		t.Fatalf("reasons b=%q c=%q, want Resources and Priority", rb, rc)
	}
	h.store.Applied()
	h.pass()
	h.pass()
	for _, cmd := range h.store.Applied() {
		if _, ok := cmd.(*fsm.PendingReasons); ok {
			t.Fatalf("unchanged reasons committed again: %+v", cmd)
		}
	}
}

// TestPartitionReason: a job the plan would start waits for a free key,
// and says so.
func TestPartitionReason(t *testing.T) {
	h := newHarness(t, pkeypool.Pool{Min: 0x2000, Max: 0x2000, Cooldown: time.Minute}, true)
	h.submit("alice", 1, time.Hour)
	b := h.submit("bob", 1, time.Hour)
	h.pass()
	if r := h.job(b).Reason; r != reasonPartition {
		t.Fatalf("job waiting for a partition key: reason %q, want %q", r, reasonPartition)
	}
}

// TestUsageInTheJobRecord: what the nodes measured in the job's cgroups
// (CPU summed, the largest memory peak, output summed) is in the job
// record when it ends.
func TestUsageInTheJobRecord(t *testing.T) {
	h := newHarness(t, pkeypool.Pool{}, false)
	id := h.submit("alice", 2, time.Hour)
	h.pass()
	h.pass()
	j := h.job(id)
	if j.State != model.JobRunning {
		t.Fatalf("job %s, want running", j.State)
	}
	h.exec.set(id, j.Nodes[0], Status{Phase: Exited, CPUUsec: 1_500_000, MemoryPeakBytes: 10 << 20, OutputBytes: 100})
	h.exec.set(id, j.Nodes[1], Status{Phase: Exited, CPUUsec: 500_000, MemoryPeakBytes: 30 << 20, OutputBytes: 20})
	h.pass()
	j = h.job(id)
	want := model.JobUsage{CPUSeconds: 2, MemoryPeakBytes: 30 << 20, OutputBytes: 120}
	if j.State != model.JobCompleted || j.Usage == nil || *j.Usage != want {
		t.Fatalf("job %s usage %+v, want completed with %+v", j.State, j.Usage, want)
	}
}
