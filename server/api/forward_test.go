package api

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// TestServersHeader: a client that knows fewer servers than the cluster
// has gets every server's API address; one that knows them all does not.
func TestServersHeader(t *testing.T) {
	h := newAPIHarness(t, topology.FatTree{Spines: 1, Leaves: 1, NodesPerLeaf: 2})
	for _, id := range []string{"s1", "s2"} {
		if _, err := h.store.Apply(context.Background(), &fsm.RegisterServer{Server: model.Server{ID: id, RaftAddr: id + ":1", APIAddr: id + ":2"}}); err != nil {
			t.Fatal(err)
		}
	}
	call := func(known string) string {
		var hdr metadata.MD
		ctx := metadata.AppendToOutgoingContext(h.ctx(), "ibex-servers-known", known)
		if _, err := h.jobs.List(ctx, &pb.ListJobsRequest{}, grpc.Header(&hdr)); err != nil {
			t.Fatal(err)
		}
		if v := hdr.Get("ibex-servers"); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	if got := call("1"); got != "s1:2,s2:2" {
		t.Fatalf("client knowing 1 of 2 servers got %q", got)
	}
	if got := call("2"); got != "" {
		t.Fatalf("client knowing every server got %q", got)
	}
}
