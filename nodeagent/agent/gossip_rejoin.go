package agent

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
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
//     agents but does not know them; and
//   - when a server member the pool had declared dead is alive again
//     (rejoinEvents): the pool can learn that the restarted server is
//     alive without the server learning the pool (seen: both agents listed
//     it alive while it listed only itself, no join having happened), and
//     then no agent sees "no server" any more.
//     TestAgentsRejoinARestartedServer failed so in about one run of five.
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

// rejoinEvents is the member's memberlist.EventDelegate: it passes every
// event on to next (GossipConfig.Events) and owes a join when a server
// member it saw die or leave is alive again. The join comes at the rejoin
// loop's next tick, not at once: every agent sees the server come back
// within a few gossip rounds, and their ticks are spread over
// RejoinInterval, so 512 agents do not all exchange state with it in the
// same instant. It runs under memberlist's locks, so it only sets a flag.
type rejoinEvents struct {
	prefix  string
	next    memberlist.EventDelegate
	request atomic.Pointer[Gossip] // the member, once it exists
	mu      sync.Mutex
	gone    map[string]bool // server members seen dead or left
}

func (e *rejoinEvents) NotifyJoin(n *memberlist.Node) {
	if strings.HasPrefix(n.Name, e.prefix) {
		e.mu.Lock()
		back := e.gone[n.Name]
		delete(e.gone, n.Name)
		e.mu.Unlock()
		if g := e.request.Load(); back && g != nil {
			g.owed.Store(true)
		}
	}
	if e.next != nil {
		e.next.NotifyJoin(n)
	}
}

func (e *rejoinEvents) NotifyLeave(n *memberlist.Node) {
	if strings.HasPrefix(n.Name, e.prefix) {
		e.mu.Lock()
		e.gone[n.Name] = true
		e.mu.Unlock()
	}
	if e.next != nil {
		e.next.NotifyLeave(n)
	}
}

func (e *rejoinEvents) NotifyUpdate(n *memberlist.Node) {
	if e.next != nil {
		e.next.NotifyUpdate(n)
	}
}
