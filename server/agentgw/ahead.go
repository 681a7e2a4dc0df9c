package agentgw

// DispatchAhead sends a hygiene task or hand-out check to the node's agent
// before the leader's commit that records it (fsm.StartTask,
// fsm.StartHandoutCheck) is in, and holds the agent's result until the
// caller says that commit returned (recorded, with or without error): the
// result's own commit then follows the record in the log, as when the
// task was sent after it.
//
// Why: the record's commit and the agent's round trip were one after the
// other for every step of a node's cleaning and for its hand-out check
// (bench/agentpath's "erase sent -> erase done", "firmware sent ->
// firmware done", "handout-check sent -> handout-check done", ~35-45 ms
// each on 64 simulated nodes, of which the record's commit was a third
// to a half). Nothing of the agent's work depends on the commit: the
// task carries its challenge and id, which the leader made before it.
//
// What does not change: the result is judged by the FSM against the
// recorded task, and a result whose record failed is refused there as
// before (no such task). The agent may then have run a task that no
// record names; hygiene steps and checks are safe to run at any time,
// and the ledger only ever shows recorded ones.

import (
	"context"
	"sync"
	"sync/atomic"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// resultGates are the results held until their task's record returned, by
// task id. Its zero value is ready to use.
type resultGates struct {
	mu sync.Mutex
	m  map[string]chan struct{}
	// held counts the results that found their gate closed and waited.
	held atomic.Int64
}

// hold opens a gate for task id and returns the func that releases it.
func (g *resultGates) hold(id string) (release func()) {
	ch := make(chan struct{})
	g.mu.Lock()
	if g.m == nil {
		g.m = map[string]chan struct{}{}
	}
	g.m[id] = ch
	g.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			if g.m[id] == ch {
				delete(g.m, id)
			}
			g.mu.Unlock()
			close(ch)
		})
	}
}

// await waits until task id's result may be committed: its record
// returned, or there was no gate. false: ctx ended first.
func (g *resultGates) await(ctx context.Context, id string) bool {
	g.mu.Lock()
	ch := g.m[id]
	g.mu.Unlock()
	if ch == nil {
		return true
	}
	g.held.Add(1)
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		return false
	}
}

// DispatchAhead is Dispatch with the task's result held until recorded is
// called (control.aheadDispatcher). The caller must call recorded.
func (a *Gateway) DispatchAhead(node string, t *pb.AgentTask) (connected bool, recorded func()) {
	recorded = a.gates.hold(t.Id)
	return a.Dispatch(node, t), recorded
}

// The job loop finds DispatchAhead by this signature (control/ahead.go).
var _ interface {
	DispatchAhead(string, *pb.AgentTask) (bool, func())
} = (*Gateway)(nil)
