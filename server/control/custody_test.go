package control

import (
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/pkeypool"
	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// cleaningAgentHarness enrolls node001's agent (certificate "c-node001")
// and runs a pass: the node is cleaning with its erase task dispatched.
func cleaningAgentHarness(t *testing.T) (*harness, *fakeAgents, *pb.AgentTask) {
	t.Helper()
	h := newHarness(t, pkeypool.Pool{}, false)
	agents := &fakeAgents{disconnected: map[string]bool{}}
	h.loops.cfg.Agents = agents
	h.loops.jobs.cfg.Agents = agents
	now := h.store.Now()
	h.apply(&fsm.CreateJoinToken{Node: "node001", Hash: "tok", Expires: now.Add(time.Hour)})
	h.apply(&fsm.Enroll{Node: "node001", TokenHash: "tok", CertSerial: "c-node001", Time: now})
	h.store.Advance(time.Second)
	h.pass()
	n := h.node("node001")
	if n.Task == nil || n.Task.Kind != model.TaskErase {
		t.Fatalf("no erase task after the first pass: %+v", n.Task)
	}
	agents.mu.Lock()
	defer agents.mu.Unlock()
	if len(agents.tasks) == 0 || agents.tasks[len(agents.tasks)-1].GetId() != n.Task.ID {
		t.Fatalf("erase task %s not dispatched: %v", n.Task.ID, agents.tasks)
	}
	return h, agents, agents.tasks[len(agents.tasks)-1]
}

// verifiedLedger is node's chain of custody, verified.
func (h *harness) verifiedLedger(node string) []model.LedgerEntry {
	h.t.Helper()
	var l []model.LedgerEntry
	h.store.Read(func(st *fsm.State) { l = append(l, st.Ledger[node]...) })
	if n, err := model.VerifyChain(l); err != nil || n != len(l) {
		h.t.Fatalf("%s's chain: %d of %d verified: %v", node, n, len(l), err)
	}
	return l
}

func findStep(l []model.LedgerEntry, step string) *model.LedgerEntry {
	for i := range l {
		if l[i].Step == step {
			return &l[i]
		}
	}
	return nil
}

// TestAgentLostMidCleanIsInterrupted: the agent dies in the middle of its
// erase (it leaves the gossip pool); the leader marks the node down and
// the erase it had dispatched is an interrupted ledger entry naming the
// leader, the task's start and when it was given up. When the agent is
// back, the step runs again as a new task.
func TestAgentLostMidCleanIsInterrupted(t *testing.T) {
	h, _, task := cleaningAgentHarness(t)
	started := h.node("node001").Task.Started
	g := &fakeGossip{joined: true, alive: map[string]bool{"node001": true}}
	h.loops.cfg.Gossip = g
	seen := map[string]time.Time{}
	h.loops.livenessPass(t.Context(), seen)

	h.store.Advance(30 * time.Second)
	g.mu.Lock()
	g.alive = map[string]bool{}
	g.mu.Unlock()
	lost := h.store.Now()
	h.loops.livenessPass(t.Context(), seen)

	if n := h.node("node001"); n.State != model.NodeDown || n.Task != nil {
		t.Fatalf("node001 %s with task %v, want down without one", n.State, n.Task)
	}
	l := h.verifiedLedger("node001")
	e := findStep(l, model.Interrupted(string(model.TaskErase)))
	if e == nil {
		t.Fatalf("no interrupted erase in the ledger: %+v", l)
	}
	if e.OK || e.Actor != "server s1" || !e.Start.Equal(started) || !e.End.Equal(lost) || e.Start.After(e.End) ||
		!strings.Contains(e.Evidence, task.GetId()) || !strings.Contains(e.Evidence, "agent c-node001") || !strings.Contains(e.Evidence, "went down") {
		t.Fatalf("interrupted entry: %+v", *e)
	}
	if d := findStep(l, "down"); d == nil || d.Actor != "server s1 (gossip)" {
		t.Fatalf("down entry: %+v", d)
	}

	// Back again: cleaning starts over with a new erase task.
	g.mu.Lock()
	g.alive = map[string]bool{"node001": true}
	g.mu.Unlock()
	h.store.Advance(time.Second)
	h.loops.livenessPass(t.Context(), seen)
	h.pass()
	if n := h.node("node001"); n.State != model.NodeCleaning || n.Task == nil || n.Task.ID == task.GetId() || n.Task.Kind != model.TaskErase {
		t.Fatalf("after the agent came back: %s %+v", n.State, n.Task)
	}
}

// TestOverdueTaskIsGivenUp: a task that never answers (the agent lost it
// without dying, a result that never arrives) is given up after the task
// timeout as an interrupted entry, counted as a failed attempt, and the
// step runs again as a new task; past the failure limit the node is
// quarantined instead of cleaning forever.
func TestOverdueTaskIsGivenUp(t *testing.T) {
	h, _, first := cleaningAgentHarness(t)
	h.loops.jobs.cfg.TaskTimeout = time.Hour
	h.store.Advance(time.Hour) // not yet past it
	h.pass()
	if n := h.node("node001"); n.Task == nil || n.Task.ID != first.GetId() {
		t.Fatalf("given up before the timeout: %+v", n.Task)
	}
	ids := map[string]bool{first.GetId(): true}
	for i := range model.MaxStepFailures {
		h.store.Advance(time.Hour + time.Second)
		h.pass() // gives the task up
		h.pass() // starts the step again, or quarantines
		n := h.node("node001")
		if i == model.MaxStepFailures-1 {
			if n.State != model.NodeQuarantined {
				t.Fatalf("after %d overdue erases: %s", i+1, n.State)
			}
			break
		}
		if n.Task == nil || ids[n.Task.ID] {
			t.Fatalf("attempt %d: no new task: %+v", i+2, n.Task)
		}
		ids[n.Task.ID] = true
	}
	var interrupted int
	for _, e := range h.verifiedLedger("node001") {
		if e.Step == model.Interrupted(string(model.TaskErase)) {
			interrupted++
			if e.Actor != "server s1" || !strings.Contains(e.Evidence, "no result within 1h0m0s") || e.End.Sub(e.Start) <= time.Hour {
				t.Errorf("interrupted entry: %+v", e)
			}
		}
	}
	if interrupted != model.MaxStepFailures {
		t.Fatalf("%d interrupted erases in the ledger, want %d", interrupted, model.MaxStepFailures)
	}
}

// TestNewLeaderStampsItsID: entries a leader's loop writes name that
// leader; after a failover, the new one.
func TestNewLeaderStampsItsID(t *testing.T) {
	h, _, _ := cleaningAgentHarness(t)
	h.store.SetServer("s2")
	h.store.SetTerm(2)
	h.apply(&fsm.QuarantineNode{Node: "node001", Reason: "operator", Time: h.store.Now()})
	l := h.verifiedLedger("node001")
	if e := l[len(l)-1]; e.Step != "quarantine" || e.Actor != "server s2" {
		t.Fatalf("quarantine entry: %+v", e)
	}
	if e := findStep(l, model.Interrupted(string(model.TaskErase))); e == nil || e.Actor != "server s2" {
		t.Fatalf("the erase the quarantine cut short: %+v", e)
	}
}
