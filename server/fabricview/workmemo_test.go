package fabricview

import (
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/replica"
)

// memoView is a view over a small fat tree and its nodes, all ready.
func memoView(t *testing.T) (*View, []*model.Node) {
	t.Helper()
	fat := topology.FatTree{Spines: 2, Leaves: 4, NodesPerLeaf: 4}
	v, err := New(replica.NewMemory(), fat, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	var nodes []*model.Node
	for _, h := range fat.Hosts() {
		nodes = append(nodes, &model.Node{Name: h.Name, Leaf: h.Leaf, State: model.NodeReady})
	}
	return v, nodes
}

// TestTreeOfWorkSeesLabelChanges: over a sequence of node lists changed
// the way fsm.Work's are (a changed node is a new copy), some changes of
// state only, some of labels or infrastructure marks, TreeOfWork gives
// the tree Tree gives, the one with the labels as they are now.
func TestTreeOfWorkSeesLabelChanges(t *testing.T) {
	v, nodes := memoView(t)
	rng := rand.New(rand.NewPCG(5, 8))
	for step := range 300 {
		nodes = slices.Clone(nodes)
		i := rng.IntN(len(nodes))
		n := nodes[i].Clone()
		switch rng.IntN(4) {
		case 0:
			n.Features = [][]string{nil, {"gpu"}, {"bigmem", "gpu"}}[rng.IntN(3)]
		case 1:
			n.Infra = []string{"", "login"}[rng.IntN(2)]
		default:
			n.Drained = !n.Drained
		}
		nodes[i] = n
		got := v.TreeOfWork(&fsm.Work{Nodes: nodes})
		want := v.Tree(nodes)
		if got != want {
			t.Fatalf("step %d: TreeOfWork gave another tree than Tree", step)
		}
		if len(n.Features) > 0 && !slices.Equal(got.Features(n.Name), slices.Sorted(slices.Values(treeFeatures(n)))) {
			t.Fatalf("step %d: %s has labels %v in the tree, want %v", step, n.Name, got.Features(n.Name), treeFeatures(n))
		}
	}
}

// TestTreeOfWorkSkipsTheWalk: the memo is what answers when no label
// changed, so a node changed in place (breaking the read-only promise)
// goes unseen: the check above could fail.
func TestTreeOfWorkSkipsTheWalk(t *testing.T) {
	v, nodes := memoView(t)
	before := v.TreeOfWork(&fsm.Work{Nodes: nodes})
	nodes[3].Features = []string{"gpu"} // in place
	if got := v.TreeOfWork(&fsm.Work{Nodes: nodes}); got != before {
		t.Fatal("a node changed in place was seen: the memo did not answer")
	}
	if v.Tree(nodes) == before {
		t.Fatal("Tree did not see the new label either")
	}
	copied := slices.Clone(nodes)
	copied[3] = nodes[3].Clone()
	copied[3].Features = []string{"gpu", "nvme"}
	if got := v.TreeOfWork(&fsm.Work{Nodes: copied}); got == before || !slices.Equal(got.Features(copied[3].Name), []string{"gpu", "nvme"}) {
		t.Fatal("a label change in a new copy went unseen")
	}
}
