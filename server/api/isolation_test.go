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

// On 4 leaves of 8 nodes with 2 spines (one cable each), an isolated job
// holds as many spines per leaf as its largest share of a leaf, so at most
// 8 nodes run isolated (2 on each of 4 leaves, or one whole leaf): -N 9
// with --isolation links is refused and writes nothing, -N 9 without is
// accepted, and an accepted isolated job carries its mode.
func TestSubmitWithIsolation(t *testing.T) {
	h := newAPIHarness(t, topology.FatTree{Spines: 2, Leaves: 4, NodesPerLeaf: 8})
	req := func(n int32, iso string) *pb.SubmitRequest {
		return &pb.SubmitRequest{NumNodes: n, TimeLimit: durationpb.New(time.Minute), Argv: []string{"true"}, Isolation: iso}
	}
	for _, bad := range []*pb.SubmitRequest{req(9, "links"), req(2, "spines"), req(2, strings.Repeat("x", 1<<16))} {
		_, err := h.jobs.Submit(h.ctx(), bad)
		if status.Code(err) != codes.InvalidArgument || len(err.Error()) > 512 {
			t.Errorf("-N %d --isolation %.20q: err = %v, want a short InvalidArgument", bad.NumNodes, bad.Isolation, err)
		}
	}
	if _, err := h.jobs.Submit(h.ctx(), req(9, "links")); err == nil || !strings.Contains(err.Error(), "at most 8") {
		t.Errorf("the refusal should say how many nodes can run isolated: %v", err)
	}
	if cmds := h.store.Applied(); len(cmds) != 0 {
		t.Fatalf("refused submissions wrote %d commands: %+v", len(cmds), cmds)
	}
	if _, err := h.jobs.Submit(h.ctx(), req(9, "none")); err != nil {
		t.Fatalf("-N 9 without isolation: %v", err)
	}
	resp, err := h.jobs.Submit(h.ctx(), req(8, "links"))
	if err != nil {
		t.Fatalf("-N 8 --isolation links: %v", err)
	}
	j, err := h.jobs.Get(h.ctx(), &pb.GetJobRequest{JobId: resp.JobId})
	if err != nil || j.Isolation != "links" {
		t.Fatalf("job %d: isolation %q, err %v", resp.JobId, j.GetIsolation(), err)
	}

	// The cluster policy isolates every multi-node job, and refuses the
	// ones that cannot run isolated; a one-node job needs no links.
	h.api.cfg.Isolation = "links"
	if _, err := h.jobs.Submit(h.ctx(), req(9, "")); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("-N 9 under --isolation links policy: %v", err)
	}
	for n, want := range map[int32]string{4: "links", 1: ""} {
		resp, err := h.jobs.Submit(h.ctx(), req(n, ""))
		if err != nil {
			t.Fatal(err)
		}
		j, _ := h.jobs.Get(h.ctx(), &pb.GetJobRequest{JobId: resp.JobId})
		if j.Isolation != want {
			t.Errorf("-N %d under the policy: isolation %q, want %q", n, j.Isolation, want)
		}
	}
}
