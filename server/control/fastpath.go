package control

import (
	"context"
	"sync"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// Event-driven hand-offs between the loops, so a job's next step does not
// wait for the job loop's next pass.
//
// Why: bench/agentpath's phase table showed a tiny job waiting for a pass
// twice per cycle: after its partition was confirmed ("partition done ->
// job started", the launch) and after its agent reported its end ("job
// started -> job ended", the watch that commits FinishJob). A pass comes
// only after the last one plus passGap (up to minPass when passes are
// slow, as they are with hundreds of jobs queued), and it walks the whole
// state. Here the event itself starts the job's step:
//
//   - a committed Allocate with a partition key kicks the partitions loop
//     for a pass after its least gap instead of its paced one (Kick);
//   - a committed PartitionReady (partitions.go), or an Allocate without a
//     partition key (no subnet manager), starts the job's launch;
//   - an agent's report that the job's process ended (agentgw's
//     OnJobEnded) starts the job's watch.
//
// They are the same steps the passes start (launch and watch re-check
// everything they checked before), under the same step key, so a job is
// never launched or watched twice at once. A launch event that finds a
// step in flight is a no-op (the pass its end triggers goes on); an end
// report is watched right after the step in flight (steps.follow), since
// it usually comes during the job's own launch. The passes
// stay as they were, for whatever an event missed.

// liveLoop is the job loop's context while it runs on the leader; nil
// otherwise. Events that arrive while no loop runs are left to the next
// leader's passes.
type liveLoop struct {
	mu  sync.Mutex
	ctx context.Context
}

// setLive records the running loop's context; clearLive forgets it when
// the loop ends, before it waits for its steps, so no event starts a step
// the wait would miss.
func (c *jobController) setLive(ctx context.Context) {
	c.live.mu.Lock()
	c.live.ctx = ctx
	c.live.mu.Unlock()
}

func (c *jobController) clearLive() {
	c.live.mu.Lock()
	c.live.ctx = nil
	c.live.mu.Unlock()
}

// startNow starts f(ctx, job) as job id's step when the loop runs and the
// job is in state want.
func (c *jobController) startNow(id uint64, want model.JobState, f func(context.Context, *model.Job)) {
	c.live.mu.Lock()
	defer c.live.mu.Unlock()
	ctx := c.live.ctx
	if ctx == nil || ctx.Err() != nil {
		return
	}
	j := c.jobIn(id, want)
	if j == nil {
		return
	}
	c.steps.start(stepKey{job: id}, func() { f(ctx, j) })
}

// launchNow launches job id now if it is scheduled (its partition just
// confirmed, or it has none).
func (c *jobController) launchNow(id uint64) {
	c.startNow(id, model.JobScheduled, c.launch)
}

// watchNow watches job id now if it runs (an agent reported its end), or
// right after the job's step in flight (its launch committing StartJob, a
// pass's watch) if there is one: the report is not dropped because the job
// was busy or not yet recorded running (steps.follow).
func (c *jobController) watchNow(id uint64) {
	c.live.mu.Lock()
	defer c.live.mu.Unlock()
	ctx := c.live.ctx
	if ctx == nil || ctx.Err() != nil {
		return
	}
	c.steps.follow(stepKey{job: id}, func() {
		if j := c.jobIn(id, model.JobRunning); j != nil {
			c.watch(ctx, j)
		}
	})
}

// jobIn is a copy of job id if it is in state want now, else nil.
func (c *jobController) jobIn(id uint64, want model.JobState) *model.Job {
	var j *model.Job
	c.cfg.Store.Read(func(st *fsm.State) {
		if x := st.Jobs[id]; x != nil && x.State == want {
			j = x.Clone()
		}
	})
	return j
}

// inState reports whether job id is in state want now.
func (c *jobController) inState(id uint64, want model.JobState) bool {
	ok := false
	c.cfg.Store.Read(func(st *fsm.State) {
		if j := st.Jobs[id]; j != nil {
			ok = j.State == want
		}
	})
	return ok
}

// onJobEnded registers watchNow with an executor that reports ended jobs
// one by one (agentgw.Executor.OnJobEnded); others are seen by passes.
func (c *jobController) onJobEnded(e Executor) {
	if x, ok := e.(interface {
		OnJobEnded(func(node string, job uint64))
	}); ok {
		x.OnJobEnded(func(_ string, job uint64) { c.watchNow(job) })
	}
}
