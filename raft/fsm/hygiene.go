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
	// Answer is the agent's answer to the task's challenge (JSON,
	// model.Answer), checked here before the step counts (challenge.go).
	Answer string `json:"answer,omitempty"`
	Origin
}

// QuarantineNode takes a node out of service until an operator undrains
// it, e.g. after a hygiene step failed again and again.
type QuarantineNode struct {
	Node   string    `json:"node"`
	Reason string    `json:"reason"`
	Time   time.Time `json:"time"`
	Origin
}

// NodeCleaned records a completed hygiene pass: the node becomes ready.
type NodeCleaned struct {
	Node string `json:"node"`
	// Image, when set, is the cleaning policy's image: an agent node must
	// hold it, verified (see model.NextStep).
	Image    string    `json:"image,omitempty"`
	JobID    uint64    `json:"job_id"`
	Evidence string    `json:"evidence"`
	Time     time.Time `json:"time"`
	// PKeyCheck is what the fabric showed on the node's ports about its
	// last job's partition key; model.CheckKeyGone must accept it. Entries
	// written before it existed have none and are accepted as before, with
	// the proof only in Evidence.
	PKeyCheck *model.PKeyCheck `json:"pkey_check,omitempty"`
	Origin
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

func (s *State) startTask(c *StartTask) error {
	n, ok := s.Nodes[c.Node]
	if !ok {
		return errorf(ErrNotFound, "node %q", c.Node)
	}
	t := c.Task
	deploy := deployTask(n, t) // a deployment's image step (provision.go)
	if t.Kind == model.TaskFirmwareProfile {
		if err := s.profileTask(n, t); err != nil { // fwprofile.go
			return err
		}
		deploy = true // runs while the node holds its job, like a deployment's step
	}
	if n.State != model.NodeCleaning && !deploy || n.Task != nil {
		return errorf(ErrConflict, "node %s is %s with task %v", n.Name, n.State, n.Task != nil)
	}
	if !t.Kind.Valid() {
		return errorf(ErrInvalid, "unknown task kind %q", t.Kind)
	}
	if !deploy && model.GaveUp(n, t.Kind) {
		return errorf(ErrConflict, "node %s: %s failed %d times in this cleaning; it is quarantined, not retried", n.Name, t.Kind, n.StepFailures[t.Kind])
	}
	if t.Challenge != nil {
		if err := t.Challenge.Validate(); err != nil {
			return errorf(ErrInvalid, "task %s: %v", t.ID, err)
		}
		t.Challenge = t.Challenge.Clone()
	}
	n.Task = &t
	if t.Kind == model.TaskImage || t.Kind == model.TaskErase {
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
	s.recordReruns(n, c.Origin, string(t.Kind), t.ID, c.Answer, n.LastJobID, t.Started, c.Time) // custody.go
	ok, errText, verdict, judged := s.judgeTask(n, t, c)
	ev := c.Evidence
	if !ok {
		ev = fmt.Sprintf("error: %s; %s", errText, c.Evidence)
	}
	if verdict != "" {
		ev += "; " + verdict
	}
	job := n.LastJobID
	if t.Kind == model.TaskFirmwareProfile && n.JobID != 0 {
		job = n.JobID // the job's own step, in its tenancy
	}
	s.ledgerBy(n, c.Origin, model.LedgerEntry{Time: c.Time, Start: t.Started, Step: string(t.Kind), Actor: "agent", OK: ok, Evidence: ev, JobID: job})
	switch {
	case ok && t.Kind == model.TaskFirmwareProfile:
		firmwareVerified(n, t, judged.answer) // not a cleaning step: the job's own
	case judged.unapproved != "" && n.State != model.NodeAllocated:
		n.State, n.Reason, n.StateSince = model.NodeQuarantined, judged.unapproved, c.Time
		s.ledgerBy(n, c.Origin, model.LedgerEntry{Time: c.Time, Step: "quarantine", Actor: "ibexd", OK: true, Evidence: n.Reason})
	case judged.unapproved != "":
		// Found before a profile task on a node holding a job: the job
		// fails (the leader's loop), and the cleaning finds it again.
		stepFailed(n, t.Kind)
	case t.Kind == model.TaskFirmwareProfile && !ok:
		stepFailed(n, t.Kind)
		if c.Quarantine {
			// The agent touched the HCA and could not show its state: no
			// retry; the job fails, and the node's cleaning restores the
			// baseline or finds what it cannot approve.
			n.StepFailures[t.Kind] = model.MaxStepFailures
		}
	case ok:
		if t.Kind == model.TaskFirmware {
			firmwareVerified(n, t, judged.answer) // the baseline, verified
		}
		if !slices.Contains(n.Cleaning, t.Kind) {
			n.Cleaning = append(n.Cleaning, t.Kind)
		}
		if t.Kind == model.TaskImage {
			n.Image = t.Image
		}
	case c.Quarantine && !c.OK && n.State == model.NodeAllocated:
		// A deployment's image task: the provisioning loop fails the
		// deployment (and the job) with it; a node holding a job is not
		// quarantined under it.
	case c.Quarantine && !c.OK:
		n.State, n.Reason, n.StateSince = model.NodeQuarantined, string(t.Kind)+" failed: "+c.Error, c.Time
		s.ledgerBy(n, c.Origin, model.LedgerEntry{Time: c.Time, Step: "quarantine", Actor: "ibexd", OK: true, Evidence: n.Reason})
	default:
		stepFailed(n, t.Kind)
	}
	return nil
}

// stepFailed counts an attempt at a cleaning step that ended without
// success, in the state, so the retry limit survives a leader change.
func stepFailed(n *model.Node, k model.TaskKind) {
	if n.StepFailures == nil {
		n.StepFailures = map[model.TaskKind]int{}
	}
	n.StepFailures[k]++
}

// beginCleaning starts a fresh cleaning: no step done, no failure counted.
func beginCleaning(n *model.Node, t time.Time) {
	n.State, n.StateSince, n.Cleaning, n.StepFailures = model.NodeCleaning, t, nil, nil
}

func (s *State) quarantineNode(c *QuarantineNode) error {
	n, ok := s.Nodes[c.Node]
	if !ok {
		return errorf(ErrNotFound, "node %q", c.Node)
	}
	if n.State == model.NodeAllocated {
		return errorf(ErrConflict, "node %s is in use", c.Node)
	}
	s.interrupt(n, c.Origin, "the node was quarantined: "+c.Reason, c.Time) // custody.go
	n.State, n.Reason, n.StateSince, n.Task = model.NodeQuarantined, c.Reason, c.Time, nil
	s.ledgerBy(n, c.Origin, model.LedgerEntry{Time: c.Time, Step: "quarantine", Actor: "ibexd", OK: true, Evidence: c.Reason})
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
	if n.Task != nil {
		return errorf(ErrConflict, "node %s: task %s still running", c.Node, n.Task.ID)
	}
	if k, done := model.NextStep(n, model.CleaningPolicy{Image: c.Image}); !done {
		if k == model.TaskImage {
			return errorf(ErrConflict, "node %s holds image %q, not %q", c.Node, n.Image, c.Image)
		}
		return errorf(ErrConflict, "node %s: cleaning has no %s record", c.Node, k)
	}
	if n.FirmwareProfile != "" {
		return errorf(ErrConflict, "node %s still runs firmware profile %s: its firmware step restores and verifies the baseline first", c.Node, n.FirmwareProfile)
	}
	if n.BIOS != nil && n.BIOS.Profile != "" {
		return errorf(ErrConflict, "node %s still runs bios profile %s: the cleaning restores and verifies the BIOS baseline first", c.Node, n.BIOS.Profile)
	}
	ev := c.Evidence
	if c.PKeyCheck != nil {
		if err := model.CheckKeyGone(n, *c.PKeyCheck); err != nil {
			return errorf(ErrConflict, "node %s: %v", c.Node, err)
		}
		ev += "; " + c.PKeyCheck.String()
	}
	began := n.StateSince // the cleaning's start
	n.State, n.StateSince, n.Cleaning, n.StepFailures = model.NodeReady, c.Time, nil, nil
	s.ledgerBy(n, c.Origin, model.LedgerEntry{Time: c.Time, Start: began, Step: "cleaned", Actor: "ibexd", OK: true, Evidence: ev, JobID: c.JobID})
	return nil
}

// ledger appends e to the node's chain of custody: it names the tenancy
// (the tenant of e.JobID, while the job is in the state), takes the next
// number and chains to the previous entry's hash.
func (s *State) ledger(n *model.Node, e model.LedgerEntry) {
	if e.Tenant == "" && e.JobID != 0 {
		if j, ok := s.Jobs[e.JobID]; ok {
			e.Tenant = j.Tenant
		}
	}
	if e.Actor == "agent" && n.Agent != nil {
		// Which agent acted: its certificate, not just "an agent".
		e.Actor = "agent " + n.Agent.CertSerial
	}
	n.LedgerSeq++
	e.Seq, e.Prev = n.LedgerSeq, n.LedgerHead
	e.Hash = e.ComputeHash()
	n.LedgerHead = e.Hash
	s.Ledger[n.Name] = append(s.Ledger[n.Name], e)
}
