package api

import (
	"context"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/auth"
	"github.com/ibex-hpc/ibex/server/convert"
)

// expiredArchive holds what ExpireRecords removed, answering as the
// server's archive does: a job the caller may see, else miss.
type expiredArchive struct {
	listArchive
	byID map[uint64]*model.Job
}

func (a *expiredArchive) Job(ctx context.Context, id uint64, miss error) (*pb.Job, error) {
	t := auth.Caller(ctx)
	if j := a.byID[id]; j != nil && (t.Admin || j.Tenant == t.Name) {
		return convert.Job(j), nil
	}
	return nil, miss
}

func pipeReq(mod func(*pb.SubmitRequest)) *pb.SubmitRequest {
	r := &pb.SubmitRequest{Name: "p", NumNodes: 1, TimeLimit: durationpb.New(time.Minute), Argv: []string{"true"}}
	mod(r)
	return r
}

// TestPipelineSubmitRefusals: every malformed or forbidden pipeline
// option is refused with its reason, and nothing reaches raft.
func TestPipelineSubmitRefusals(t *testing.T) {
	h := newAPIHarness(t, topology.FatTree{Spines: 1, Leaves: 1, NodesPerLeaf: 4})
	bobs := h.apply(t, &fsm.SubmitJob{Job: model.Job{Tenant: "bob", NumNodes: 1, TimeLimit: time.Hour, Argv: []string{"true"}}, Time: h.store.Now()}).(uint64)
	h.store.Applied()
	for name, c := range map[string]struct {
		mod  func(*pb.SubmitRequest)
		code codes.Code
	}{
		"repeated index":      {func(r *pb.SubmitRequest) { r.Array = "1-3,2" }, codes.InvalidArgument},
		"array too large":     {func(r *pb.SubmitRequest) { r.Array = "0-10000" }, codes.InvalidArgument},
		"array allocation":    {func(r *pb.SubmitRequest) { r.Array = "1-2"; r.Argv = nil; r.Interactive = true }, codes.InvalidArgument},
		"or-dependency":       {func(r *pb.SubmitRequest) { r.Dependency = "afterok:1?afterok:2" }, codes.InvalidArgument},
		"bad type":            {func(r *pb.SubmitRequest) { r.Dependency = "before:1" }, codes.InvalidArgument},
		"bob's job":           {func(r *pb.SubmitRequest) { r.Dependency = "afterok:" + itoa(bobs) }, codes.NotFound},
		"no such job":         {func(r *pb.SubmitRequest) { r.Dependency = "afterany:999" }, codes.NotFound},
		"begin two years out": {func(r *pb.SubmitRequest) { r.BeginTime = timestamppb.New(h.store.Now().Add(2 * 365 * 24 * time.Hour)) }, codes.InvalidArgument},
	} {
		_, err := h.jobs.Submit(h.ctx(), pipeReq(c.mod))
		if status.Code(err) != c.code {
			t.Errorf("%s: %v, want %s", name, err, c.code)
		}
		if got := h.store.Applied(); len(got) != 0 {
			t.Errorf("%s: refused, yet wrote %d commands", name, len(got))
		}
	}
}

func itoa(id uint64) string { return strconv.FormatUint(id, 10) }

