package control

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/scheduler"
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
