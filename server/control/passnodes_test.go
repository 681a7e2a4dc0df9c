package control

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/pkeypool"
	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/scheduler"
	"github.com/ibex-hpc/ibex/server/fabricview"
	"github.com/ibex-hpc/ibex/server/metrics"
	"github.com/ibex-hpc/ibex/server/replica"
)

// TestNodeNamed: the binary search over a pass's nodes (in name order)
// finds every node a map would, and nothing for names not among them.
func TestNodeNamed(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		byName := map[string]*model.Node{}
		var nodes []*model.Node
		for range rng.IntN(50) {
			name := fmt.Sprintf("n%d", rng.IntN(100))
			if byName[name] == nil {
				n := &model.Node{Name: name}
				byName[name] = n
				nodes = append(nodes, n)
			}
		}
		slices.SortFunc(nodes, func(a, b *model.Node) int { return strings.Compare(a.Name, b.Name) })
		for i := range 110 {
			name := fmt.Sprintf("n%d", i)
			if got := nodeNamed(nodes, name); got != byName[name] {
				t.Fatalf("%s: got %v, want %v", name, got, byName[name])
			}
		}
	}
}

// dropAgents is an agent dispatcher that reports the listed nodes'
// agents as not connected to this leader.
type dropAgents map[string]bool

func (dropAgents) Dispatch(string, *pb.AgentTask) bool { return true }
func (d dropAgents) Connected(node string) bool        { return !d[node] }

// TestSetNodesVersionOnlyWhenNothingDropped: the pass's snapshot carries
// the state's nodes generation only when it lists the state's nodes as
// they are; with a node left out because its agent is not connected (not
// state), it carries none, so the scheduler's cache is not used.
func TestSetNodesVersionOnlyWhenNothingDropped(t *testing.T) {
	w := &fsm.Work{NodesGen: 42, Nodes: []*model.Node{
		{Name: "a", State: model.NodeReady, Agent: &model.Agent{}},
		{Name: "b", State: model.NodeReady, Agent: &model.Agent{}},
	}}
	c := &jobController{}
	var s scheduler.Snapshot
	c.setNodes(&s, w)
	if s.NodesVersion != 42 || len(s.Nodes) != 2 || s.Cache != &c.nodeCache {
		t.Fatalf("no dispatcher: version %d, %d nodes, cache %p", s.NodesVersion, len(s.Nodes), s.Cache)
	}
	c.cfg.Agents = dropAgents{}
	s = scheduler.Snapshot{}
	c.setNodes(&s, w)
	if s.NodesVersion != 42 || len(s.Nodes) != 2 {
		t.Fatalf("every agent connected: version %d, %d nodes", s.NodesVersion, len(s.Nodes))
	}
	c.cfg.Agents = dropAgents{"b": true}
	s = scheduler.Snapshot{}
	c.setNodes(&s, w)
	if s.NodesVersion != 0 || len(s.Nodes) != 1 {
		t.Fatalf("b's agent gone: version %d, %d nodes, want 0 and 1", s.NodesVersion, len(s.Nodes))
	}
}

// recordingStore is the leader's store with Apply only recording the
// command: the test decides what the state does between passes.
type recordingStore struct {
	*replica.Memory
	mu      sync.Mutex // a pass commits side by side (passcommits.go)
	applied []fsm.Command
}

func (r *recordingStore) Apply(_ context.Context, cmd fsm.Command) (any, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.applied = append(r.applied, cmd)
	return nil, nil
}

// TestPassSeesNodeChangesThroughTheCache: the scheduler's node cache is
// brought up to each new nodes generation from the changed copies
// (scheduler.Snapshot.NodesReadOnly), and the next pass plans on the
// nodes as they are now: a job needing every node is allocated, not while
// one of them is drained, and again once it is back.
func TestPassSeesNodeChangesThroughTheCache(t *testing.T) {
	fat := topology.FatTree{Spines: 1, Leaves: 2, NodesPerLeaf: 4}
	st := fsm.NewState()
	for _, h := range fat.Hosts() {
		st.Nodes[h.Name] = &model.Node{Name: h.Name, Leaf: h.Leaf, State: model.NodeReady}
	}
	mem := replica.NewMemory()
	st.Jobs[1] = &model.Job{ID: 1, Tenant: "t", NumNodes: len(st.Nodes), State: model.JobPending, TimeLimit: time.Hour, SubmitTime: mem.Now()}
	st.NextJobID = 2
	var buf bytes.Buffer
	if err := fsm.WriteSnapshot(&buf, st); err != nil {
		t.Fatal(err)
	}
	if err := mem.FSM.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	view, err := fabricview.New(mem, fat, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := pkeypool.Pool{}.WithDefaults()
	if err != nil {
		t.Fatal(err)
	}
	store := &recordingStore{Memory: mem}
	c := &jobController{cfg: Config{Store: store, Fabric: view, Keys: keys, Metrics: metrics.NewInstruments(), Log: log},
		log: log, unreachable: map[uint64]time.Time{}}
	allocated := func() bool {
		store.applied = nil
		c.schedule(context.Background(), mem.Work(queueDepth))() // and wait for its commits
		for _, cmd := range store.applied {
			if a, ok := cmd.(*fsm.Allocate); ok && a.JobID == 1 {
				return true
			}
		}
		return false
	}
	apply := func(cmd fsm.Command) {
		if r := mem.FSM.Apply(cmd); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	node := fat.Hosts()[5].Name
	if !allocated() {
		t.Fatal("every node free: job 1 not allocated")
	}
	apply(&fsm.DrainNode{Node: node, Reason: "test", By: "test", Time: mem.Now()})
	if allocated() {
		t.Fatalf("%s drained: job 1 allocated all the same", node)
	}
	apply(&fsm.UndrainNode{Node: node, By: "test", Time: mem.Now()})
	if !allocated() {
		t.Fatalf("%s back: job 1 not allocated", node)
	}
	if u := c.nodeCache.Updates(); u != 2 {
		t.Fatalf("%d passes updated the node cache, want both after a change", u)
	}
}

// TestSchedulableDropsOnlyDisconnectedReadyAgents: the pass leaves out a
// ready agent node whose agent is not connected, keeps the rest in order,
// and with every agent connected hands back the same slice (no copy of a
// 100,000-node list each pass).
func TestSchedulableDropsOnlyDisconnectedReadyAgents(t *testing.T) {
	nodes := []*model.Node{
		{Name: "a", State: model.NodeReady, Agent: &model.Agent{}},
		{Name: "b", State: model.NodeReady, Agent: &model.Agent{}},
		{Name: "c", State: model.NodeCleaning, Agent: &model.Agent{}},
		{Name: "d", State: model.NodeReady},
		{Name: "e", State: model.NodeReady, Agent: &model.Agent{}},
	}
	c := &jobController{cfg: Config{Agents: dropAgents{}}}
	if got := c.schedulable(nodes); len(got) != len(nodes) || &got[0] != &nodes[0] {
		t.Fatalf("every agent connected: got %d nodes, a copy: %v", len(got), &got[0] != &nodes[0])
	}
	for drop, want := range map[string]string{"a": "bcde", "b": "acde", "c": "abcde", "e": "abcd"} {
		c.cfg.Agents = dropAgents{drop: true}
		var names string
		for _, n := range c.schedulable(nodes) {
			names += n.Name
		}
		if names != want {
			t.Errorf("%s not connected: %s, want %s", drop, names, want)
		}
	}
}
