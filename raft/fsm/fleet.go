package fsm

import (
	"fmt"
	"slices"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// Commands of the node-agent fleet: enrollment, images, agent tasks,
// liveness and the hygiene ledger.

// SetClusterSecrets stores the CA and gossip key, once.
type SetClusterSecrets struct {
	Secrets model.ClusterSecrets `json:"secrets"`
}

// CreateJoinToken records the digest of a one-time enrollment token.
type CreateJoinToken struct {
	Node    string    `json:"node"`
	Hash    string    `json:"hash"`
	Expires time.Time `json:"expires"`
}

// Enroll consumes a join token and records the agent's certificate.
type Enroll struct {
	Node       string    `json:"node"`
	TokenHash  string    `json:"token_hash"`
	CertSerial string    `json:"cert_serial"`
	Time       time.Time `json:"time"`
}

// RevokeAgent refuses the node's certificate from now on and drains it.
type RevokeAgent struct {
	Node   string    `json:"node"`
	Reason string    `json:"reason"`
	By     string    `json:"by"`
	Time   time.Time `json:"time"`
}

// AddImage adds an image to the catalog (name:version is immutable).
type AddImage struct {
	Image model.Image `json:"image"`
}

// NodeInventory stores an agent's hardware report.
type NodeInventory struct {
	Node      string `json:"node"`
	Inventory string `json:"inventory"`
}

// StartTask assigns an agent task to a cleaning node.
type StartTask struct {
	Node string         `json:"node"`
	Task model.NodeTask `json:"task"`
}

// TaskDone records an agent task's result in the ledger.
type TaskDone struct {
	Node       string    `json:"node"`
	TaskID     string    `json:"task_id"`
	OK         bool      `json:"ok"`
	Quarantine bool      `json:"quarantine,omitempty"`
	Error      string    `json:"error,omitempty"`
	Evidence   string    `json:"evidence"`
	Time       time.Time `json:"time"`
}

// NodeDown marks a node unreachable (gossip says its agent is dead); a job
// on it fails with the reason.
type NodeDown struct {
	Node   string    `json:"node"`
	Reason string    `json:"reason"`
	Time   time.Time `json:"time"`
}

// ImportTopology stores a validated ibnetdiscover dump (the server parsed
// it before proposing) and registers its hosts with their leaf switches.
type ImportTopology struct {
	Text    string     `json:"text"`
	NameMap string     `json:"name_map,omitempty"`
	Hosts   []NodeSpec `json:"hosts"`
	Time    time.Time  `json:"time"`
}

// QuarantineNode takes a node out of service until an operator undrains
// it, e.g. after a hygiene step failed again and again.
type QuarantineNode struct {
	Node   string    `json:"node"`
	Reason string    `json:"reason"`
	Time   time.Time `json:"time"`
}

// LabelNode replaces a node's feature labels.
type LabelNode struct {
	Node     string   `json:"node"`
	Features []string `json:"features"`
}

// NodeUp brings a down node back, to cleaning (never straight to ready).
type NodeUp struct {
	Node string    `json:"node"`
	Time time.Time `json:"time"`
}

const (
	CmdSetClusterSecrets CommandType = iota + 64
	CmdCreateJoinToken
	CmdEnroll
	CmdRevokeAgent
	CmdAddImage
	CmdNodeInventory
	CmdStartTask
	CmdTaskDone
	CmdNodeDown
	CmdNodeUp
	CmdImportTopology
	CmdQuarantineNode
	CmdLabelNode
)

func (SetClusterSecrets) Type() CommandType { return CmdSetClusterSecrets }
func (CreateJoinToken) Type() CommandType   { return CmdCreateJoinToken }
func (Enroll) Type() CommandType            { return CmdEnroll }
func (RevokeAgent) Type() CommandType       { return CmdRevokeAgent }
func (AddImage) Type() CommandType          { return CmdAddImage }
func (NodeInventory) Type() CommandType     { return CmdNodeInventory }
func (StartTask) Type() CommandType         { return CmdStartTask }
func (TaskDone) Type() CommandType          { return CmdTaskDone }
func (NodeDown) Type() CommandType          { return CmdNodeDown }
func (NodeUp) Type() CommandType            { return CmdNodeUp }
func (ImportTopology) Type() CommandType    { return CmdImportTopology }
func (QuarantineNode) Type() CommandType    { return CmdQuarantineNode }
func (LabelNode) Type() CommandType         { return CmdLabelNode }

func decodeFleet(t CommandType) Command {
	switch t {
	case CmdSetClusterSecrets:
		return &SetClusterSecrets{}
	case CmdCreateJoinToken:
		return &CreateJoinToken{}
	case CmdEnroll:
		return &Enroll{}
	case CmdRevokeAgent:
		return &RevokeAgent{}
	case CmdAddImage:
		return &AddImage{}
	case CmdNodeInventory:
		return &NodeInventory{}
	case CmdStartTask:
		return &StartTask{}
	case CmdTaskDone:
		return &TaskDone{}
	case CmdNodeDown:
		return &NodeDown{}
	case CmdNodeUp:
		return &NodeUp{}
	case CmdImportTopology:
		return &ImportTopology{}
	case CmdQuarantineNode:
		return &QuarantineNode{}
	case CmdLabelNode:
		return &LabelNode{}
	}
	return nil
}

// RequiredCleaning is what an agent node's cleaning must record before it
// is ready: its disk erased and its firmware verified against the policy
// (the partition key check is evidence of NodeCleaned itself).
var RequiredCleaning = []string{"erase", "firmware"}

// Flap damping: a node that went down this often within the window is
// drained when it comes back, until an operator undrains it.
const (
	FlapWindow = 10 * time.Minute
	FlapLimit  = 3
)

func (s *State) applyFleet(c Command) (any, error, bool) {
	switch c := c.(type) {
	case *SetClusterSecrets:
		if s.Secrets.CACertPEM != "" {
			return nil, errorf(ErrConflict, "cluster secrets already set"), true
		}
		if c.Secrets.CACertPEM == "" || c.Secrets.CAKeyPEM == "" || c.Secrets.GossipKey == "" {
			return nil, errorf(ErrInvalid, "cluster secrets incomplete"), true
		}
		s.Secrets = c.Secrets
		return nil, nil, true
	case *CreateJoinToken:
		if _, ok := s.Nodes[c.Node]; !ok {
			return nil, errorf(ErrNotFound, "node %q", c.Node), true
		}
		s.JoinTokens[c.Hash] = JoinToken{Node: c.Node, Expires: c.Expires}
		return nil, nil, true
	case *Enroll:
		return nil, s.enroll(c), true
	case *RevokeAgent:
		n, ok := s.Nodes[c.Node]
		if !ok || n.Agent == nil {
			return nil, errorf(ErrNotFound, "no enrolled agent on node %q", c.Node), true
		}
		n.Agent.Revoked = true
		s.Revoked[n.Agent.CertSerial] = c.Reason
		n.Drained, n.DrainNote, n.DrainBy, n.DrainTime = true, "agent revoked: "+c.Reason, c.By, c.Time
		s.ledger(n, model.LedgerEntry{Time: c.Time, Step: "revoke", Actor: c.By, OK: true, Evidence: "certificate " + n.Agent.CertSerial + " revoked: " + c.Reason})
		return nil, nil, true
	case *AddImage:
		if _, ok := s.Images[c.Image.Ref()]; ok {
			return nil, errorf(ErrConflict, "image %s already in the catalog (versions are immutable)", c.Image.Ref()), true
		}
		s.Images[c.Image.Ref()] = c.Image
		return nil, nil, true
	case *NodeInventory:
		n, ok := s.Nodes[c.Node]
		if !ok {
			return nil, errorf(ErrNotFound, "node %q", c.Node), true
		}
		n.Inventory = c.Inventory
		return nil, nil, true
	case *StartTask:
		n, ok := s.Nodes[c.Node]
		if !ok {
			return nil, errorf(ErrNotFound, "node %q", c.Node), true
		}
		if n.State != model.NodeCleaning || n.Task != nil {
			return nil, errorf(ErrConflict, "node %s is %s with task %v", n.Name, n.State, n.Task != nil), true
		}
		t := c.Task
		n.Task = &t
		if t.Kind == "image" || t.Kind == "erase" {
			n.Image = "" // from now on the disk holds no verified image
		}
		return nil, nil, true
	case *TaskDone:
		return nil, s.taskDone(c), true
	case *NodeDown:
		return nil, s.nodeDown(c), true
	case *NodeUp:
		return nil, s.nodeUp(c), true
	case *LabelNode:
		n, ok := s.Nodes[c.Node]
		if !ok {
			return nil, errorf(ErrNotFound, "node %q", c.Node), true
		}
		fs := slices.Clone(c.Features)
		slices.Sort(fs)
		n.Features = slices.Compact(fs)
		return nil, nil, true
	case *QuarantineNode:
		n, ok := s.Nodes[c.Node]
		if !ok {
			return nil, errorf(ErrNotFound, "node %q", c.Node), true
		}
		if n.State == model.NodeAllocated {
			return nil, errorf(ErrConflict, "node %s is in use", c.Node), true
		}
		n.State, n.Reason, n.StateSince, n.Task = model.NodeQuarantined, c.Reason, c.Time, nil
		s.ledger(n, model.LedgerEntry{Time: c.Time, Step: "quarantine", Actor: "ibexd", OK: true, Evidence: c.Reason})
		return nil, nil, true
	case *ImportTopology:
		if c.Text == "" || len(c.Hosts) == 0 {
			return nil, errorf(ErrInvalid, "topology has no hosts"), true
		}
		if err := s.registerNodes(&RegisterNodes{Nodes: c.Hosts, Time: c.Time}); err != nil {
			return nil, err, true
		}
		s.Topology = Topology{Text: c.Text, NameMap: c.NameMap}
		return nil, nil, true
	}
	return nil, nil, false
}

func (s *State) enroll(c *Enroll) error {
	tok, ok := s.JoinTokens[c.TokenHash]
	if !ok || tok.Node != c.Node {
		return errorf(ErrPermissionDenied, "join token not valid for node %q", c.Node)
	}
	delete(s.JoinTokens, c.TokenHash) // single use, even if expired
	if !c.Time.Before(tok.Expires) {
		return errorf(ErrPermissionDenied, "join token for %q expired at %s", c.Node, tok.Expires.Format(time.RFC3339))
	}
	n, ok := s.Nodes[c.Node]
	if !ok {
		return errorf(ErrNotFound, "node %q", c.Node)
	}
	if n.Agent != nil && !n.Agent.Revoked {
		// Re-enrollment replaces the old certificate, which stops working.
		s.Revoked[n.Agent.CertSerial] = "replaced by re-enrollment"
	}
	n.Agent = &model.Agent{CertSerial: c.CertSerial, EnrolledAt: c.Time}
	s.ledger(n, model.LedgerEntry{Time: c.Time, Step: "enroll", Actor: "agent", OK: true, Evidence: "certificate serial " + c.CertSerial})
	if n.State == model.NodeReady {
		// Nothing about this node has been verified yet: clean it (erase,
		// firmware, image) before anyone gets it.
		n.State, n.StateSince, n.Cleaning = model.NodeCleaning, c.Time, nil
	}
	return nil
}

func (s *State) taskDone(c *TaskDone) error {
	n, ok := s.Nodes[c.Node]
	if !ok {
		return errorf(ErrNotFound, "node %q", c.Node)
	}
	if n.Task == nil || n.Task.ID != c.TaskID {
		return errorf(ErrConflict, "node %s is not running task %s", n.Name, c.TaskID)
	}
	t := *n.Task
	n.Task = nil
	ev := c.Evidence
	if !c.OK {
		ev = fmt.Sprintf("error: %s; %s", c.Error, c.Evidence)
	}
	s.ledger(n, model.LedgerEntry{Time: c.Time, Step: t.Kind, Actor: "agent", OK: c.OK, Evidence: ev, JobID: n.LastJobID})
	switch {
	case c.OK:
		if !slices.Contains(n.Cleaning, t.Kind) {
			n.Cleaning = append(n.Cleaning, t.Kind)
		}
		if t.Kind == "image" {
			n.Image = t.Image
		}
	case c.Quarantine:
		n.State, n.Reason, n.StateSince = model.NodeQuarantined, t.Kind+" failed: "+c.Error, c.Time
		s.ledger(n, model.LedgerEntry{Time: c.Time, Step: "quarantine", Actor: "ibexd", OK: true, Evidence: n.Reason})
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
	n.State, n.Reason, n.StateSince, n.JobID, n.Task = model.NodeDown, c.Reason, c.Time, 0, nil
	s.ledger(n, model.LedgerEntry{Time: c.Time, Step: "down", Actor: "gossip", OK: true, Evidence: c.Reason})
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
	// Whatever happened while it was away, it is cleaned before use.
	n.State, n.Reason, n.StateSince, n.Cleaning = model.NodeCleaning, "", c.Time, nil
	ev := "agent alive again"
	if n.Flaps >= FlapLimit && !n.Drained {
		n.Drained, n.DrainBy, n.DrainTime = true, "ibexd", c.Time
		n.DrainNote = fmt.Sprintf("flapping: down %d times within %s", n.Flaps, FlapWindow)
		ev += "; drained: " + n.DrainNote
	}
	s.ledger(n, model.LedgerEntry{Time: c.Time, Step: "up", Actor: "gossip", OK: true, Evidence: ev})
	return nil
}

func (s *State) ledger(n *model.Node, e model.LedgerEntry) {
	s.Ledger[n.Name] = append(s.Ledger[n.Name], e)
}
