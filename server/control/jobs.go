package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/scheduler"
)

// jobController is the leader's reconcile loop for jobs and node cleaning.
// Each pass reads a fresh view of the state, compares it with what the
// executor and the agents report, and commits the difference. It keeps no
// state between passes that a successor would need (hygiene retry counts
// are in the FSM; the launch-wait clock restarting is harmless), which is what
// makes a restart or a new leader pick up where the last one stopped.
type jobController struct {
	cfg   Config
	parts *Partitions // nil without a subnet manager
	log   *slog.Logger
	// unreachable is when this leader first found a scheduled job's node
	// unreachable (launchWait); the steps of one pass share it (fanout).
	unreachableMu sync.Mutex
	unreachable   map[uint64]time.Time
	// steps runs launches, watches and cleanings in the background.
	steps *steps
	// nodeCache keeps the scheduler's loading of the nodes between passes
	// that see the same nodes (passnodes.go).
	nodeCache scheduler.NodeCache
	// live is the running loop's context, for steps that events start
	// between passes (fastpath.go).
	live liveLoop
	// nodeWaits wakes the cleaning chains whose node moved (nodewait.go).
	nodeWaits nodeWaits
}

// run reconciles until ctx ends: at every state change and every tick.
// Passes are at least passGap apart (at most minPass), so a burst of
// submissions costs one pass, not one per job. A pass's cost is its own
// work: the wait for its commits (passcommits.go) is not counted in it.
func (c *jobController) run(ctx context.Context) {
	const minPass, minGap = 50 * time.Millisecond, 10 * time.Millisecond
	t := time.NewTicker(c.cfg.Tick)
	defer t.Stop()
	defer c.steps.wait()           // the loop ends when its steps did
	c.setLive(ctx)                 // fastpath.go
	defer c.clearLive()            // before the wait: no event starts a step after it
	ended := jobsEnded(c.cfg.Exec) // cleanchain.go
	for {
		changed := c.cfg.Store.Changed()
		start := time.Now()
		committed := c.pass(ctx)
		took := time.Since(start)
		committed()
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-c.steps.done:
		case <-ended:
		case <-t.C:
		}
		if wait := passGap(took, minGap, minPass) - time.Since(start); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
	}
}

// queueDepth is how many pending jobs one scheduling pass considers, like
// Slurm's default_queue_depth: the cost of a pass stays bounded however
// long the queue grows.
const queueDepth = 1000

// reconcile is one pass, returning once its commits are in.
func (c *jobController) reconcile(ctx context.Context) { c.pass(ctx)() }

// pass is one pass; it returns before the commits of its plan are in, with
// the wait for them (passcommits.go).
func (c *jobController) pass(ctx context.Context) (committed func()) {
	w := c.cfg.Store.Work(queueDepth)
	committed = c.schedule(ctx, w)
	// Jobs and nodes are independent of each other: their steps run in
	// the background, side by side (steps), and the pass does not wait.
	scheduled := 0
	for _, j := range w.Active {
		switch j.State {
		case model.JobScheduled:
			scheduled++
			c.steps.start(stepKey{job: j.ID}, func() { c.launch(ctx, j) })
		case model.JobRunning:
			c.steps.start(stepKey{job: j.ID}, func() { c.watch(ctx, j) })
		}
	}
	c.handoutChecks(ctx, w.Nodes, c.cfg.Store.Now())
	for _, n := range w.Nodes {
		if n.State != model.NodeCleaning {
			continue
		}
		if n.Agent != nil {
			c.steps.start(stepKey{node: n.Name}, func() { c.cleanAgentNode(ctx, n, w.Now) })
		} else {
			c.steps.start(stepKey{node: n.Name}, func() { c.clean(ctx, n) })
		}
	}
	c.unreachableMu.Lock()
	many := len(c.unreachable) > scheduled
	c.unreachableMu.Unlock()
	if many {
		c.forgetUnreachable(w)
	}
	return committed
}

