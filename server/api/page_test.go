package api

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/client"
	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// TestListingsPageUnderTheMessageLimit: 100 pending jobs of 60 KiB each
// (6 MB, beyond gRPC's 4 MiB) come back whole, page by page, in order.
func TestListingsPageUnderTheMessageLimit(t *testing.T) {
	h := newAPIHarness(t, topology.FatTree{Spines: 1, Leaves: 2, NodesPerLeaf: 4})
	big := strings.Repeat("x", 60<<10)
	for i := 0; i < 100; i++ {
		cmd := &fsm.SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Minute, Argv: []string{"echo", big}}, Time: h.store.Now()}
		if _, err := h.store.Apply(context.Background(), cmd); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := h.jobs.List(h.ctx(), &pb.ListJobsRequest{})
	if err != nil {
		t.Fatalf("first page: %v", err)
	}
	if len(resp.Jobs) >= 100 || resp.NextAfterId == 0 {
		t.Fatalf("first page has %d jobs, next %d: want a partial page", len(resp.Jobs), resp.NextAfterId)
	}
	jobs, err := client.AllJobs(h.ctx(), h.jobs, &pb.ListJobsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 100 {
		t.Fatalf("%d jobs listed, want 100", len(jobs))
	}
	for i, j := range jobs {
		if j.Id != uint64(i+1) {
			t.Fatalf("job %d at position %d: pages overlap or skip", j.Id, i)
		}
	}
	small, err := h.jobs.List(h.ctx(), &pb.ListJobsRequest{PageSize: 7})
	if err != nil || len(small.Jobs) != 7 || small.NextAfterId != 7 {
		t.Fatalf("page of 7: %d jobs, next %d, %v", len(small.Jobs), small.NextAfterId, err)
	}
	nodes, err := client.AllNodes(h.ctx(), h.nodes)
	if err != nil || len(nodes) != 8 {
		t.Fatalf("nodes: %d, %v", len(nodes), err)
	}
	page, err := h.nodes.List(h.ctx(), &pb.ListNodesRequest{PageSize: 3, After: nodes[2].Name})
	if err != nil || len(page.Nodes) != 3 || page.Nodes[0].Name != nodes[3].Name || page.NextAfter != nodes[5].Name {
		t.Fatalf("node page after %s: %v next %q, %v", nodes[2].Name, page.GetNodes(), page.GetNextAfter(), err)
	}
}
