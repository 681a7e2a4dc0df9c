package fsm

import (
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// PowerCycle records that the leader is power-cycling a node on purpose
// (a BIOS profile's reset, server/control/biosprofile.go) and until when
// its agent may be away: the liveness loop of any leader, a new one after
// a failover included, leaves the node alone until then rather than
// fence it or mark it down. A zero Until clears the mark.
type PowerCycle struct {
	Node  string    `json:"node"`
	Until time.Time `json:"until,omitzero"`
	Time  time.Time `json:"time"`
}

// CmdPowerCycle is PowerCycle's type byte.
const CmdPowerCycle CommandType = 47

func (PowerCycle) Type() CommandType { return CmdPowerCycle }

func init() { registerE(CmdPowerCycle, (*State).powerCycle) }

// maxPowerCycle bounds a mark: a reset that has not brought the agent
// back by then is a lost node, whoever leads.
const maxPowerCycle = time.Hour

func (s *State) powerCycle(c *PowerCycle) error {
	n, ok := s.Nodes[c.Node]
	if !ok {
		return errorf(ErrNotFound, "node %q", c.Node)
	}
	if c.Until.IsZero() {
		n.PowerCycleUntil = nil
		return nil
	}
	if c.Until.Before(c.Time) || c.Until.Sub(c.Time) > maxPowerCycle {
		return errorf(ErrInvalid, "power cycle of %s until %s: must be within %s of %s", c.Node, c.Until.Format(time.RFC3339), maxPowerCycle, c.Time.Format(time.RFC3339))
	}
	until := c.Until
	n.PowerCycleUntil = &until
	return nil
}

// PowerCycling reports whether n is being power-cycled on purpose at now.
func PowerCycling(n *model.Node, now time.Time) bool {
	return n.PowerCycleUntil != nil && now.Before(*n.PowerCycleUntil)
}