// schedule asks the scheduler for a plan over the head of the queue and
// commits it: node choice from the topology-aware tree, then a partition
// key per allocation. The FSM re-checks both. It returns before the
// commits are in, with the wait for them.
func (c *jobController) schedule(ctx context.Context, w *fsm.Work) (committed func()) {
	var commits commitGroup
	committed = commits.wait
	if len(w.Pending) == 0 {
		return
	}
	start := time.Now()
	defer func() { c.cfg.Metrics.SchedulingPass.Observe(time.Since(start).Seconds()) }()
	now := c.cfg.Store.Now()
	pending, waiting := eligible(w, now) // pipeline.go
	if len(pending) == 0 {
		commits.run(func() { c.recordReasons(ctx, w, waiting) })
		return
	}
	opts := map[uint64]scheduler.JobOptions{}
	for _, j := range pending {
		if j.Switches > 0 || len(j.Features) > 0 || j.Image != "" {
			opts[j.ID] = scheduler.JobOptions{Switches: j.Switches, SwitchWait: j.SwitchWait, SwitchLevel: j.SwitchLevel, Features: j.Features,
				Image: j.Image}
		}
	}
	snap := scheduler.Snapshot{Pending: pending, Running: w.Active, Tree: c.cfg.Fabric.TreeOfWork(w), Options: opts}
	c.setNodes(&snap, w) // passnodes.go
	plan := scheduler.Schedule(snap, c.cfg.Policy, now)
	for id, why := range waiting {
		plan.Reasons[id] = why
	}
	keys := c.cfg.Keys.NewPass(w.Active, w.PKeyReleased, now)
	tenantOf := startedTenants(pending, plan.Start) // passmaps.go
	defer func() { commits.run(func() { c.recordReasons(ctx, w, plan.Reasons) }) }()
	// The plan's allocations touch disjoint nodes: they are committed side
	// by side (raft batches them), after the keys were handed out in plan
	// order.
	for i, a := range plan.Start {
		if !c.handoutReady(ctx, w.Nodes, a.Nodes, now) {
			continue // its nodes are being checked; the next pass allocates
		}
		cmd := &fsm.Allocate{JobID: a.JobID, Nodes: a.Nodes, Links: a.Links, Time: now, PKeyShared: c.cfg.Keys.PerTenant}
		if c.cfg.SM != nil {
			key, shared, err := keys.Key(tenantOf[a.JobID])
			if err != nil {
				c.log.Warn("jobs wait", "err", err)
				for _, rest := range plan.Start[i:] {
					plan.Reasons[rest.JobID] = reasonPartition
				}
				return
			}
			cmd.PKey = key
			if !shared {
				cmd.PKeyCooldown = c.cfg.Keys.Cooldown
			}
		}
		commits.run(func() {
			if _, err := c.cfg.Store.Apply(ctx, cmd); err != nil {
				c.log.Warn("plan rejected", "job", a.JobID, "err", err)
				return
			}
			if cmd.PKey == 0 {
				c.launchNow(cmd.JobID) // nothing to confirm first (fastpath.go)
			} else if c.parts != nil {
				c.parts.Kick() // its partition next (fastpath.go)
			}
		})
	}
	return
}

// reasonPartition: the plan would start the job, but no partition key is
// free (every key is in use or cooling down).
const reasonPartition = "Partition"

// recordReasons commits the pending reasons that changed since the state
// last recorded them, in one command: a queue whose reasons hold still
// costs no raft entries.
func (c *jobController) recordReasons(ctx context.Context, w *fsm.Work, reasons map[uint64]string) {
	changed := changedReasons(w.Pending, reasons) // passmaps.go
	if len(changed) == 0 {
		return
	}
	if _, err := c.cfg.Store.Apply(ctx, &fsm.PendingReasons{Reasons: changed}); err != nil {
		c.log.Warn("record pending reasons", "err", err)
	}
}

// launchWait bounds how long a scheduled job waits for a node whose agent
// is not connected (a stream reconnecting, a leader change) before it
// fails; the liveness loop fails it sooner when the agent is gone.
const launchWait = time.Minute

