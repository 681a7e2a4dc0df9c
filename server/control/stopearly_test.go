package control

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/pkeypool"
	"github.com/ibex-hpc/ibex/model"
)

// prefetchExec is the fake executor with agentgw's PrefetchClean.
type prefetchExec struct {
	*fakeExec
	mu   sync.Mutex
	asks []string // "job/node"
}

func (e *prefetchExec) PrefetchClean(job uint64, node string) {
	e.mu.Lock()
	e.asks = append(e.asks, key(job, node))
	e.mu.Unlock()
}

func (e *prefetchExec) asked() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.asks)
}

// TestStopAskedWhenTheJobExitedEverywhere: the watch that finds a job
// exited on every node asks for its stop at once (stopearly.go); a job
// that ends any other way (a lost node) is not stopped that way.
func TestStopAskedWhenTheJobExitedEverywhere(t *testing.T) {
	h := newHarness(t, pkeypool.Pool{}, false)
	done := h.submit("alice", 1, time.Hour)
	lost := h.submit("bob", 1, time.Hour)
	h.pass()
	h.pass()
	for _, id := range []uint64{done, lost} {
		if j := h.job(id); j.State != model.JobRunning {
			t.Fatalf("job %d is %s, want running", id, j.State)
		}
	}
	px := &prefetchExec{fakeExec: h.exec}
	h.loops.jobs.cfg.Exec = px
	h.loops.jobs.cfg.Agents = &fakeAgents{disconnected: map[string]bool{}}

	jd, jl := h.job(done), h.job(lost)
	h.exec.exit(done, jd.Nodes[0], 0)
	h.exec.set(lost, jl.Nodes[0], Status{Phase: Lost})
	ctx := t.Context()
	h.loops.jobs.watch(ctx, &jd)
	h.loops.jobs.watch(ctx, &jl)
	h.loops.jobs.steps.wait()
	want := []string{key(done, jd.Nodes[0])}
	for deadline := time.Now().Add(time.Minute); len(px.asked()) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no stop asked for a minute after the job exited on its node")
		}
	}
	time.Sleep(10 * time.Millisecond) // lets a wrong ask for the lost job (also in the background) land
	if got := px.asked(); !slices.Equal(got, want) {
		t.Fatalf("stops asked for %v, want %v", got, want)
	}
	if h.job(done).State != model.JobCompleted || h.job(lost).State != model.JobFailed {
		t.Fatalf("jobs %s and %s, want completed and failed", h.job(done).State, h.job(lost).State)
	}
}
