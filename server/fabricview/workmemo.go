package fabricview

import (
	"reflect"
	"slices"
	"sync"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/scheduler"
)

// The leader asks for the tree every pass, and Tree walks every node to
// find the inputs of the tree (placements and labels) even when the
// cached tree stands: some 2 ms of a pass on a 100,000-node fabric, most
// of it fetching nodes from memory. fsm.Work's nodes are read-only shared
// copies, a changed node a new copy, so the walk can be skipped: a list
// that differs from the last one only in nodes whose placement and
// labels are the same gives the same tree.

// workMemo is the tree the last Work's nodes gave.
type workMemo struct {
	mu    sync.Mutex
	nodes []*model.Node // held: their pointers are not reused
	gen   uint64        // the import's parse number, 0 for none
	tree  *scheduler.Tree
}

// TreeOfWork is Tree(w.Nodes), skipping the walk of the nodes when only
// nodes whose placement and labels did not change changed since the last
// call.
func (v *View) TreeOfWork(w *fsm.Work) *scheduler.Tree {
	var gen uint64
	if imp := v.Imported(); imp != nil {
		gen = imp.gen
	}
	m := &v.workMemo
	m.mu.Lock()
	if m.tree != nil && m.gen == gen && sameTreeInputs(m.nodes, w.Nodes) {
		t := m.tree
		m.mu.Unlock()
		return t
	}
	m.mu.Unlock()
	t := v.Tree(w.Nodes)
	m.mu.Lock()
	m.nodes, m.gen, m.tree = w.Nodes, gen, t
	m.mu.Unlock()
	return t
}

// sameTreeInputs reports whether two lists of read-only nodes give the
// same tree: the same length, and every node whose pointer changed has
// the same name, placement and labels. O(nodes) pointer compares, and a
// look at the changed nodes only.
func sameTreeInputs(was, now []*model.Node) bool {
	if len(was) != len(now) {
		return false
	}
	for i, n := range now {
		o := was[i]
		if n == o {
			continue
		}
		if o.Name != n.Name || o.Infra != n.Infra || !slices.Equal(o.Features, n.Features) || !reflect.DeepEqual(o.Placement, n.Placement) {
			return false
		}
	}
	return true
}