// launch starts a scheduled job's processes and marks it running.
//
// At most once: the leader's term is read before the job is re-read, so
// "still scheduled" holds in that term, and every task carries it; an
// agent that has seen a later leader refuses the task, and an agent
// journals a task id before it starts anything and never starts it twice.
// So a leader killed between dispatch and StartJob, whose successor
// dispatches again, starts nothing twice, and a job cancelled since this
// pass read the state is never dispatched.
func (c *jobController) launch(ctx context.Context, j *model.Job) {
	if j.PKey != 0 && !j.PartitionReady {
		return // the fabric has not confirmed the job's partition yet
	}
	if why := c.imageUnavailable(j); why != "" {
		c.finish(ctx, j, model.JobFailed, nil, why) // provision.go
		return
	}
	if !c.nodesDeployed(j) {
		return // a node with a BMC is still deploying (provision.go)
	}
	if !c.profilesApplied(ctx, j) {
		return // an agent is applying the job's firmware profile (fwprofile.go)
	}
	// An allocation is dispatched too, with nothing to run: its nodes make
	// the job's directory and cgroup, which execs then join.
	term := c.cfg.Store.Term()
	for i, node := range j.Nodes {
		if !c.stillScheduled(j.ID) {
			c.forget(j.ID)
			return // cancelled or ended since the pass began: never launched
		}
		err := c.cfg.Exec.Start(Task{JobID: j.ID, Tenant: j.Tenant, Node: node, NodeIndex: i, Nodes: j.Nodes,
			Script: j.Script, Argv: j.Argv, PKey: j.PKey, Term: term, TaskEnv: taskEnv(j), Extra: arrayEnv(j)})
		if errors.Is(err, ErrUnreachable) && c.waitForNode(j.ID) {
			c.log.Info("job waits for its node", "job", j.ID, "node", node, "err", err)
			return
		}
		if err != nil {
			c.forget(j.ID)
			c.finish(ctx, j, model.JobFailed, nil, fmt.Sprintf("launch on %s: %v", node, err))
			return
		}
	}
	c.forget(j.ID)
	if _, err := c.cfg.Store.Apply(ctx, &fsm.StartJob{JobID: j.ID, Time: c.cfg.Store.Now()}); err != nil {
		c.log.Warn("start job", "job", j.ID, "err", err)
	}
}

// stillScheduled re-reads the job: the pass's view may be older than a
// cancel committed since.
func (c *jobController) stillScheduled(id uint64) bool {
	ok := false
	c.cfg.Store.Read(func(st *fsm.State) {
		if j := st.Jobs[id]; j != nil {
			ok = j.State == model.JobScheduled
		}
	})
	return ok && c.cfg.Store.IsLeader()
}

// forgetUnreachable drops the launch-wait clocks of jobs no longer
// scheduled (cancelled while waiting).
func (c *jobController) forgetUnreachable(w *fsm.Work) {
	keep := map[uint64]bool{}
	for _, j := range w.Active {
		keep[j.ID] = j.State == model.JobScheduled
	}
	c.unreachableMu.Lock()
	defer c.unreachableMu.Unlock()
	for id := range c.unreachable {
		if !keep[id] {
			delete(c.unreachable, id)
		}
	}
}

// forget drops job id's launch-wait clock.
func (c *jobController) forget(id uint64) {
	c.unreachableMu.Lock()
	delete(c.unreachable, id)
	c.unreachableMu.Unlock()
}

// waitForNode reports whether job id may keep waiting for an unreachable
// node (this leader first saw it unreachable less than launchWait ago).
func (c *jobController) waitForNode(id uint64) bool {
	now := c.cfg.Store.Now()
	c.unreachableMu.Lock()
	defer c.unreachableMu.Unlock()
	since, ok := c.unreachable[id]
	if !ok {
		c.unreachable[id] = now
		return true
	}
	return now.Sub(since) < launchWait
}

