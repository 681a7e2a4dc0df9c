package model

import "slices"

// Placement is where a node that enrolled itself (ibexd on real machines,
// without --simulate) sits in the fabric: the port GUIDs its agent
// reported, matched against the imported topology by fabric/placement.
// Simulated nodes have none: their place comes from the configured fabric.
type Placement struct {
	// Ports are the HCA port GUIDs the agent last reported. Unless the
	// node is refused they are its ports: its partition keys go to exactly
	// these, and no other node may report them.
	Ports []uint64 `json:"ports,omitempty"`
	// Host is the host of the imported topology the node is placed on;
	// "" when it is unplaced or refused.
	Host string `json:"host,omitempty"`
	// Refused is set when the report collides with another node's (ports
	// or host) or cannot be read: the node is drained and never scheduled.
	Refused bool `json:"refused,omitempty"`
	// Note says why the node is unplaced ("unplaced: ...") or refused
	// ("refused: ..."), or names reported ports the topology lacks.
	Note string `json:"note,omitempty"`
}

// Clone returns a deep copy (nil for nil).
func (p *Placement) Clone() *Placement {
	if p == nil {
		return nil
	}
	c := *p
	c.Ports = slices.Clone(p.Ports)
	return &c
}

// Held reports whether the node holds its reported ports (placed or
// unplaced, not refused).
func (p *Placement) Held() bool { return p != nil && !p.Refused }
