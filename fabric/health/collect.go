package health

import (
	"context"
	"time"
)

// PortAddr is a port to query: its ID and the LID that reaches it (the
// switch's LID for a switch port).
type PortAddr struct {
	ID  PortID
	LID uint16
}

func addr(e End) PortAddr { return PortAddr{ID: e.Port, LID: e.LID} }

// Discoverer reads the fabric's links (IBNetDiscover in production).
type Discoverer interface {
	Discover(ctx context.Context) ([]LinkObs, error)
}

// CounterReader reads error counters (PerfQuery in production). Ports
// it could not read are in the error map, never silently missing.
type CounterReader interface {
	ReadCounters(ctx context.Context, ports []PortAddr) (map[PortID]Counters, map[PortID]error)
}

// StateReader reads ports' logical states (SMPQuery in production).
// Unreadable ports are left out.
type StateReader interface {
	ReadStates(ctx context.Context, ports []PortAddr) map[PortID]PortState
}

// Collector runs one round of the collectors and builds a Sample. It
// remembers the previous round only to decide which ports need a state
// check (see the package comment); it holds no health state.
type Collector struct {
	Discover Discoverer
	Counters CounterReader // nil: no counters
	States   StateReader   // nil: states not checked
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	prev     map[LinkID]bool
	notOK    map[PortID]bool // last state read was not Active
	downedAt map[PortID]uint64
}

// Collect discovers the fabric, reads the counters of both ends of every
// link found, and reads the states of the ports in doubt. A failed
// discovery still returns a Sample (with DiscoverErr): the Monitor
// marks the report stale instead of failing.
func (c *Collector) Collect(ctx context.Context) Sample {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	s := Sample{Time: now()}
	links, err := c.Discover.Discover(ctx)
	if err != nil {
		s.DiscoverErr = err
		return s
	}
	s.Links = links
	var ports []PortAddr
	for _, l := range links {
		ports = append(ports, addr(l.A), addr(l.B))
	}
	if c.Counters != nil && len(ports) > 0 {
		s.Counters, s.CounterErrs = c.Counters.ReadCounters(ctx, ports)
	}
	var doubt []PortAddr
	if c.States != nil {
		if doubt = c.inDoubt(links, s.Counters); len(doubt) > 0 {
			s.States = c.States.ReadStates(ctx, doubt)
		}
	}
	c.remember(links, doubt, s)
	return s
}

// inDoubt picks the ports whose state must be read: both ends of links
// that are new since the last round (all of them on the first round),
// ports last read not Active, and ports whose LinkDownedCounter moved.
// Switch ends are preferred for host links: a switch's LID is stable and
// reachable even when the HCA port has no LID yet (state Init), and the
// SM moves both ends of a link together.
func (c *Collector) inDoubt(links []LinkObs, counters map[PortID]Counters) []PortAddr {
	var out []PortAddr
	seen := map[PortID]bool{}
	add := func(e End) {
		if !seen[e.Port] {
			seen[e.Port] = true
			out = append(out, addr(e))
		}
	}
	flapped := func(e End) bool {
		n, ok := counters[e.Port]
		p, had := c.downedAt[e.Port]
		return ok && had && n.LinkDowned != p
	}
	for _, l := range links {
		doubt := !c.prev[l.ID()] || c.notOK[l.A.Port] || c.notOK[l.B.Port] || flapped(l.A) || flapped(l.B)
		if !doubt {
			continue
		}
		switch {
		case l.A.Switch() && l.B.Switch():
			add(l.A)
			add(l.B)
		case l.A.Switch():
			add(l.A)
		case l.B.Switch():
			add(l.B)
		default:
			add(l.A)
			add(l.B)
		}
	}
	return out
}

// remember keeps what inDoubt needs next round. A port whose state could
// not be read stays in doubt, so it is asked again.
func (c *Collector) remember(links []LinkObs, asked []PortAddr, s Sample) {
	c.prev = make(map[LinkID]bool, len(links))
	for _, l := range links {
		c.prev[l.ID()] = true
	}
	if c.notOK == nil {
		c.notOK = map[PortID]bool{}
		c.downedAt = map[PortID]uint64{}
	}
	for _, a := range asked {
		st, ok := s.States[a.ID]
		c.notOK[a.ID] = !ok || st != StateActive
	}
	for p, n := range s.Counters {
		c.downedAt[p] = n.LinkDowned
	}
}
