package agent

import (
	"strings"
	"time"
)

// Rejoining a restarted server. A server's member knows, when it starts,
// only its seeds (the other servers). Agents that still gossip with each
// other keep their pool and never contact it: after an ibexd restart the
// leader saw none of them, so it could not notice one die (#18: a killed
// agent went unseen for 45 s). So an agent joins the seeds again
//
//   - whenever it sees no server in its pool (all of them died, or were
//     declared dead), every RejoinInterval until it does; and
//   - when its task stream connects anew (RequestJoin): a server that came
//     back faster than the pool declared it dead looks alive to the
//     agents but does not know them.
//
// One agent's join is a full state exchange with the server, which then
// learns every member that agent knows.

// DefaultRejoinInterval is RejoinInterval's default.
const DefaultRejoinInterval = 2 * time.Second

// RequestJoin makes the member join the seeds again soon, and keep trying
// until one join succeeds.
func (g *Gossip) RequestJoin() {
	g.owed.Store(true)
	select {
	case g.poke <- struct{}{}:
	default:
	}
}

// seesServer reports whether a server is in this member's pool.
func (g *Gossip) seesServer() bool {
	self := g.ml.LocalNode().Name
	for _, m := range g.ml.Members() {
		if m.Name != self && strings.HasPrefix(m.Name, g.cfg.ServerPrefix) {
			return true
		}
	}
	return false
}

func (g *Gossip) rejoinLoop() {
	defer g.done.Done()
	t := time.NewTicker(g.cfg.RejoinInterval)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
		case <-g.poke:
		}
		if g.owed.Load() || !g.seesServer() {
			if g.join() {
				g.owed.Store(false)
			}
		}
	}
}
