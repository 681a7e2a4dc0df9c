package control

import (
	"context"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/pkeypool"
	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/replica"
)

// heldAllocations is a Store whose Allocate commits wait for release.
type heldAllocations struct {
	replica.Store
	release chan struct{}
}

func (s *heldAllocations) Apply(ctx context.Context, cmd fsm.Command) (any, error) {
	if _, ok := cmd.(*fsm.Allocate); ok {
		<-s.release
	}
	return s.Store.Apply(ctx, cmd)
}

// A pass returns before its allocations are committed, with the wait for
// them: the loop's pacing counts the pass's work, not its commits'
// latency, and still starts the next pass only after they are in.
func TestPassReturnsBeforeItsCommitsWithTheirWait(t *testing.T) {
	h := newHarness(t, pkeypool.Pool{}, false)
	held := &heldAllocations{Store: h.store, release: make(chan struct{})}
	h.loops.jobs.cfg.Store = held
	id := h.submit("alice", 1, time.Hour)

	returned := make(chan func())
	go func() { returned <- h.loops.jobs.pass(context.Background()) }()
	var committed func()
	select {
	case committed = <-returned:
	case <-time.After(20 * time.Second):
		close(held.release)
		t.Fatal("the pass waited for its allocation's commit")
	}
	if j := h.job(id); j.State != model.JobPending {
		t.Fatalf("job %d is %s while its allocation is held, want pending", id, j.State)
	}
	close(held.release)
	committed()
	if j := h.job(id); j.State == model.JobPending {
		t.Fatalf("job %d is still pending after the pass's commits were waited for", id)
	}
	h.loops.jobs.steps.wait()
}
