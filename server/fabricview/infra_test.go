package fabricview

import (
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/scheduler"
	"github.com/ibex-hpc/ibex/server/replica"
)

// TestInfraNodesInTheTree: after an import that classifies node1 as
// infrastructure, a plan never gives it to a job without features, even
// when labelled; labelled, a job asking for its label gets it.
func TestInfraNodesInTheTree(t *testing.T) {
	store := replica.NewMemory()
	v, err := New(store, topology.FatTree{Spines: 1, Leaves: 1, NodesPerLeaf: 2}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	text := dump(t, 1, 3) // node1-node3 on one leaf
	fab, err := ParseTopology(text, "")
	if err != nil {
		t.Fatal(err)
	}
	cmd := &fsm.ImportTopology{Text: text, Time: store.Now(), Replace: true, Infra: []fsm.InfraHost{{Name: "node1", Why: "login"}}}
	for _, h := range fab.Hosts() {
		cmd.Hosts = append(cmd.Hosts, fsm.NodeSpec{Name: h.Name, Leaf: fab.HostLeaves(h.Name)[0].Name})
	}
	if _, err := store.Apply(t.Context(), cmd); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Apply(t.Context(), &fsm.LabelNode{Node: "node1", Features: []string{"login"}}); err != nil {
		t.Fatal(err)
	}
	var nodes []*model.Node
	store.Read(func(st *fsm.State) {
		for _, n := range st.Nodes {
			if n.Name == "node1" || n.Name == "node2" || n.Name == "node3" {
				nodes = append(nodes, n.Clone())
			}
		}
	})
	tr := v.Tree(nodes)
	if !slices.Contains(tr.Features("node1"), scheduler.InfraFeature) {
		t.Fatalf("node1's tree features %v lack the infrastructure mark", tr.Features("node1"))
	}
	now := time.Now()
	job := func(n int) *model.Job {
		return &model.Job{ID: 7, Tenant: "a", NumNodes: n, TimeLimit: time.Hour, State: model.JobPending, SubmitTime: now}
	}
	p := scheduler.Schedule(scheduler.Snapshot{Tree: tr, Nodes: nodes, Pending: []*model.Job{job(3)}}, scheduler.IbexPolicy(), now)
	if len(p.Start) != 0 {
		t.Fatalf("3 nodes without features started on %v", p.Start[0].Nodes)
	}
	p = scheduler.Schedule(scheduler.Snapshot{Tree: tr, Nodes: nodes, Pending: []*model.Job{job(1)},
		Options: map[uint64]scheduler.JobOptions{7: {Features: []string{"login"}}}}, scheduler.IbexPolicy(), now)
	if len(p.Start) != 1 || p.Start[0].Nodes[0] != "node1" {
		t.Fatalf("-C login: %+v", p.Start)
	}
}
