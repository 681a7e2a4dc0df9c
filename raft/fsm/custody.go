package fsm

import (
	"fmt"
	"strings"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// The chain of custody's "who" and "when": the server that acted, the
// start and end of each step, and the attempts that were dispatched and
// then lost. (ledger in hygiene.go numbers and chains the entries.)
//
// Every command that writes ledger entries embeds an Origin, which the
// store of the leader that commits it stamps with its raft server id
// (Stamp). A stamped command's entries name that server where they used
// to say "ibexd", carry when their step started and ended, and record
// interrupted attempts. A command from an older leader has no origin and
// applies exactly as it did then: replaying an old log gives the ledger,
// hashes included, that it gave.

// Origin is what the committing leader adds to a command about itself.
type Origin struct {
	// Server is the raft server id of the leader that committed the
	// command; empty in commands from versions before it was recorded.
	Server string `json:"server,omitempty"`
}

// StampServer sets the server id unless the command has one already.
func (o *Origin) StampServer(id string) {
	if o.Server == "" {
		o.Server = id
	}
}

// serverStamped is a command that embeds an Origin.
type serverStamped interface{ StampServer(id string) }

// Stamp records in cmd, if it carries an Origin, that server commits it.
// Stores call it in Apply: only the leader's Apply reaches raft.
func Stamp(cmd Command, server string) {
	if s, ok := cmd.(serverStamped); ok && server != "" {
		s.StampServer(server)
	}
}

// maxServerID bounds the server id a ledger entry names (raft ids are
// short; the bound keeps a damaged command from bloating the ledger).
const maxServerID = 128

// serverActor is the actor of an entry a leader wrote itself, by the
// placeholder older versions used: "ibexd" (with any qualifier, e.g.
// "ibexd (fabric import)") becomes "server s1" ("server s1 (fabric
// import)"), and "gossip" "server s1 (gossip)". Other actors (an agent,
// an admin) are kept.
func serverActor(actor, server string) string {
	if len(server) > maxServerID {
		server = server[:maxServerID]
	}
	switch {
	case actor == "" || actor == "ibexd":
		return "server " + server
	case strings.HasPrefix(actor, "ibexd ") || strings.HasPrefix(actor, "ibexd/"):
		return "server " + server + actor[len("ibexd"):]
	case actor == "gossip":
		return "server " + server + " (gossip)"
	}
	return actor
}

// ledgerBy appends e to n's chain as committed by o. With a server
// stamped, the actor names it and the entry spans e.Start (the step's
// start; its end when unset) to e.End (its end; e.Time when unset). The
// servers' clocks may disagree by a little: an entry never starts after
// it ends (the start is moved back to the end). Without one, e is what an
// older version wrote: no span, the actor as given.
func (s *State) ledgerBy(n *model.Node, o Origin, e model.LedgerEntry) {
	if o.Server == "" {
		e.Start, e.End = time.Time{}, time.Time{}
		s.ledger(n, e)
		return
	}
	e.Actor = serverActor(e.Actor, o.Server)
	if e.End.IsZero() {
		e.End = e.Time
	}
	if e.Start.IsZero() || e.Start.After(e.End) {
		e.Start = e.End
	}
	s.ledger(n, e)
}

// interrupt records the node's running agent task and hand-out check, if
// any, as interrupted for why (the node went down, was quarantined, its
// agent was revoked or replaced) and drops them: no answer to them can
// count any more. Only a stamped command does; an older one clears what
// it cleared before, without an entry.
func (s *State) interrupt(n *model.Node, o Origin, why string, t time.Time) {
	if o.Server == "" {
		return
	}
	if n.Task != nil {
		s.interruptTask(n, o, why, t)
	}
	if h := n.Handout; h != nil && h.Passed.IsZero() {
		s.interruptHandout(n, o, h, why, t)
		n.Handout = nil
	}
}

// interruptTask records n's running task as interrupted and drops it.
func (s *State) interruptTask(n *model.Node, o Origin, why string, t time.Time) {
	tk := n.Task
	job := n.LastJobID
	if n.State == model.NodeAllocated {
		job = n.JobID // a deployment's image task
	}
	s.ledgerBy(n, o, model.LedgerEntry{Time: t, Start: tk.Started, Step: model.Interrupted(string(tk.Kind)), Actor: "ibexd", OK: false, JobID: job,
		Evidence: fmt.Sprintf("task %s (%s) started at %s, given up: %s", tk.ID, agentName(n), tk.Started.UTC().Format(time.RFC3339Nano), why)})
	n.Task = nil
}

// interruptHandout records the running hand-out check h as interrupted.
func (s *State) interruptHandout(n *model.Node, o Origin, h *model.Handout, why string, t time.Time) {
	s.ledgerBy(n, o, model.LedgerEntry{Time: t, Start: h.Started, Step: model.Interrupted(HandoutStep), Actor: "ibexd", OK: false,
		Evidence: fmt.Sprintf("check %s (%s) started at %s, given up: %s; the node is checked again before it is handed out",
			h.ID, agentName(n), h.Started.UTC().Format(time.RFC3339Nano), why)})
}

// agentName names the agent that was to do an attempt.
func agentName(n *model.Node) string {
	if n.Agent == nil {
		return "no agent"
	}
	return "agent " + n.Agent.CertSerial
}

// InterruptTask records that the leader gave up a node's running agent
// task (no result within the task timeout): the attempt is an
// interrupted ledger entry and counts as a failed attempt at its step,
// so a step that never finishes ends in quarantine, not in a node that
// cleans forever.
type InterruptTask struct {
	Node   string    `json:"node"`
	TaskID string    `json:"task_id"`
	Reason string    `json:"reason"`
	Time   time.Time `json:"time"`
	Origin
}

// CmdInterruptTask is InterruptTask's type byte (the ledger's range is 85-86).
const CmdInterruptTask CommandType = 85

func (InterruptTask) Type() CommandType { return CmdInterruptTask }

func init() { registerE(CmdInterruptTask, (*State).interruptTaskCmd) }

// maxInterruptReason bounds InterruptTask's reason.
const maxInterruptReason = 4 << 10

func (s *State) interruptTaskCmd(c *InterruptTask) error {
	n, ok := s.Nodes[c.Node]
	if !ok {
		return errorf(ErrNotFound, "node %q", c.Node)
	}
	switch {
	case n.Task == nil || n.Task.ID != c.TaskID:
		return errorf(ErrConflict, "node %s is not running task %s", n.Name, c.TaskID)
	case c.Reason == "" || len(c.Reason) > maxInterruptReason:
		return errorf(ErrInvalid, "node %s: interrupting task %s needs a reason of at most %d bytes", n.Name, c.TaskID, maxInterruptReason)
	}
	if n.State == model.NodeCleaning {
		stepFailed(n, n.Task.Kind)
	}
	s.interruptTask(n, c.Origin, c.Reason, c.Time)
	return nil
}

// recordReruns writes, before the result of the agent's task id (step
// step, started by the leader at started, its result in at with answer),
// the runs of it that died with the agent process, as the agent's answer
// accounts for them (model.Reruns): the agent ran the task again from
// scratch under the same id, so without this entry the lost run would
// hide inside the result's span. An unreadable answer adds nothing here
// (the result's own judgement reports it).
func (s *State) recordReruns(n *model.Node, o Origin, step, id, answer string, job uint64, started, at time.Time) {
	if answer == "" {
		return
	}
	a, err := model.ParseAnswer([]byte(answer))
	if err != nil || a.Reruns == nil {
		return
	}
	r := *a.Reruns
	start, end := r.RerunSpan(started, at)
	s.ledgerBy(n, o, model.LedgerEntry{Time: at, Start: start, End: end, Step: model.Interrupted(step), Actor: "agent", OK: false, JobID: job,
		Evidence: fmt.Sprintf("task %s: %d run(s) died with the agent process, the last begun at %s; run again from scratch at %s (the agent's account and clock)",
			id, r.Interrupted, r.LastStarted.UTC().Format(time.RFC3339Nano), r.Again.UTC().Format(time.RFC3339Nano))})
}
