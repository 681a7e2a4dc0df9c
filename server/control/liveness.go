package control

import (
	"context"
	"fmt"
	"time"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// liveness is the leader's reconcile loop from gossip to raft: an enrolled
// agent that was alive and is no longer in the live membership is marked
// down (its job fails); one that is back is marked up (to cleaning).
// seen (when each agent was last alive) is this leader's memory only: a new
// leader marks an agent down only after it saw it alive itself.
func (l *Loops) liveness(ctx context.Context) {
	seen := map[string]time.Time{}
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		l.livenessPass(ctx, seen)
	}
}

// livenessPass compares the live membership with the nodes once.
func (l *Loops) livenessPass(ctx context.Context, seen map[string]time.Time) {
	store, log := l.cfg.Store, l.cfg.Log
	alive, ok := l.cfg.Gossip.Alive()
	if !ok {
		return
	}
	now := store.Now()
	for _, n := range store.Work(0).Nodes {
		if n.Agent == nil || n.Agent.Revoked {
			continue
		}
		if alive[n.Name] {
			seen[n.Name] = now
		}
		_, wasSeen := seen[n.Name]
		switch {
		case alive[n.Name] && n.State == model.NodeDown:
			if _, err := store.Apply(ctx, &fsm.NodeUp{Node: n.Name, Time: now}); err != nil {
				log.Warn("node up", "node", n.Name, "err", err)
			}
		case !alive[n.Name] && wasSeen && n.State != model.NodeDown && n.State != model.NodeQuarantined:
			reason := fmt.Sprintf("agent left the gossip pool (last seen alive %s ago)", now.Sub(seen[n.Name]).Round(time.Millisecond))
			l.lost(ctx, n, reason) // down, or fenced first (provision.go)
		}
	}
}
