package control

import (
	"slices"
	"strings"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/scheduler"
)

// nodeNamed finds a node of a pass's view (fsm.Work.Nodes, in name order)
// by binary search. A map of every node, built each pass for the few
// nodes a plan starts jobs on, cost more than the scheduling itself on a
// 100,000-node fabric.
func nodeNamed(nodes []*model.Node, name string) *model.Node {
	i, ok := slices.BinarySearchFunc(nodes, name, func(n *model.Node, name string) int { return strings.Compare(n.Name, name) })
	if !ok {
		return nil
	}
	return nodes[i]
}

// setNodes gives the pass's snapshot its nodes, the ones the scheduler may
// consider (schedulable), and lets the scheduler reuse its loading of them
// from an earlier pass when they are provably the same: Work's NodesGen
// names the state's nodes and active jobs, so it is the snapshot's
// version only when schedulable dropped no node (which agents are
// connected is not in the state). Work's nodes and active jobs are shared
// read-only copies, a changed one a new copy, so the scheduler may bring
// its loading up to a new generation from the changed pointers alone.
func (c *jobController) setNodes(s *scheduler.Snapshot, w *fsm.Work) {
	s.Nodes = c.schedulable(w.Nodes)
	s.Cache, s.NodesReadOnly = &c.nodeCache, true
	if len(s.Nodes) == len(w.Nodes) {
		s.NodesVersion = w.NodesGen
	}
}
