package control

import (
	"context"
	"fmt"
	"time"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// The leader's part of the chain of custody: an agent task that never
// answers is given up and recorded as interrupted (fsm.InterruptTask)
// instead of leaving the node cleaning forever with nothing in its
// ledger. Attempts lost with their node, their agent or a quarantine are
// recorded by the state machine itself (fsm/custody.go); the leader's
// server id is stamped into every command by its store.

// DefaultTaskTimeout is how long a cleaning task may run without a
// result before the leader gives it up (Config.TaskTimeout overrides
// it). It is long because an overwrite erase of a large spinning disk
// takes hours; a task lost any faster way (node down, agent replaced)
// is recorded at once.
const DefaultTaskTimeout = 12 * time.Hour

func (c *jobController) taskTimeout() time.Duration {
	if c.cfg.TaskTimeout > 0 {
		return c.cfg.TaskTimeout
	}
	return DefaultTaskTimeout
}

// giveUpOverdue interrupts n's running task if it is past the task
// timeout, and reports whether it did (or tried): the next pass then
// starts the step again with a new task and a fresh challenge, until the
// step's failures reach model.MaxStepFailures and the node is quarantined.
func (c *jobController) giveUpOverdue(ctx context.Context, n *model.Node) bool {
	limit := c.taskTimeout()
	now := c.cfg.Store.Now()
	if now.Sub(n.Task.Started) <= limit {
		return false
	}
	cmd := &fsm.InterruptTask{Node: n.Name, TaskID: n.Task.ID, Time: now,
		Reason: fmt.Sprintf("no result within %s (the task timeout)", limit)}
	if _, err := c.cfg.Store.Apply(ctx, cmd); err != nil {
		c.log.Warn("give up an overdue task", "node", n.Name, "task", n.Task.ID, "err", err)
	}
	return true
}
