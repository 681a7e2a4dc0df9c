package control

import (
	"context"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// A hygiene task or hand-out check goes to its agent while the commit that
// records it is in flight, not after: the agent's round trip and the
// commit overlap. The gateway holds the agent's result until the record's
// commit returned, so the result is committed after its record, as before
// (agentgw/ahead.go says why, and what does not change).

// aheadDispatcher is implemented by dispatchers that send a task before it
// is recorded and hold its result until recorded is called
// (agentgw.Gateway.DispatchAhead).
type aheadDispatcher interface {
	DispatchAhead(node string, t *pb.AgentTask) (connected bool, recorded func())
}

// recordAndSend commits record, the command that records task t for node,
// and sends t (when not nil): at once where the dispatcher can hold the
// result for the record, else once the record is in. A record that fails
// sends nothing after it; one sent ahead of it is answered into a refusal
// (the FSM knows no such task).
func (c *jobController) recordAndSend(ctx context.Context, record fsm.Command, node string, t *pb.AgentTask) error {
	if ad, ok := c.cfg.Agents.(aheadDispatcher); ok && t != nil {
		_, recorded := ad.DispatchAhead(node, t)
		defer recorded()
		_, err := c.cfg.Store.Apply(ctx, record)
		return err
	}
	if _, err := c.cfg.Store.Apply(ctx, record); err != nil {
		return err
	}
	if t != nil {
		c.cfg.Agents.Dispatch(node, t)
	}
	return nil
}