// watch ends a running job when its time is up, when every process exited,
// or when a process is lost.
func (c *jobController) watch(ctx context.Context, j *model.Job) {
	if !c.inState(j.ID, model.JobRunning) {
		// Ended since the pass read it (an agent's end report watched
		// it first, fastpath.go): a second FinishJob would only be
		// refused, after costing a raft entry.
		return
	}
	if !c.cfg.Store.Now().Before(j.Deadline()) {
		for _, node := range j.Nodes {
			if err := c.cfg.Exec.Kill(j.ID, node); err != nil {
				c.log.Warn("kill at time limit", "job", j.ID, "node", node, "err", err)
			}
		}
		c.finish(ctx, j, model.JobTimeout, nil, fmt.Sprintf("time limit %s reached", j.TimeLimit))
		return
	}
	if j.Interactive {
		return
	}
	exit, exitNode, done := 0, "", 0
	var usage model.JobUsage
	for _, node := range j.Nodes {
		st, err := c.cfg.Exec.Status(j.ID, node)
		if err != nil {
			c.log.Warn("status", "job", j.ID, "node", node, "err", err)
			return
		}
		switch st.Phase {
		case Exited:
			done++
			if st.ExitCode != 0 && exit == 0 {
				exit, exitNode = st.ExitCode, node
			}
			usage.CPUSeconds += float64(st.CPUUsec) / 1e6
			usage.MemoryPeakBytes = max(usage.MemoryPeakBytes, st.MemoryPeakBytes)
			usage.OutputBytes += st.OutputBytes
		case Lost, NotStarted, Refused:
			for _, other := range j.Nodes {
				_ = c.cfg.Exec.Kill(j.ID, other)
			}
			c.finish(ctx, j, model.JobFailed, nil, failReason(node, st))
			return
		}
	}
	if done < len(j.Nodes) {
		return
	}
	c.prefetchStops(j) // stopearly.go
	if exit != 0 {
		c.finishUsage(ctx, j, model.JobFailed, &exit, fmt.Sprintf("exit code %d on %s", exit, exitNode), &usage)
		return
	}
	c.finishUsage(ctx, j, model.JobCompleted, &exit, "", &usage)
}

// failReason says why node's share of a job failed without an exit code.
func failReason(node string, st Status) string {
	if st.Phase == Refused {
		return fmt.Sprintf("node %s refused to start the job: %s", node, st.Reason)
	}
	r := fmt.Sprintf("the job's process on %s disappeared without an exit status (%s)", node, st.Phase)
	if st.Reason != "" {
		r += ": " + st.Reason
	}
	return r
}

func (c *jobController) finish(ctx context.Context, j *model.Job, st model.JobState, exit *int, reason string) {
	c.finishUsage(ctx, j, st, exit, reason, nil)
}

// finishUsage ends the job with what its processes used (nil: unknown).
func (c *jobController) finishUsage(ctx context.Context, j *model.Job, st model.JobState, exit *int, reason string, usage *model.JobUsage) {
	if _, err := c.cfg.Store.Apply(ctx, &fsm.FinishJob{JobID: j.ID, State: st, ExitCode: exit, Reason: reason, Time: c.cfg.Store.Now(), Usage: usage}); err != nil {
		c.log.Warn("finish job", "job", j.ID, "err", err)
		return
	}
	if c.cfg.Agents != nil {
		c.cleanAfterFinish(ctx, j) // cleanchain.go
	}
	c.log.Info("job ended", "job", j.ID, "state", st, "reason", reason)
}

// clean runs the hygiene step for a node whose job ended.
func (c *jobController) clean(ctx context.Context, n *model.Node) {
	check, gone := c.pkeyCheck(n)
	if !gone {
		return // the released partition key is not yet confirmed gone
	}
	ev, err := c.cfg.Exec.Clean(n.LastJobID, n.Name)
	if err == nil && !c.restoreBIOS(ctx, n) { // biosprofile.go
		return
	}
	if err != nil {
		if !errors.Is(err, ErrInProgress) {
			c.log.Warn("clean", "node", n.Name, "job", n.LastJobID, "err", err)
		}
		return
	}
	if _, err := c.cfg.Store.Apply(ctx, &fsm.NodeCleaned{Node: n.Name, JobID: n.LastJobID, Evidence: ev, PKeyCheck: &check, Time: c.cfg.Store.Now()}); err != nil {
		c.log.Warn("node cleaned", "node", n.Name, "err", err)
	}
}
