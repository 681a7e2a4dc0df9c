package control

import (
	"context"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// The next step of a node's cleaning goes to the agent as soon as the one
// before it was sent, not once that one's result is in: the agent runs its
// tasks one at a time, in the order they came, so the firmware step runs
// right after the erase, and its result is already at the gateway, held
// there (agentgw.DispatchAhead), when the chain records it.
//
// Why: each step was a round trip after the last one's result had been
// committed and the chain had woken up for it (bench/agentpath's "erase
// done -> firmware sent" and "firmware sent -> firmware done", ~11 + ~35
// ms on 64 simulated nodes): the agent sat idle in between.
//
// What does not change: the step is recorded (fsm.StartTask, with the
// challenge it was sent with) only once the state says it is the next
// one, after the step before it is recorded done, and its result is
// committed only after that record; the FSM judges it as any step's. Its
// ledger entry's start is when it was sent. When the step before it fails
// or the chain ends first, the step sent ahead is never recorded: the
// gateway lets its result go to a refusal (no such task), and the step is
// sent again, as a new task, when it is due. Hygiene tasks are safe to run
// at any time; the ledger only shows recorded ones.

// nextStep is a step sent ahead of its record.
type nextStep struct {
	task     model.NodeTask
	recorded func() // lets the gateway commit its result
}

// nextSlot is a chain's step sent ahead; nil (a pass's step) sends none.
type nextSlot struct{ s *nextStep }

// take returns the step sent ahead if it is of kind, the step now due;
// one of another kind is given up.
func (x *nextSlot) take(kind model.TaskKind) *nextStep {
	if x == nil || x.s == nil {
		return nil
	}
	s := x.s
	x.s = nil
	if s.task.Kind != kind {
		s.recorded()
		return nil
	}
	return s
}

// drop gives up the step sent ahead, if any.
func (x *nextSlot) drop() {
	if x != nil && x.s != nil {
		x.s.recorded()
		x.s = nil
	}
}

// sendNext sends ahead the step that follows kind, just recorded on node
// name, in its cleaning under policy, into x: none when the dispatcher
// cannot hold results, no step follows, or the next one was given up.
func (c *jobController) sendNext(x *nextSlot, name string, kind model.TaskKind, policy model.CleaningPolicy) {
	if x == nil {
		return
	}
	x.drop()
	ad, ok := c.cfg.Agents.(aheadDispatcher)
	if !ok {
		return
	}
	n := c.readNode(name)
	if n == nil || n.Task == nil || n.Task.Kind != kind {
		return
	}
	next := stepAfter(n, policy, kind)
	if next == "" || model.GaveUp(n, next) {
		return
	}
	var at uint64
	c.cfg.Store.Read(func(st *fsm.State) { at = st.Index })
	task := c.cleanTask(n, next, policy, at)
	task.ID += "/ahead" // never a later step's id: those take later indexes, this one may share one
	t := c.agentTask(n, &task)
	if t == nil {
		return
	}
	_, recorded := ad.DispatchAhead(name, t)
	x.s = &nextStep{task: task, recorded: recorded}
}

// recordSentAhead records step s, now due on node name, then lets its
// result in and sends the step after it ahead.
func (c *jobController) recordSentAhead(ctx context.Context, name string, s *nextStep, x *nextSlot, policy model.CleaningPolicy) cleanOutcome {
	_, err := c.cfg.Store.Apply(ctx, &fsm.StartTask{Node: name, Task: s.task})
	s.recorded()
	if err != nil {
		c.log.Warn("start task", "node", name, "task", s.task.ID, "err", err)
		return cleanIdle
	}
	c.sendNext(x, name, s.task.Kind, policy)
	return cleanWaiting
}

// stepAfter is the first step of n's cleaning under p still to do once
// kind, running now, is done; "" when none.
func stepAfter(n *model.Node, p model.CleaningPolicy, kind model.TaskKind) model.TaskKind {
	for _, k := range p.Steps() {
		if k != kind && !p.StepDone(n, k) {
			return k
		}
	}
	return ""
}
