package api

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

func oneNode(reqID string) *pb.SubmitRequest {
	return &pb.SubmitRequest{NumNodes: 1, TimeLimit: durationpb.New(time.Minute), Argv: []string{"true"}, RequestId: reqID}
}

// TestSubmitManyAnswersEachOnItsOwn: accepted submissions commit as one
// entry, in the request's order, as the caller's jobs; refused ones get
// Submit's code and message and write nothing; a retry with the same
// request ids returns the same job ids and writes no new job.
func TestSubmitManyAnswersEachOnItsOwn(t *testing.T) {
	h := newAPIHarness(t, topology.FatTree{Spines: 1, Leaves: 2, NodesPerLeaf: 4})
	h.store.Applied()
	tooBig := oneNode("big")
	tooBig.NumNodes = 9
	noLimit := oneNode("nolimit")
	noLimit.TimeLimit = nil
	req := &pb.SubmitManyRequest{Jobs: []*pb.SubmitRequest{oneNode("a"), tooBig, oneNode("b"), noLimit, oneNode("c")}}
	resp, err := h.jobs.SubmitMany(h.ctx(), req)
	if err != nil {
		t.Fatal(err)
	}
	r := resp.Results
	if len(r) != 5 {
		t.Fatalf("%d results for 5 submissions", len(r))
	}
	if r[0].JobId == 0 || r[2].JobId != r[0].JobId+1 || r[4].JobId != r[0].JobId+2 {
		t.Errorf("accepted submissions got ids %d, %d, %d: want consecutive, in the request's order", r[0].JobId, r[2].JobId, r[4].JobId)
	}
	if r[1].JobId != 0 || codes.Code(r[1].Code) != codes.InvalidArgument || !strings.Contains(r[1].Error, "the cluster has 8") {
		t.Errorf("too big: %+v", r[1])
	}
	if r[3].JobId != 0 || codes.Code(r[3].Code) != codes.InvalidArgument || !strings.Contains(r[3].Error, "time limit") {
		t.Errorf("no time limit: %+v", r[3])
	}
	cmds := h.store.Applied()
	if len(cmds) != 1 {
		t.Fatalf("%d commands written, want one batch: %+v", len(cmds), cmds)
	}
	b, ok := cmds[0].(*fsm.Batch)
	if !ok || len(b.Commands) != 3 {
		t.Fatalf("wrote %+v, want a batch of the 3 accepted submissions", cmds[0])
	}
	var jobs []*model.Job
	h.store.Read(func(st *fsm.State) {
		for _, x := range r {
			if j := st.Jobs[x.JobId]; x.JobId != 0 && j != nil {
				jobs = append(jobs, j.Clone())
			}
		}
	})
	if len(jobs) != 3 || jobs[0].Tenant != "alice" || jobs[0].RequestID != "a" || jobs[2].RequestID != "c" {
		t.Fatalf("jobs after SubmitMany: %+v", jobs)
	}

	again, err := h.jobs.SubmitMany(h.ctx(), req)
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range again.Results {
		if x.JobId != r[i].JobId || x.Code != r[i].Code {
			t.Errorf("retry, submission %d: %+v, first answer %+v", i, x, r[i])
		}
	}
	var n int
	h.store.Read(func(st *fsm.State) { n = len(st.Jobs) })
	if n != 3 {
		t.Errorf("%d jobs after the retry, want 3", n)
	}
}

// TestSubmitManyLimits: no jobs, or more than maxSubmitMany, is refused
// as a whole, and nothing is written; all refused writes nothing either.
func TestSubmitManyLimits(t *testing.T) {
	h := newAPIHarness(t, topology.FatTree{Spines: 1, Leaves: 1, NodesPerLeaf: 2})
	h.store.Applied()
	if _, err := h.jobs.SubmitMany(h.ctx(), &pb.SubmitManyRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("no jobs: %v", err)
	}
	many := &pb.SubmitManyRequest{}
	for range maxSubmitMany + 1 {
		many.Jobs = append(many.Jobs, oneNode(""))
	}
	if _, err := h.jobs.SubmitMany(h.ctx(), many); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "at most 1000") {
		t.Errorf("%d jobs: %v", len(many.Jobs), err)
	}
	bad := oneNode("x")
	bad.NumNodes = 0
	resp, err := h.jobs.SubmitMany(h.ctx(), &pb.SubmitManyRequest{Jobs: []*pb.SubmitRequest{bad}})
	if err != nil || len(resp.Results) != 1 || codes.Code(resp.Results[0].Code) != codes.InvalidArgument {
		t.Errorf("one refused submission: %+v, %v", resp, err)
	}
	if cmds := h.store.Applied(); len(cmds) != 0 {
		t.Fatalf("refused calls wrote %d commands: %+v", len(cmds), cmds)
	}
}
