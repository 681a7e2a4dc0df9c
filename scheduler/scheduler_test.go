package scheduler

import (
	"fmt"
	"slices"
	"testing"

	"github.com/ibex-hpc/ibex/model"
)

// cluster builds leaves×perLeaf ready nodes named node001.. on leaf01...
func cluster(leaves, perLeaf int) []*model.Node {
	var out []*model.Node
	for i := 0; i < leaves*perLeaf; i++ {
		out = append(out, &model.Node{Name: fmt.Sprintf("node%03d", i+1), Leaf: fmt.Sprintf("leaf%02d", i/perLeaf+1), State: model.NodeReady})
	}
	return out
}

func jobs(sizes ...int) []*model.Job {
	var out []*model.Job
	for i, n := range sizes {
		out = append(out, &model.Job{ID: uint64(i + 1), NumNodes: n})
	}
	return out
}

func TestFIFOPacksLeaves(t *testing.T) {
	nodes := cluster(4, 8)
	// leaf01 has 3 free, leaf02 8, leaf03 5, leaf04 8.
	for _, i := range []int{0, 1, 2, 3, 4, 16, 17, 18} {
		nodes[i].State = model.NodeAllocated
	}
	plan := FIFO(Snapshot{Pending: jobs(4, 3, 10), Nodes: nodes})
	want := []Assignment{
		{1, []string{"node020", "node021", "node022", "node023"}, nil}, // best fit: leaf03 (5 free)
		{2, []string{"node006", "node007", "node008"}, nil},            // leaf01 exactly
		// 10 nodes: no single leaf; fullest leaves first (leaf02 8, leaf04 2).
		{3, []string{"node009", "node010", "node011", "node012", "node013", "node014", "node015", "node016", "node025", "node026"}, nil},
	}
	if len(plan) != len(want) {
		t.Fatalf("plan = %v", plan)
	}
	for i := range want {
		if plan[i].JobID != want[i].JobID || !slices.Equal(plan[i].Nodes, want[i].Nodes) {
			t.Errorf("assignment %d = %v, want %v", i, plan[i], want[i])
		}
	}
}

func TestFIFOHeadBlocks(t *testing.T) {
	nodes := cluster(2, 4)
	nodes[0].Drained = true
	plan := FIFO(Snapshot{Pending: jobs(8, 1), Nodes: nodes})
	if len(plan) != 0 {
		t.Fatalf("job behind a blocked head was placed: %v", plan)
	}
}

func TestFIFONeverReusesANode(t *testing.T) {
	nodes := cluster(3, 5)
	plan := FIFO(Snapshot{Pending: jobs(4, 4, 4, 3, 1), Nodes: nodes})
	seen := map[string]bool{}
	count := 0
	for _, a := range plan {
		for _, n := range a.Nodes {
			if seen[n] {
				t.Fatalf("node %s placed twice: %v", n, plan)
			}
			seen[n] = true
		}
		count += len(a.Nodes)
	}
	if count != 15 {
		t.Fatalf("placed %d nodes, want all 15: %v", count, plan)
	}
}
