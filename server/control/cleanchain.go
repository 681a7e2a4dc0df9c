package control

import (
	"context"
	"time"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// A node's cleaning as one chain of steps rather than one step per pass.
//
// Why: bench/agentpath's phase table (the node ledgers' timestamps) showed
// a tiny job's node cycle on 64 simulated nodes at ~2.1 s, of which every
// hop of the cleaning (stop recorded → erase sent, erase done → firmware
// sent, firmware done → cleaned, cleaned → hand-out check sent) waited for
// the next pass of the job loop: ~60-150 ms each under load, a pass being
// at least passGap after the last and as slow as the whole queue. Here
// the node's step goroutine takes the next step as soon as the state
// shows the last one's result (Store.Changed, not a poll), and once the
// node is clean it starts the hand-out check right away, so a plan that
// picks the node finds a fresh check instead of waiting for one.
//
// Nothing of the hygiene changes: the same steps in the same order, each
// recorded by the FSM, which still checks the evidence; the hand-out check
// is the same check, and the scheduler still uses it only while it is
// fresh (model.HandoutFresh) and the node's latest ledger entry.

// cleanOutcome is what one cleaning step did.
type cleanOutcome int

const (
	// cleanIdle: nothing to wait for here (an error, a key not yet
	// observed gone, a revoked agent); a later pass goes on.
	cleanIdle cleanOutcome = iota
	// cleanWaiting: a task is with the agent or a step was recorded; the
	// next step follows once the state changed.
	cleanWaiting
	// cleanDone: NodeCleaned is committed.
	cleanDone
)

// chainWait bounds one wait of a chain for the state to move (an agent's
// result); past it the step ends and the passes take over, as for a slow
// real disk erase.
const chainWait = 2 * time.Second

// cleanAgentNode cleans n step after step while each step's result comes
// in within chainWait, then starts its hand-out check.
func (c *jobController) cleanAgentNode(ctx context.Context, n *model.Node, at uint64) {
	for {
		mark := progressMark(n)
		switch c.cleanAgentStep(ctx, n, at) {
		case cleanIdle:
			return
		case cleanDone:
			c.precheckHandout(ctx, n.Name)
			return
		}
		next := c.awaitNode(ctx, n.Name, mark)
		if next == nil {
			return
		}
		if next.State != model.NodeCleaning {
			if next.State == model.NodeReady {
				c.precheckHandout(ctx, n.Name)
			}
			return
		}
		n = next
		c.cfg.Store.Read(func(st *fsm.State) { at = st.Index }) // task ids unique per step, as the passes made them
	}
}

// mark is what of a cleaning node moves when one of its steps did.
type mark struct {
	state   model.NodeState
	seq     uint64
	task    string
	stopped uint64
}

func progressMark(n *model.Node) mark {
	m := mark{state: n.State, seq: n.LedgerSeq, stopped: n.StoppedJob}
	if n.Task != nil {
		m.task = n.Task.ID
	}
	return m
}

// awaitNode waits until node's progress mark differs from m and returns
// the node then; nil when ctx ended, chainWait (Config.CleanChainWait) passed, the node is gone
// or this server no longer leads. The commits that move the node are
// watched by one goroutine for every waiting chain (nodewait.go).
func (c *jobController) awaitNode(ctx context.Context, name string, m mark) *model.Node {
	wait := c.cfg.CleanChainWait
	if wait <= 0 {
		wait = chainWait
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	x := c.nodeWaits.add(c.cfg.Store, name, m)
	defer c.nodeWaits.remove(x)
	// A commit between the caller's step and add is not the loop's to see.
	moved := true
	c.cfg.Store.Read(func(st *fsm.State) {
		if n := st.Nodes[name]; n != nil {
			moved = progressMark(n) != m
		}
	})
	if !moved {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			return nil
		case <-x.ch:
		}
	}
	if !c.cfg.Store.IsLeader() {
		return nil
	}
	return c.readNode(name)
}

// readNode is a copy of the node named name, or nil.
func (c *jobController) readNode(name string) *model.Node {
	var out *model.Node
	c.cfg.Store.Read(func(st *fsm.State) {
		if n := st.Nodes[name]; n != nil {
			out = n.Clone()
		}
	})
	return out
}

// precheckHandout starts the hand-out check of a node that just became
// ready while jobs wait, so the next plan, which will take the node, finds
// the check done; not when no job waits (the plan that picks the node
// later checks it then, as before: a check done now would be up to
// HandoutFresh old by then), nor when the node has one running or fresh,
// or its agent cannot be reached from here. The check is the same, taken
// after the last tenant's stop and cleaning, with no tenant on the node
// between it and the allocation; the scheduler uses it only under the
// rule it uses for any check (fresh, and still the node's latest ledger
// entry).
func (c *jobController) precheckHandout(ctx context.Context, name string) {
	if c.cfg.Agents == nil {
		return
	}
	n := c.readNode(name)
	if n == nil || n.Agent == nil || n.Agent.Revoked || n.State != model.NodeReady {
		return
	}
	if ca, ok := c.cfg.Agents.(connectedAgents); ok && !ca.Connected(name) {
		return
	}
	pending := false
	c.cfg.Store.Read(func(st *fsm.State) { pending = st.HasPending() })
	if !pending {
		return // nothing would take it now: the plan that picks it checks it then
	}
	now := c.cfg.Store.Now()
	if h := n.Handout; h != nil && (h.Passed.IsZero() || (h.Seq == n.LedgerSeq && now.Sub(h.Passed) < model.HandoutFresh-handoutMargin)) {
		return // running, or fresh and still the latest entry
	}
	c.startHandout(ctx, n, now)
}

// cleanAfterFinish starts the cleaning of a finished job's agent nodes at
// once, instead of at the next pass.
func (c *jobController) cleanAfterFinish(ctx context.Context, j *model.Job) {
	for _, name := range j.Nodes {
		c.steps.start(stepKey{node: name}, func() {
			n := c.readNode(name)
			if n == nil || n.Agent == nil || n.State != model.NodeCleaning {
				return
			}
			var at uint64
			c.cfg.Store.Read(func(st *fsm.State) { at = st.Index })
			c.cleanAgentNode(ctx, n, at)
		})
	}
}

// jobsEnded is the executor's signal that an agent reported a job's end
// (agentgw.Executor), or nil (never ready) for executors without one.
func jobsEnded(e Executor) <-chan struct{} {
	if x, ok := e.(interface{ JobsEnded() <-chan struct{} }); ok {
		return x.JobsEnded()
	}
	return nil
}