// TestPipelineHoldArrayCancelAndArchive: a held array shows its pending
// tasks compactly; release-hold and one task's cancel act; a dependency
// on a job that expired into the archive takes its recorded state.
func TestPipelineHoldArrayCancelAndArchive(t *testing.T) {
	h := newAPIHarness(t, topology.FatTree{Spines: 1, Leaves: 1, NodesPerLeaf: 4})
	resp, err := h.jobs.Submit(h.ctx(), pipeReq(func(r *pb.SubmitRequest) { r.Array = "1-3%1"; r.Hold = true }))
	if err != nil {
		t.Fatal(err)
	}
	id := resp.JobId
	j, err := h.jobs.Get(h.ctx(), &pb.GetJobRequest{JobId: id})
	if err != nil || j.ArrayPending != "1-3%1" || !j.Held || j.ArrayJobId != id {
		t.Fatalf("held array: %v, %v", j, err)
	}
	if _, err := h.jobs.ReleaseHold(h.ctx(), &pb.ReleaseHoldRequest{JobId: id, RequestId: "rh"}); err != nil {
		t.Fatal(err)
	}
	h.store.Applied()
	if j, err := h.jobs.ReleaseHold(h.ctx(), &pb.ReleaseHoldRequest{JobId: id, RequestId: "rh"}); err != nil || j.Held {
		t.Fatalf("a retried release: %v, %v", j, err)
	}
	if _, err := h.jobs.ReleaseHold(h.ctx(), &pb.ReleaseHoldRequest{JobId: id}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("second release: %v", err)
	}
	if _, err := h.jobs.ReleaseHold(h.ctx(), &pb.ReleaseHoldRequest{JobId: 999}); status.Code(err) != codes.NotFound {
		t.Fatalf("release of a missing job: %v", err)
	}
	if _, err := h.jobs.CancelTask(h.ctx(), &pb.CancelTaskRequest{JobId: id, TaskId: 10000}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("task index out of range: %v", err)
	}
	if got := h.store.Applied(); len(got) != 0 {
		t.Fatalf("refused calls wrote %d commands", len(got))
	}
	task, err := h.jobs.CancelTask(h.ctx(), &pb.CancelTaskRequest{JobId: id, TaskId: 2})
	if err != nil || task.State != "cancelled" || task.ArrayJobId != id || task.ArrayTaskId != 2 || task.Id == id {
		t.Fatalf("cancel task 2: %v, %v", task, err)
	}
	if j, _ := h.jobs.Get(h.ctx(), &pb.GetJobRequest{JobId: id}); j.ArrayPending != "1,3%1" || j.State != "pending" {
		t.Fatalf("array after cancelling task 2: %v", j)
	}
	plain := h.apply(t, &fsm.SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Hour, Argv: []string{"true"}}, Time: h.store.Now()}).(uint64)
	if _, err := h.jobs.CancelTask(h.ctx(), &pb.CancelTaskRequest{JobId: plain, TaskId: 1}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("cancel task of a plain job: %v", err)
	}

	// Run plain to a failure, expire it, and depend on it from the archive.
	now := h.store.Now()
	one := 1
	h.apply(t, &fsm.Allocate{JobID: plain, Nodes: []string{"node004"}, Time: now})
	h.apply(t, &fsm.StartJob{JobID: plain, Time: now})
	h.apply(t, &fsm.FinishJob{JobID: plain, State: model.JobFailed, ExitCode: &one, Time: now})
	ex := h.apply(t, &fsm.ExpireRecords{Before: now.Add(time.Second)}).(*fsm.Expired)
	arch := &expiredArchive{byID: map[uint64]*model.Job{}}
	for _, j := range ex.Jobs {
		arch.byID[j.ID] = j
	}
	if arch.byID[plain] == nil {
		t.Fatalf("job %d did not expire: %+v", plain, ex.Jobs)
	}
	dep := "afternotok:" + itoa(plain)
	if _, err := h.jobs.Submit(h.ctx(), pipeReq(func(r *pb.SubmitRequest) { r.Dependency = dep })); status.Code(err) != codes.NotFound {
		t.Fatalf("dependency on an expired job without an archive: %v", err)
	}
	h.api.cfg.Archive = arch
	resp, err = h.jobs.Submit(h.ctx(), pipeReq(func(r *pb.SubmitRequest) { r.Dependency = dep }))
	if err != nil {
		t.Fatal(err)
	}
	var final model.JobState
	h.store.Read(func(s *fsm.State) { final = s.Jobs[resp.JobId].Depend[0].Final })
	if final != model.JobFailed {
		t.Fatalf("archived target's state: %q", final)
	}
	if _, err := h.jobs.Submit(h.adminCtx(), pipeReq(func(r *pb.SubmitRequest) { r.Dependency = dep })); err != nil {
		t.Fatalf("admin's dependency on the archived job: %v", err)
	}
	// bob sees neither the live nor the archived job.
	arch.byID[plain].Tenant = "bob"
	if _, err := h.jobs.Submit(h.ctx(), pipeReq(func(r *pb.SubmitRequest) { r.Dependency = dep })); status.Code(err) != codes.NotFound {
		t.Fatalf("dependency on another tenant's archived job: %v", err)
	}
}
