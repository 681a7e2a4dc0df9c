package control

import (
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// waitNode polls node name until cond holds (20 s at most).
func (h *harness) waitNode(name, what string, cond func(model.Node) bool) model.Node {
	h.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(time.Millisecond) {
		if n := h.node(name); cond(n) {
			return n
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("node %s: no %s within 20s", name, what)
		}
	}
}

// answerTask commits an honest agent's result of the node's running task.
func (h *harness) answerTask(n model.Node) {
	h.t.Helper()
	h.apply(&fsm.TaskDone{Node: n.Name, TaskID: n.Task.ID, OK: true, Evidence: `{"simulated":true}`, Answer: honestAnswer(h.t, n.Task), Time: h.store.Now()})
}

// A cleaning chain sends the firmware step while the erase still runs,
// and records it, with the id it was sent with, once the erase is done;
// the gateway may commit its result only after that record.
func TestNextCleaningStepIsSentAhead(t *testing.T) {
	h, fake := agentHarness(t)
	agents := &aheadAgents{fakeAgents: fake, h: h}
	h.loops.cfg.Agents = agents
	h.loops.jobs.cfg.Agents = agents
	h.loops.jobs.cfg.CleanChainWait = time.Minute // the chain waits for the answers below

	id := h.submit("alice", 1, time.Hour)
	h.pass()
	for node, task := range fake.handouts() {
		h.answer(node, task)
	}
	h.pass() // allocates
	h.pass() // launches
	j := h.job(id)
	node := j.Nodes[0]
	h.exec.exit(id, node, 0)
	passed := make(chan struct{})
	go func() { defer close(passed); h.pass() }() // the watch ends the job; the node's chain cleans it

	erasing := h.waitNode(node, "erase", func(n model.Node) bool { return n.Task != nil && n.Task.Kind == model.TaskErase })
	sentAhead := func() (aheadSend, bool) {
		agents.mu.Lock()
		defer agents.mu.Unlock()
		for _, s := range agents.ahead {
			if strings.Contains(s.id, "/"+string(model.TaskFirmware)+"/") {
				return s, true
			}
		}
		return aheadSend{}, false
	}
	var fw aheadSend
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(time.Millisecond) {
		var ok bool
		if fw, ok = sentAhead(); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no firmware step sent while the erase runs; sent ahead: %v", agents.ahead)
		}
	}
	if fw.released {
		t.Fatalf("the firmware step's result was let in before the step was recorded: %+v", fw)
	}

	h.answerTask(erasing)
	firmware := h.waitNode(node, "firmware step", func(n model.Node) bool { return n.Task != nil && n.Task.Kind == model.TaskFirmware })
	if firmware.Task.ID != fw.id {
		t.Fatalf("recorded firmware step %s, want the one sent ahead, %s", firmware.Task.ID, fw.id)
	}
	h.answerTask(firmware)
	<-passed
	if n := h.node(node); n.State != model.NodeReady {
		t.Fatalf("node %s is %s after its steps, want ready", node, n.State)
	}
	fw, _ = sentAhead()
	if !fw.released || !fw.atRel {
		t.Fatalf("firmware step sent ahead: %+v, want its result let in once it was recorded", fw)
	}
}
