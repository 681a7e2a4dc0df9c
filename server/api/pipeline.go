package api

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/pipeline"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/auth"
	"github.com/ibex-hpc/ibex/server/convert"
)

// Pipelines (#15.3): the submit options --dependency, --array, --hold and
// --begin, and the calls that release a hold and cancel one array task.

// validatePipeline reads the pipeline fields of a submission into job:
// each is parsed and bounded here, before anything reaches raft.
func (j *jobsService) validatePipeline(req *pb.SubmitRequest, job *model.Job) error {
	var err error
	if job.Depend, err = pipeline.ParseDependency(req.Dependency); err != nil {
		return err
	}
	if req.Array != "" {
		if req.Interactive {
			return fmt.Errorf("--array: an allocation cannot be an array; submit a batch job")
		}
		if job.ArrayPending, job.ArrayThrottle, err = pipeline.ParseArray(req.Array); err != nil {
			return err
		}
	}
	job.Held = req.Hold
	if req.BeginTime != nil {
		if err := req.BeginTime.CheckValid(); err != nil {
			return fmt.Errorf("begin time: %w", err)
		}
		t := req.BeginTime.AsTime()
		if t.Sub(j.a.cfg.Store.Now()) > pipeline.MaxBeginAhead {
			return fmt.Errorf("begin time %s is more than %d days ahead", t.Format("2006-01-02T15:04:05Z07:00"), int(pipeline.MaxBeginAhead.Hours()/24))
		}
		job.BeginTime = t
	}
	return nil
}

// resolveArchived fills in the final state of dependency targets that are
// no longer live, from this server's archive (which checks that the
// caller may see them). A target in neither is "not found".
func (j *jobsService) resolveArchived(ctx context.Context, job *model.Job) error {
	var missing []int
	j.a.cfg.Store.Read(func(st *fsm.State) {
		for i, d := range job.Depend {
			if d.JobID != 0 && st.Jobs[d.JobID] == nil {
				missing = append(missing, i)
			}
		}
	})
	for _, i := range missing {
		id := job.Depend[i].JobID
		notFound := status.Errorf(codes.NotFound, "dependency on job %d: job %d not found", id, id)
		if j.a.cfg.Archive == nil {
			return notFound
		}
		pj, err := j.a.cfg.Archive.Job(ctx, id, notFound)
		if err != nil {
			return err
		}
		final := model.JobState(pj.State)
		if pj.ArrayJobId == pj.Id {
			final = model.JobFailed
			if pj.ArrayDone && pj.ArrayFailed == 0 {
				final = model.JobCompleted
			}
		}
		if !final.Terminal() {
			return notFound
		}
		job.Depend[i].Final = final
	}
	return nil
}

func (j *jobsService) ReleaseHold(ctx context.Context, req *pb.ReleaseHoldRequest) (*pb.Job, error) {
	t := auth.Caller(ctx)
	if err := model.CheckText("request id", req.RequestId, maxRequestID); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	// Checked under Read first, so a refused release writes nothing.
	var err error
	retry := false
	j.a.cfg.Store.Read(func(st *fsm.State) {
		job := st.Jobs[req.JobId]
		switch {
		case job == nil || !t.Admin && job.Tenant != t.Name:
			err = status.Errorf(codes.NotFound, "job %d not found", req.JobId)
		case req.RequestId != "" && job.ReleaseRequestID == req.RequestId:
			retry = true
		case job.State != model.JobPending:
			err = status.Errorf(codes.FailedPrecondition, "job %d is %s: only a pending job can be held", job.ID, job.State)
		case !job.Held:
			err = status.Errorf(codes.FailedPrecondition, "job %d is not held", job.ID)
		}
	})
	if err != nil {
		return nil, err
	}
	if retry {
		return j.Get(ctx, &pb.GetJobRequest{JobId: req.JobId})
	}
	if _, err := j.a.cfg.Store.Apply(ctx, &fsm.ReleaseHold{JobID: req.JobId, By: t.Name, Admin: t.Admin, RequestID: req.RequestId}); err != nil {
		return nil, convert.Status(err)
	}
	return j.Get(ctx, &pb.GetJobRequest{JobId: req.JobId})
}

func (j *jobsService) CancelTask(ctx context.Context, req *pb.CancelTaskRequest) (*pb.Job, error) {
	t := auth.Caller(ctx)
	if err := model.CheckText("request id", req.RequestId, maxRequestID); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if req.TaskId < 0 || req.TaskId > pipeline.MaxArrayIndex {
		return nil, status.Errorf(codes.InvalidArgument, "task index %d is outside 0..%d", req.TaskId, pipeline.MaxArrayIndex)
	}
	var err error
	j.a.cfg.Store.Read(func(st *fsm.State) {
		job := st.Jobs[req.JobId]
		switch {
		case job == nil || !t.Admin && job.Tenant != t.Name:
			err = status.Errorf(codes.NotFound, "job %d not found", req.JobId)
		case !job.ArrayRecord():
			err = status.Errorf(codes.InvalidArgument, "job %d is not a job array: cancel it with `ibex cancel %d`", req.JobId, req.JobId)
		}
	})
	if err != nil {
		return nil, err
	}
	v, err := j.a.cfg.Store.Apply(ctx, &fsm.CancelArrayTask{JobID: req.JobId, Task: int(req.TaskId), By: t.Name, Admin: t.Admin,
		RequestID: req.RequestId, Time: j.a.cfg.Store.Now()})
	if err != nil {
		return nil, convert.Status(err)
	}
	return j.Get(ctx, &pb.GetJobRequest{JobId: v.(uint64)})
}
