package api

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ibex-hpc/ibex/fabric/sm"
	"github.com/ibex-hpc/ibex/fabric/sm/ufm"
	"github.com/ibex-hpc/ibex/fabric/topology"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// TestIsolationRefusedOnUFM: on a subnet manager that can never load
// forwarding tables (UFM, whose driver says so), a link-isolated job is
// refused at submission, alone or in SubmitMany, with UFM's reason, and
// writes nothing; the same job without isolation, and a one-node job
// (isolation dropped), are accepted.
func TestIsolationRefusedOnUFM(t *testing.T) {
	h := newAPIHarness(t, topology.FatTree{Spines: 2, Leaves: 4, NodesPerLeaf: 8})
	d, err := ufm.New(ufm.Config{Client: &ufm.Client{BaseURL: "https://ufm.invalid"}, Min: 0x100, Max: 0x200})
	if err != nil {
		t.Fatal(err)
	}
	h.api.cfg.NoIsolation = sm.RoutesRefusal(d)
	if h.api.cfg.NoIsolation == "" {
		t.Fatal("the UFM driver gives no reason to refuse link isolation")
	}
	req := func(n int32, iso string) *pb.SubmitRequest {
		return &pb.SubmitRequest{NumNodes: n, TimeLimit: durationpb.New(time.Minute), Argv: []string{"true"}, Isolation: iso}
	}
	_, err = h.jobs.Submit(h.ctx(), req(4, "links"))
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "--fabric ufm") || !strings.Contains(err.Error(), "without --isolation links") {
		t.Fatalf("isolated job on UFM: %v", err)
	}
	many, err := h.jobs.SubmitMany(h.ctx(), &pb.SubmitManyRequest{Jobs: []*pb.SubmitRequest{req(2, "links")}})
	if err != nil || len(many.Results) != 1 || many.Results[0].JobId != 0 || !strings.Contains(many.Results[0].Error, "--fabric ufm") {
		t.Fatalf("SubmitMany of an isolated job on UFM: %+v, %v", many, err)
	}
	if cmds := h.store.Applied(); len(cmds) != 0 {
		t.Fatalf("refused submissions wrote %d commands", len(cmds))
	}
	for _, ok := range []*pb.SubmitRequest{req(4, ""), req(1, "links")} {
		if _, err := h.jobs.Submit(h.ctx(), ok); err != nil {
			t.Errorf("-N %d --isolation %q: %v", ok.NumNodes, ok.Isolation, err)
		}
	}
	// The cluster policy would refuse every multi-node job.
	h.api.cfg.Isolation = "links"
	if _, err := h.jobs.Submit(h.ctx(), req(2, "")); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("-N 2 under the links policy on UFM: %v", err)
	}
}
