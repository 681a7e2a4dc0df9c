package api

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ibex-hpc/ibex/fabric/topology"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// TestSubmitThatCanNeverRunWritesNothing: a job larger than the cluster,
// than its features allow, or than its --switches leaves can hold is
// refused with the reason, and nothing reaches the replicated log.
func TestSubmitThatCanNeverRunWritesNothing(t *testing.T) {
	h := newAPIHarness(t, topology.FatTree{Spines: 1, Leaves: 2, NodesPerLeaf: 4})
	base := func() *pb.SubmitRequest {
		return &pb.SubmitRequest{NumNodes: 2, TimeLimit: durationpb.New(time.Minute), Argv: []string{"true"}}
	}
	cases := map[string]struct {
		mod  func(*pb.SubmitRequest)
		want string
	}{
		"more nodes than the cluster": {func(r *pb.SubmitRequest) { r.NumNodes = 9 }, "the cluster has 8"},
		"features nobody has":         {func(r *pb.SubmitRequest) { r.Features = []string{"gpu"} }, "features"},
		"more than one leaf holds":    {func(r *pb.SubmitRequest) { r.NumNodes, r.Switches = 5, 1 }, "largest leaf has 4"},
		"control characters":          {func(r *pb.SubmitRequest) { r.Name = "\x1b]0;pwned\a" }, "non-printing"},
	}
	for name, c := range cases {
		req := base()
		c.mod(req)
		_, err := h.jobs.Submit(h.ctx(), req)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want InvalidArgument mentioning %q", name, err, c.want)
		}
	}
	if cmds := h.store.Applied(); len(cmds) != 0 {
		t.Fatalf("refused submissions wrote %d commands: %+v", len(cmds), cmds)
	}
	req := base()
	req.NumNodes, req.Switches = 4, 1
	if _, err := h.jobs.Submit(h.ctx(), req); err != nil {
		t.Fatalf("a job that fits one leaf was refused: %v", err)
	}
}

func TestListRefusesUnknownState(t *testing.T) {
	h := newAPIHarness(t, topology.FatTree{Spines: 1, Leaves: 1, NodesPerLeaf: 2})
	if _, err := h.jobs.List(h.ctx(), &pb.ListJobsRequest{States: []string{"bogus"}}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("state bogus: %v", err)
	}
}
