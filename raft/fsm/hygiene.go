package fsm

import (
	"fmt"
	"slices"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// Commands of a node's hygiene between tenants: agent tasks (erase,
// firmware, image), their results in the ledger, the cleaned record that
// makes the node ready again, and quarantine when cleaning cannot finish.

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

// QuarantineNode takes a node out of service until an operator undrains
// it, e.g. after a hygiene step failed again and again.
type QuarantineNode struct {
	Node   string    `json:"node"`
	Reason string    `json:"reason"`
	Time   time.Time `json:"time"`
}

// NodeCleaned records a completed hygiene pass: the node becomes ready.
type NodeCleaned struct {
	Node string `json:"node"`
	// Image, when set, must be the verified image on the node's disk.
	Image    string    `json:"image,omitempty"`
	JobID    uint64    `json:"job_id"`
	Evidence string    `json:"evidence"`
	Time     time.Time `json:"time"`
}

func (StartTask) Type() CommandType      { return CmdStartTask }
func (TaskDone) Type() CommandType       { return CmdTaskDone }
func (QuarantineNode) Type() CommandType { return CmdQuarantineNode }
func (NodeCleaned) Type() CommandType    { return CmdNodeCleaned }

func init() {
	registerE(CmdStartTask, (*State).startTask)
	registerE(CmdTaskDone, (*State).taskDone)
	registerE(CmdQuarantineNode, (*State).quarantineNode)
	registerE(CmdNodeCleaned, (*State).nodeCleaned)
}

// RequiredCleaning is what an agent node's cleaning must record before it
// is ready: its disk erased and its firmware verified against the policy
// (the partition key check is evidence of NodeCleaned itself).
var RequiredCleaning = []string{"erase", "firmware"}

func (s *State) startTask(c *StartTask) error {
	n, ok := s.Nodes[c.Node]
	if !ok {
		return errorf(ErrNotFound, "node %q", c.Node)
	}
	if n.State != model.NodeCleaning || n.Task != nil {
		return errorf(ErrConflict, "node %s is %s with task %v", n.Name, n.State, n.Task != nil)
	}
	t := c.Task
	n.Task = &t
	if t.Kind == "image" || t.Kind == "erase" {
		n.Image = "" // from now on the disk holds no verified image
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

func (s *State) quarantineNode(c *QuarantineNode) error {
	n, ok := s.Nodes[c.Node]
	if !ok {
		return errorf(ErrNotFound, "node %q", c.Node)
	}
	if n.State == model.NodeAllocated {
		return errorf(ErrConflict, "node %s is in use", c.Node)
	}
	n.State, n.Reason, n.StateSince, n.Task = model.NodeQuarantined, c.Reason, c.Time, nil
	s.ledger(n, model.LedgerEntry{Time: c.Time, Step: "quarantine", Actor: "ibexd", OK: true, Evidence: c.Reason})
	return nil
}

func (s *State) nodeCleaned(c *NodeCleaned) error {
	n, ok := s.Nodes[c.Node]
	if !ok {
		return errorf(ErrNotFound, "node %q", c.Node)
	}
	if n.State != model.NodeCleaning {
		return errorf(ErrConflict, "node %s is %s, not cleaning", c.Node, n.State)
	}
	if c.JobID != n.LastJobID {
		return errorf(ErrConflict, "node %s: cleaning record is for job %d, last job was %d", c.Node, c.JobID, n.LastJobID)
	}
	if c.Evidence == "" {
		return errorf(ErrInvalid, "node %s: a cleaning record needs evidence", c.Node)
	}
	if n.Agent != nil {
		for _, step := range RequiredCleaning {
			if !slices.Contains(n.Cleaning, step) {
				return errorf(ErrConflict, "node %s: cleaning has no %s record", c.Node, step)
			}
		}
	}
	if n.Task != nil {
		return errorf(ErrConflict, "node %s: task %s still running", c.Node, n.Task.ID)
	}
	if c.Image != "" && n.Image != c.Image {
		return errorf(ErrConflict, "node %s holds image %q, not %q", c.Node, n.Image, c.Image)
	}
	n.State, n.StateSince, n.Cleaning = model.NodeReady, c.Time, nil
	s.ledger(n, model.LedgerEntry{Time: c.Time, Step: "cleaned", Actor: "ibexd", OK: true, Evidence: c.Evidence, JobID: c.JobID})
	return nil
}

func (s *State) ledger(n *model.Node, e model.LedgerEntry) {
	s.Ledger[n.Name] = append(s.Ledger[n.Name], e)
}
