package fsm

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// Commands that register nodes and move them in and out of service:
// drain, labels, and liveness from gossip.

// RegisterNodes adds nodes that are not yet known (known ones are left as
// they are, so re-registering on every start is harmless).
type RegisterNodes struct {
	Nodes []NodeSpec `json:"nodes"`
	Time  time.Time  `json:"time"`
}

// NodeSpec is what the state needs to know about a new node.
type NodeSpec struct {
	Name string `json:"name"`
	Leaf string `json:"leaf"`
}

// DrainNode stops scheduling on a node; a busy node finishes its job first.
type DrainNode struct {
	Node   string    `json:"node"`
	Reason string    `json:"reason"`
	By     string    `json:"by"`
	Time   time.Time `json:"time"`
	Origin
}

// UndrainNode returns a drained node to scheduling.
type UndrainNode struct {
	Node string `json:"node"`
	// By is the admin who undrained it (empty in entries from before it
	// was recorded).
	By   string    `json:"by,omitempty"`
	Time time.Time `json:"time"`
	Origin
}

// LabelNode replaces a node's feature labels.
type LabelNode struct {
	Node     string   `json:"node"`
	Features []string `json:"features"`
	// By and Time: the admin who labelled the node, and when; a labelling
	// that names them is a ledger entry (older ones named nobody).
	By   string    `json:"by,omitempty"`
	Time time.Time `json:"time,omitzero"`
	Origin
}

// NodeDown marks a node unreachable (gossip says its agent is dead); a job
// on it fails with the reason.
type NodeDown struct {
	Node   string    `json:"node"`
	Reason string    `json:"reason"`
	Time   time.Time `json:"time"`
	Origin
}

// NodeUp brings a down node back, to cleaning (never straight to ready).
type NodeUp struct {
	Node string    `json:"node"`
	Time time.Time `json:"time"`
	Origin
}

func (RegisterNodes) Type() CommandType { return CmdRegisterNodes }
func (DrainNode) Type() CommandType     { return CmdDrainNode }
func (UndrainNode) Type() CommandType   { return CmdUndrainNode }
func (LabelNode) Type() CommandType     { return CmdLabelNode }
func (NodeDown) Type() CommandType      { return CmdNodeDown }
func (NodeUp) Type() CommandType        { return CmdNodeUp }

func init() {
	registerE(CmdRegisterNodes, (*State).registerNodes)
	registerE(CmdDrainNode, (*State).drainNode)
	registerE(CmdUndrainNode, (*State).undrainNode)
	registerE(CmdLabelNode, (*State).labelNode)
	registerE(CmdNodeDown, (*State).nodeDown)
	registerE(CmdNodeUp, (*State).nodeUp)
}

// Flap damping: a node that went down this often within the window is
// drained when it comes back, until an operator undrains it.
const (
	FlapWindow = 10 * time.Minute
	FlapLimit  = 3
)

func (s *State) registerNodes(c *RegisterNodes) error {
	seen := map[string]bool{}
	for _, n := range c.Nodes {
		if seen[n.Name] {
			return errorf(ErrInvalid, "node name %q repeated", n.Name)
		}
		// One grammar for every node name, wherever it comes from (the
		// simulated fabric, an imported dump or its name map): names
		// reach file names and cgroups on the nodes.
		if !validNodeName(n.Name) {
			return errorf(ErrInvalid, "node name %q: use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit", clipName(n.Name))
		}
		seen[n.Name] = true
	}
	for _, n := range c.Nodes {
		if old, ok := s.Nodes[n.Name]; ok {
			old.Leaf = n.Leaf
			continue
		}
		s.addNode(&model.Node{Name: n.Name, Leaf: n.Leaf, State: model.NodeReady, StateSince: c.Time})
	}
	return nil
}

func (s *State) drainNode(c *DrainNode) error {
	n, ok := s.Nodes[c.Node]
	if !ok {
		return errorf(ErrNotFound, "node %q", c.Node)
	}
	if c.Reason == "" {
		return errorf(ErrInvalid, "drain needs a reason")
	}
	n.Drained, n.DrainNote, n.DrainBy, n.DrainTime = true, c.Reason, c.By, c.Time
	s.ledgerBy(n, c.Origin, model.LedgerEntry{Time: c.Time, Step: "drain", Actor: actor(c.By), OK: true, Evidence: c.Reason, JobID: n.JobID})
	return nil
}

// actor names who did an override, "admin" when an older entry did not say.
func actor(by string) string {
	if by == "" {
		return "admin"
	}
	return by
}

