// Package replica is the seam between ibexd's services and loops and the
// replicated state. Everything above it (the API, the agent gateway, the
// leader's controllers, the launcher) sees six things: commit a command,
// read a consistent view, wait for a change, ask whether this server leads
// and in which term, and read the clock. The running server implements it over raft; tests
// use Memory, a real FSM applied synchronously, with a clock, leadership
// and failures they control.
package replica

import (
	"context"
	"time"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// Store is the replicated state as one server sees it.
type Store interface {
	// Apply commits cmd through raft and returns the FSM's answer. On a
	// follower it fails with *cluster.NotLeaderError.
	Apply(ctx context.Context, cmd fsm.Command) (any, error)
	// Read runs fn on the live state under the read lock: fn must neither
	// keep references nor modify anything.
	Read(fn func(*fsm.State))
	// Work copies what the controllers need (the head of the queue, the
	// active jobs, every node); its cost does not grow with job history.
	Work(queueDepth int) *fsm.Work
	// Changed returns a channel closed at the next applied command.
	Changed() <-chan struct{}
	// IsLeader reports whether this server leads right now.
	IsLeader() bool
	// Term is the raft term this server knows; a leader stamps its tasks
	// to agents with it, and agents refuse tasks of an older term.
	Term() uint64
	// Now is the clock that stamps commands (UTC).
	Now() time.Time
	// ClusterSecrets are the state's CA and gossip key in the clear,
	// opened with this server's key-encryption key (server/secretkey);
	// it fails, saying why, when this server cannot open them.
	ClusterSecrets() (model.ClusterSecrets, error)
}
