package fsm

import (
	"fmt"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// The hand-out check: right before a node with an agent goes to its next
// tenant, the leader challenges it (image blocks against the catalog,
// every firmware reading against the pins, no process of an earlier job,
// its own P_Key table) and the answer, checked here, is the node's last
// ledger entry before custody passes. Allocate takes the node only with a
// passed, fresh check that is still its latest entry; a failed check
// quarantines it, and the job is placed elsewhere or waits.
//
// Old logs hold no checks, and replaying them must give the state they
// gave: the rule holds from the first check any leader started
// (State.HandoutChecks) on.

// StartHandoutCheck records the leader's challenge for a ready node.
type StartHandoutCheck struct {
	Node  string        `json:"node"`
	Check model.Handout `json:"check"`
	Origin
}

// HandoutChecked records the answer (or that none came).
type HandoutChecked struct {
	Node   string `json:"node"`
	ID     string `json:"id"`
	OK     bool   `json:"ok"`
	Error  string `json:"error,omitempty"`
	Answer string `json:"answer,omitempty"`
	// Evidence is the agent's own account (JSON), kept with the verdict.
	Evidence string `json:"evidence,omitempty"`
	// Abandoned: no answer came within model.HandoutTimeout. The node
	// stays ready and is checked again before it is handed out.
	Abandoned bool      `json:"abandoned,omitempty"`
	Time      time.Time `json:"time"`
	Origin
}

func (StartHandoutCheck) Type() CommandType { return CmdStartHandoutCheck }
func (HandoutChecked) Type() CommandType    { return CmdHandoutChecked }

func init() {
	registerE(CmdStartHandoutCheck, (*State).startHandoutCheck)
	registerE(CmdHandoutChecked, (*State).handoutChecked)
}

// HandoutStep is the ledger step of a hand-out check.
const HandoutStep = "handout-check"

func (s *State) startHandoutCheck(c *StartHandoutCheck) error {
	n, ok := s.Nodes[c.Node]
	if !ok {
		return errorf(ErrNotFound, "node %q", c.Node)
	}
	h := c.Check
	switch {
	case n.Agent == nil || n.Agent.Revoked:
		return errorf(ErrConflict, "node %s has no enrolled agent to check", n.Name)
	case !n.Schedulable():
		return errorf(ErrConflict, "node %s is %s: only a node about to be handed out is checked", n.Name, n.DisplayState())
	case h.ID == "" || len(h.ID) > 256:
		return errorf(ErrInvalid, "hand-out check id %q", h.ID)
	case h.Challenge == nil:
		return errorf(ErrInvalid, "hand-out check %s has no challenge", h.ID)
	}
	if err := h.Challenge.Validate(); err != nil {
		return errorf(ErrInvalid, "hand-out check %s: %v", h.ID, err)
	}
	if r := n.Handout; r != nil && r.Passed.IsZero() && h.Started.Sub(r.Started) < model.HandoutTimeout {
		return errorf(ErrConflict, "node %s: hand-out check %s still running", n.Name, r.ID)
	}
	if r := n.Handout; r != nil && r.Passed.IsZero() && c.Server != "" {
		// A check nobody answered or abandoned (its leader went away):
		// lost, and said so.
		s.interruptHandout(n, c.Origin, r, fmt.Sprintf("no answer, replaced by check %s", h.ID), h.Started)
	}
	n.Handout = &model.Handout{ID: h.ID, Challenge: h.Challenge.Clone(), Started: h.Started}
	s.HandoutChecks = true
	return nil
}

func (s *State) handoutChecked(c *HandoutChecked) error {
	n, ok := s.Nodes[c.Node]
	if !ok {
		return errorf(ErrNotFound, "node %q", c.Node)
	}
	h := n.Handout
	if h == nil || h.ID != c.ID || !h.Passed.IsZero() {
		return errorf(ErrConflict, "node %s is not running hand-out check %s", n.Name, c.ID)
	}
	if c.Abandoned {
		n.Handout = nil
		if c.Server != "" {
			s.interruptHandout(n, c.Origin, h, fmt.Sprintf("no answer from the agent within %s", model.HandoutTimeout), c.Time)
			return nil
		}
		s.ledger(n, model.LedgerEntry{Time: c.Time, Step: HandoutStep, Actor: "ibexd", OK: false,
			Evidence: fmt.Sprintf("check %s: no answer from the agent within %s; abandoned, the node is checked again before it is handed out", c.ID, model.HandoutTimeout)})
		return nil
	}
	s.recordReruns(n, c.Origin, HandoutStep, c.ID, c.Answer, 0, h.Started, c.Time) // custody.go
	verdict, err := s.judgeHandout(n, h, c)
	if err == nil {
		s.ledgerBy(n, c.Origin, model.LedgerEntry{Time: c.Time, Start: h.Started, Step: HandoutStep, Actor: "agent", OK: true, Evidence: fmt.Sprintf("check %s passed: %s", c.ID, verdict)})
		h.Passed, h.Seq = c.Time, n.LedgerSeq
		return nil
	}
	ev := fmt.Sprintf("check %s failed: %v", c.ID, err)
	if c.Evidence != "" {
		ev += "; agent: " + c.Evidence
	}
	s.ledgerBy(n, c.Origin, model.LedgerEntry{Time: c.Time, Start: h.Started, Step: HandoutStep, Actor: "agent", OK: false, Evidence: ev})
	n.Handout = nil
	if n.State == model.NodeAllocated {
		return nil // cannot happen while checks gate allocation; never pull a node from under a job
	}
	n.State, n.Reason, n.StateSince = model.NodeQuarantined, "hand-out check failed: "+err.Error(), c.Time
	s.ledgerBy(n, c.Origin, model.LedgerEntry{Time: c.Time, Step: "quarantine", Actor: "ibexd", OK: true, Evidence: n.Reason})
	return nil
}

func (s *State) judgeHandout(n *model.Node, h *model.Handout, c *HandoutChecked) (string, error) {
	if !c.OK {
		return "", fmt.Errorf("the agent could not check: %s", c.Error)
	}
	a, err := model.ParseAnswer([]byte(c.Answer))
	if err != nil {
		return "", err
	}
	var img *model.Image
	if ref := h.Challenge.Image; ref != "" {
		if n.Image != ref {
			return "", fmt.Errorf("the check is for image %s, the node holds %q", ref, n.Image)
		}
		if i, ok := s.Images[ref]; ok {
			img = &i
		}
	}
	return model.CheckHandout(*h.Challenge, a, img)
}

// handoutOK is Allocate's rule for one node (see the top of this file).
func (s *State) handoutOK(n *model.Node, t time.Time) error {
	if !s.HandoutChecks || n.Agent == nil {
		return nil
	}
	h := n.Handout
	switch {
	case h == nil || h.Passed.IsZero():
		return fmt.Errorf("node %s has not passed its hand-out check", n.Name)
	case h.Seq != n.LedgerSeq:
		return fmt.Errorf("node %s: its ledger moved on since the hand-out check passed (entry %d, now %d)", n.Name, h.Seq, n.LedgerSeq)
	case t.Sub(h.Passed) > model.HandoutFresh:
		return fmt.Errorf("node %s: its hand-out check passed %s before the allocation, more than %s", n.Name, t.Sub(h.Passed), model.HandoutFresh)
	}
	return nil
}
