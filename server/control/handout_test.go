package control

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/pkeypool"
	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// handouts returns the hand-out tasks sent since the last call, by node
// (the last one sent to each).
func (f *fakeAgents) handouts() map[string]*pb.AgentTask {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]*pb.AgentTask{}
	for i := f.seen; i < len(f.tasks); i++ {
		if f.tasks[i].GetHandout() != nil {
			out[f.nodes[i]] = f.tasks[i]
		}
	}
	f.seen = len(f.tasks)
	return out
}

// agentHarness is the harness with every node's agent enrolled and the
// node cleaned and ready.
func agentHarness(t *testing.T) (*harness, *fakeAgents) {
	h := newHarness(t, pkeypool.Pool{}, false)
	agents := &fakeAgents{disconnected: map[string]bool{}}
	h.loops.cfg.Agents = agents
	h.loops.jobs.cfg.Agents = agents
	now := h.store.Now()
	for _, n := range []string{"node001", "node002", "node003", "node004"} {
		h.apply(&fsm.CreateJoinToken{Node: n, Hash: "tok-" + n, Expires: now.Add(time.Hour)})
		h.apply(&fsm.Enroll{Node: n, TokenHash: "tok-" + n, CertSerial: "c-" + n, Time: now})
		for _, k := range []model.TaskKind{model.TaskErase, model.TaskFirmware} {
			h.apply(&fsm.StartTask{Node: n, Task: model.NodeTask{ID: n + string(k), Kind: k}})
			h.apply(&fsm.TaskDone{Node: n, TaskID: n + string(k), OK: true, Evidence: "{}"})
		}
		h.apply(&fsm.NodeCleaned{Node: n, Evidence: "first cleaning", PKeyCheck: &model.PKeyCheck{NoFabric: true}, Time: now})
	}
	return h, agents
}

// answer answers a hand-out task as an agent would, with leftover
// processes if given.
func (h *harness) answer(node string, task *pb.AgentTask, leftover ...string) {
	h.t.Helper()
	var ch model.Challenge
	if err := json.Unmarshal([]byte(task.GetChallengeJson()), &ch); err != nil {
		h.t.Fatal(err)
	}
	a, _ := json.Marshal(model.Answer{Nonce: ch.Nonce, Procs: &model.ProcAnswer{Checked: []string{"job cgroups"}, Leftover: leftover}})
	h.apply(&fsm.HandoutChecked{Node: node, ID: task.GetId(), OK: true, Answer: string(a), Time: h.store.Now()})
}

// TestAllocationWaitsForTheHandoutCheck: the plan's node is checked
// first; the job is allocated on the pass after a passed check, and the
// check is the node's last ledger entry before custody passes.
func TestAllocationWaitsForTheHandoutCheck(t *testing.T) {
	h, agents := agentHarness(t)
	id := h.submit("alice", 1, time.Hour)
	h.pass()
	if j := h.job(id); j.State != model.JobPending {
		t.Fatalf("allocated before any check: %s", j.State)
	}
	sent := agents.handouts()
	if len(sent) != 1 {
		t.Fatalf("hand-out checks sent to %d nodes, want the plan's one", len(sent))
	}
	var node string
	var task *pb.AgentTask
	for node, task = range sent {
	}
	if !strings.HasPrefix(task.GetId(), HandoutTaskPrefix) || task.GetChallengeJson() == "" {
		t.Fatalf("task %v", task)
	}
	h.pass() // still running: sent again, nothing allocated
	if j := h.job(id); j.State != model.JobPending {
		t.Fatalf("allocated during the check: %s", j.State)
	}
	h.answer(node, task)
	h.pass()
	j := h.job(id)
	if j.State != model.JobScheduled || len(j.Nodes) != 1 || j.Nodes[0] != node {
		t.Fatalf("job %s on %v, want scheduled on the checked %s", j.State, j.Nodes, node)
	}
	var last model.LedgerEntry
	h.store.Read(func(st *fsm.State) { l := st.Ledger[node]; last = l[len(l)-1] })
	if last.Step != fsm.HandoutStep || !last.OK {
		t.Fatalf("last entry before custody passed: %+v", last)
	}
}

// TestFailedHandoutCheckPlacesTheJobElsewhere: a node that fails its
// check is quarantined, and the job goes to a node that passes; a node
// whose agent is not connected is not planned at all.
func TestFailedHandoutCheckPlacesTheJobElsewhere(t *testing.T) {
	h, agents := agentHarness(t)
	id := h.submit("alice", 1, time.Hour)
	h.pass()
	var bad string
	for n, task := range agents.handouts() {
		bad = n
		h.answer(n, task, "4242 (sleep) of job 7")
	}
	if n := h.node(bad); n.State != model.NodeQuarantined || !strings.Contains(n.Reason, "4242 (sleep)") {
		t.Fatalf("%s: %s %q, want quarantined for the leftover process", bad, n.State, n.Reason)
	}
	for _, n := range []string{"node001", "node002", "node003", "node004"} {
		if n != bad {
			agents.disconnected[n] = true
			break
		}
	}
	h.pass()
	sent := agents.handouts()
	if len(sent) != 1 {
		t.Fatalf("checks sent to %v", sent)
	}
	for n, task := range sent {
		if n == bad || agents.disconnected[n] {
			t.Fatalf("the job was planned on %s (quarantined or disconnected)", n)
		}
		h.answer(n, task)
		h.pass()
		if j := h.job(id); j.State != model.JobScheduled || j.Nodes[0] != n {
			t.Fatalf("job %s on %v, want %s", j.State, j.Nodes, n)
		}
	}
}

// The pass leaves a node's hand-out check to the node's step in flight
// (a cleaning chain ending, which starts the check itself): two checks
// at once would both reach the agent. Once the step ended, the pass
// starts it.
func TestHandoutCheckWaitsForTheNodesStep(t *testing.T) {
	h, agents := agentHarness(t)
	for _, n := range []string{"node002", "node003", "node004"} {
		agents.disconnected[n] = true // the plan can only take node001
	}
	release := make(chan struct{})
	h.loops.jobs.steps.start(stepKey{node: "node001"}, func() { <-release })
	h.submit("alice", 1, time.Hour)
	h.loops.jobs.reconcile(t.Context())
	if sent := agents.handouts(); len(sent) != 0 {
		t.Fatalf("hand-out checks sent to %v while node001's step runs, want none", sent)
	}
	close(release)
	h.loops.jobs.steps.wait()
	h.pass()
	if sent := agents.handouts(); sent["node001"] == nil {
		t.Fatalf("hand-out checks sent to %v after node001's step ended, want node001's", sent)
	}
}
