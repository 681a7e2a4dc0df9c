package control

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// aheadAgents is fakeAgents that can send a task ahead of its record: it
// notes, for every task so sent, whether the state held its record when it
// was sent and when recorded was called.
type aheadAgents struct {
	*fakeAgents
	h     *harness
	mu    sync.Mutex
	ahead []aheadSend
}

type aheadSend struct {
	id                    string
	recordedAtSend, atRel bool
	released              bool
}

// holds reports whether node's state records task id (a hygiene task or
// a hand-out check).
func (a *aheadAgents) holds(node, id string) bool {
	n := a.h.node(node)
	return (n.Task != nil && n.Task.ID == id) || (n.Handout != nil && n.Handout.ID == id)
}

func (a *aheadAgents) DispatchAhead(node string, t *pb.AgentTask) (bool, func()) {
	at := a.holds(node, t.GetId())
	a.mu.Lock()
	i := len(a.ahead)
	a.ahead = append(a.ahead, aheadSend{id: t.GetId(), recordedAtSend: at})
	a.mu.Unlock()
	return a.Dispatch(node, t), func() {
		at := a.holds(node, t.GetId())
		a.mu.Lock()
		a.ahead[i].released, a.ahead[i].atRel = true, at
		a.mu.Unlock()
	}
}

// Hand-out checks and cleaning steps go to the agent before their record
// commits, and the dispatcher is told once the record is in.
func TestTasksAreSentAheadOfTheirRecord(t *testing.T) {
	h, fake := agentHarness(t)
	agents := &aheadAgents{fakeAgents: fake, h: h}
	h.loops.cfg.Agents = agents
	h.loops.jobs.cfg.Agents = agents

	id := h.submit("alice", 1, time.Hour)
	h.pass() // the plan's node gets its hand-out check
	for node, task := range fake.handouts() {
		h.answer(node, task)
	}
	h.pass() // allocates
	h.pass() // launches
	j := h.job(id)
	if j.State != model.JobRunning {
		t.Fatalf("job %d is %s, want running", id, j.State)
	}
	h.exec.exit(id, j.Nodes[0], 0)
	h.pass() // watches: finished; the node's cleaning starts with its stop, then the erase

	kinds := map[string]bool{}
	for _, s := range agents.ahead {
		if s.recordedAtSend || !s.released || !s.atRel {
			t.Errorf("task %s: recorded when sent %v, released %v, recorded when released %v; want sent before its record, released after it", s.id, s.recordedAtSend, s.released, s.atRel)
		}
		switch {
		case strings.HasPrefix(s.id, HandoutTaskPrefix):
			kinds["handout"] = true
		case strings.Contains(s.id, "/"+string(model.TaskErase)+"/"):
			kinds["erase"] = true
		}
	}
	if !kinds["handout"] || !kinds["erase"] {
		t.Fatalf("sent ahead: %v, want the hand-out check and the erase", agents.ahead)
	}
	if n := h.node(j.Nodes[0]); n.Task == nil || n.Task.Kind != model.TaskErase {
		t.Fatalf("node %s runs %v, want its erase recorded", j.Nodes[0], n.Task)
	}
}