func (s *State) undrainNode(c *UndrainNode) error {
	n, ok := s.Nodes[c.Node]
	if !ok {
		return errorf(ErrNotFound, "node %q", c.Node)
	}
	if n.State == model.NodeQuarantined {
		// An operator looked: the node is cleaned again before use.
		prov := releaseProvision(n, c.Time) // provision.go
		s.ledgerBy(n, c.Origin, model.LedgerEntry{Time: c.Time, Step: "undrain", Actor: actor(c.By), OK: true, Evidence: "released from quarantine (" + n.Reason + "); cleaning again before use" + prov})
		beginCleaning(n, c.Time)
		n.Reason, n.Drained, n.DrainNote, n.DrainBy = "", false, "", ""
		return nil
	}
	if !n.Drained {
		return errorf(ErrConflict, "node %s is not drained", c.Node)
	}
	if n.Placement != nil && n.Placement.Refused {
		return errorf(ErrConflict, "node %s stays drained: %s (its agent's next report, or a new ibex fabric import, is checked again)", c.Node, n.Placement.Note)
	}
	s.ledgerBy(n, c.Origin, model.LedgerEntry{Time: c.Time, Step: "undrain", Actor: actor(c.By), OK: true, Evidence: "drained for: " + n.DrainNote, JobID: n.JobID})
	n.Drained, n.DrainNote, n.DrainBy = false, "", ""
	n.DrainTime = time.Time{}
	return nil
}

func (s *State) labelNode(c *LabelNode) error {
	n, ok := s.Nodes[c.Node]
	if !ok {
		return errorf(ErrNotFound, "node %q", c.Node)
	}
	fs := slices.Clone(c.Features)
	slices.Sort(fs)
	was := n.Features
	n.Features = slices.Compact(fs)
	if c.By != "" && !c.Time.IsZero() {
		s.ledgerBy(n, c.Origin, model.LedgerEntry{Time: c.Time, Step: "label", Actor: c.By, OK: true, JobID: n.JobID,
			Evidence: fmt.Sprintf("features [%s] (were [%s])", strings.Join(n.Features, ","), strings.Join(was, ","))})
	}
	return nil
}

func (s *State) nodeDown(c *NodeDown) error {
	n, ok := s.Nodes[c.Node]
	if !ok {
		return errorf(ErrNotFound, "node %q", c.Node)
	}
	if n.State == model.NodeDown || n.State == model.NodeQuarantined {
		return nil
	}
	if j, ok := s.Jobs[n.JobID]; ok && j.State.Active() {
		s.endJob(j, model.JobFailed, nil, fmt.Sprintf("node %s went down: %s", n.Name, c.Reason), c.Time)
	}
	if c.Time.Sub(n.LastDown) < FlapWindow {
		n.Flaps++
	} else {
		n.Flaps = 1
	}
	n.LastDown = c.Time
	if n.Task != nil {
		stepFailed(n, n.Task.Kind) // the attempt is lost with the node
	}
	s.interrupt(n, c.Origin, "the node went down: "+c.Reason, c.Time) // custody.go
	n.State, n.Reason, n.StateSince, n.JobID, n.Task = model.NodeDown, c.Reason, c.Time, 0, nil
	s.ledgerBy(n, c.Origin, model.LedgerEntry{Time: c.Time, Step: "down", Actor: "gossip", OK: true, Evidence: c.Reason})
	return nil
}

func (s *State) nodeUp(c *NodeUp) error {
	n, ok := s.Nodes[c.Node]
	if !ok {
		return errorf(ErrNotFound, "node %q", c.Node)
	}
	if n.State != model.NodeDown {
		return nil
	}
	// Whatever happened while it was away, it is cleaned before use. The
	// step failures stay: going down in the middle of a step may be its fault.
	n.State, n.Reason, n.StateSince, n.Cleaning = model.NodeCleaning, "", c.Time, nil
	ev := "agent alive again"
	if n.Flaps >= FlapLimit && !n.Drained {
		n.Drained, n.DrainBy, n.DrainTime = true, "ibexd", c.Time
		n.DrainNote = fmt.Sprintf("flapping: down %d times within %s", n.Flaps, FlapWindow)
		ev += "; drained: " + n.DrainNote
	}
	s.ledgerBy(n, c.Origin, model.LedgerEntry{Time: c.Time, Step: "up", Actor: "gossip", OK: true, Evidence: ev})
	return nil
}

// clipName shortens a hostile name quoted back in an error.
func clipName(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
