package api

import (
	"context"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/scheduler"
	"github.com/ibex-hpc/ibex/server/auth"
	"github.com/ibex-hpc/ibex/server/convert"
)

// Limits on what a request may carry, so one bad client cannot bloat the
// replicated log.
const (
	maxScriptBytes = 256 << 10
	maxNameLen     = 128
	maxRequestID   = 128
	maxTimeLimit   = 365 * 24 * time.Hour
	maxLogBytes    = 2 << 20 // per node, from the end of the output
)

type jobsService struct {
	pb.UnimplementedJobsServer
	a *API
}

func (j *jobsService) Submit(ctx context.Context, req *pb.SubmitRequest) (*pb.SubmitResponse, error) {
	job, err := j.prepareSubmit(ctx, req)
	if err != nil {
		return nil, err
	}
	v, err := j.a.cfg.Store.Apply(ctx, &fsm.SubmitJob{Job: *job, Time: j.a.cfg.Store.Now()})
	if err != nil {
		return nil, convert.Status(err)
	}
	return &pb.SubmitResponse{JobId: v.(uint64)}, nil
}

// prepareSubmit checks a submission and makes the caller's job of it, or
// refuses it (a gRPC status) before anything reaches raft.
func (j *jobsService) prepareSubmit(ctx context.Context, req *pb.SubmitRequest) (*model.Job, error) {
	t := auth.Caller(ctx)
	job, err := validateSubmit(req)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	job.Tenant = t.Name
	if err := j.validatePipeline(req, job); err != nil { // pipeline.go
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if err := j.resolveArchived(ctx, job); err != nil {
		return nil, err
	}
	j.a.isolationFor(job)
	if err := j.a.isolationUnenforceable(job); err != nil {
		return nil, err
	}
	if err := j.neverRuns(job); err != nil {
		return nil, err
	}
	return job, nil
}

// neverRuns refuses, before anything reaches raft, a job no placement on
// this cluster can ever satisfy: more nodes than it has (with the job's
// features), or more than --switches leaves can hold. A retry of a
// submission that already committed passes: the FSM answers it.
func (j *jobsService) neverRuns(job *model.Job) error {
	var err error
	j.a.cfg.Store.Read(func(st *fsm.State) {
		if _, retry := st.Requests[job.Tenant+"/"+job.RequestID]; retry && job.RequestID != "" {
			return
		}
		err = st.CheckSubmit(job)
	})
	if err != nil {
		return convert.Status(err)
	}
	if (job.Switches == 0 && job.Isolation == "") || j.a.cfg.Fabric == nil {
		return nil
	}
	w := j.a.cfg.Store.Work(0)
	tree := j.a.cfg.Fabric.Tree(w.Nodes)
	if err := j.a.isolationNeverRuns(job, tree); err != nil || job.Switches == 0 {
		return err
	}
	if job.SwitchLevel > tree.Levels() {
		return status.Errorf(codes.InvalidArgument, "--switches level %d: the fabric has %d switch levels (1: leaf, 2: pod, ...)", job.SwitchLevel, tree.Levels())
	}
	if job.SwitchLevel <= 1 {
		if most := job.Switches * tree.MaxLeafSize(); job.NumNodes > most {
			return status.Errorf(codes.InvalidArgument, "%d nodes cannot fit in %d leaf switch(es): the largest leaf has %d nodes, so --switches %d holds at most %d",
				job.NumNodes, job.Switches, most/job.Switches, job.Switches, most)
		}
		return nil
	}
	lv := scheduler.LevelName(job.SwitchLevel)
	if most := job.Switches * tree.MaxUnder(job.SwitchLevel); job.NumNodes > most {
		return status.Errorf(codes.InvalidArgument, "%d nodes cannot fit in %d %s switch(es): the largest %s has %d nodes, so --switches %s:%d holds at most %d",
			job.NumNodes, job.Switches, lv, lv, most/job.Switches, lv, job.Switches, most)
	}
	return nil
}

// maxSwitchLevel bounds --switches LEVEL: no fat tree has more levels.
const maxSwitchLevel = 16

func validateSubmit(req *pb.SubmitRequest) (*model.Job, error) {
	if req.NumNodes <= 0 {
		return nil, fmt.Errorf("node count must be at least 1, got %d", req.NumNodes)
	}
	if req.TimeLimit == nil {
		return nil, fmt.Errorf("a time limit is required")
	}
	if err := req.TimeLimit.CheckValid(); err != nil {
		return nil, fmt.Errorf("time limit: %w", err)
	}
	tl := req.TimeLimit.AsDuration()
	if tl < time.Second || tl > maxTimeLimit {
		return nil, fmt.Errorf("time limit %s is outside 1s..%s", tl, maxTimeLimit)
	}
	if err := model.CheckText("job name", req.Name, maxNameLen); err != nil {
		return nil, err
	}
	if len(req.Script) > maxScriptBytes {
		return nil, fmt.Errorf("script larger than %d KiB", maxScriptBytes>>10)
	}
	if strings.IndexByte(req.Script, 0) >= 0 {
		return nil, fmt.Errorf("the script contains a NUL byte: is it a binary? submit binaries as a command (ibex submit -- PROGRAM)")
	}
	if len(req.Argv) > convert.MaxArgs {
		return nil, fmt.Errorf("more than %d arguments", convert.MaxArgs)
	}
	if err := model.CheckArgv(req.Argv); err != nil {
		return nil, err
	}
	hasScript, hasArgv := req.Script != "", len(req.Argv) > 0
	switch {
	case req.Interactive && (hasScript || hasArgv):
		return nil, fmt.Errorf("an interactive allocation takes no script or command")
	case !req.Interactive && hasScript == hasArgv:
		return nil, fmt.Errorf("a batch job needs exactly one of a script or a command")
	case hasArgv && req.Argv[0] == "":
		return nil, fmt.Errorf("empty command")
	}
	name := req.Name
	if name == "" {
		name = "job"
		if req.Interactive {
			name = "alloc"
		}
	}
	if err := model.CheckText("request id", req.RequestId, maxRequestID); err != nil {
		return nil, err
	}
	var wait time.Duration
	if req.SwitchWait != nil {
		if err := req.SwitchWait.CheckValid(); err != nil || req.SwitchWait.AsDuration() < 0 {
			return nil, fmt.Errorf("switch wait must be a non-negative duration")
		}
		wait = req.SwitchWait.AsDuration()
	}
	if err := validFeatures(req.Features); err != nil {
		return nil, err
	}
	if req.Switches > 1<<16 {
		return nil, fmt.Errorf("switches %d is not a plausible leaf count", req.Switches)
	}
	if req.Image != "" {
		if _, _, err := model.ParseImageRef(req.Image); err != nil {
			return nil, err
		}
	}
	if req.FirmwareProfile != "" {
		if err := model.CheckProfileName(req.FirmwareProfile); err != nil {
			return nil, err
		}
	}
	if req.SwitchLevel > maxSwitchLevel || req.SwitchLevel > 1 && req.Switches == 0 {
		return nil, fmt.Errorf("switch level %d: want 1 (leaf) to %d, with a switch count", req.SwitchLevel, maxSwitchLevel)
	}
	iso, err := scheduler.ParseIsolation(req.Isolation)
	if err != nil {
		return nil, err
	}
	job := &model.Job{Name: name, NumNodes: int(req.NumNodes), TimeLimit: tl, Interactive: req.Interactive,
		Script: req.Script, Argv: req.Argv, RequestID: req.RequestId, Switches: int(req.Switches), SwitchWait: wait, SwitchLevel: int(req.SwitchLevel),
		Features: req.Features, Image: req.Image, FirmwareProfile: req.FirmwareProfile, Isolation: iso}
	if err := submitEnv(req, job); err != nil {
		return nil, err
	}
	return job, nil
}

// visibleJob returns a copy of the job if the caller may see it.
func (j *jobsService) visibleJob(ctx context.Context, id uint64) (*model.Job, error) {
	t := auth.Caller(ctx)
	var job *model.Job
	j.a.cfg.Store.Read(func(s *fsm.State) {
		if v, ok := s.Jobs[id]; ok && (t.Admin || v.Tenant == t.Name) {
			job = v.Clone()
		}
	})
	if job == nil {
		return nil, status.Errorf(codes.NotFound, "job %d not found", id)
	}
	return job, nil
}

func (j *jobsService) Get(ctx context.Context, req *pb.GetJobRequest) (*pb.Job, error) {
	job, err := j.visibleJob(ctx, req.JobId)
	if err != nil {
		if j.a.cfg.Archive != nil {
			return j.a.cfg.Archive.Job(ctx, req.JobId, err) // no longer live
		}
		return nil, err
	}
	return convert.Job(job), nil
}

func (j *jobsService) List(ctx context.Context, req *pb.ListJobsRequest) (*pb.ListJobsResponse, error) {
	t := auth.Caller(ctx)
	want := map[model.JobState]bool{}
	if len(req.States) > 16 {
		return nil, status.Error(codes.InvalidArgument, "at most 16 states")
	}
	for _, st := range req.States {
		if !model.JobState(st).Known() {
			return nil, status.Errorf(codes.InvalidArgument, "%q is not a job state", clip(st))
		}
		want[model.JobState(st)] = true
	}
	out := &pb.ListJobsResponse{}
	page := newPage(req.PageSize)
	j.a.cfg.Store.Read(func(s *fsm.State) {
		for _, job := range s.SortedJobs() {
			if job.ID <= req.AfterId || !t.Admin && job.Tenant != t.Name {
				continue
			}
			switch {
			case len(want) > 0:
				if !want[job.State] {
					continue
				}
			case !req.All && job.State.Terminal():
				continue
			}
			pj := convert.Job(job)
			if !page.add(pj) {
				out.NextAfterId = out.Jobs[len(out.Jobs)-1].Id
				return
			}
			out.Jobs = append(out.Jobs, pj)
		}
	})
	return out, nil
}

func (j *jobsService) Cancel(ctx context.Context, req *pb.CancelRequest) (*pb.Job, error) {
	t := auth.Caller(ctx)
	if err := model.CheckText("request id", req.RequestId, maxRequestID); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if _, err := j.a.cfg.Store.Apply(ctx, &fsm.CancelJob{JobID: req.JobId, By: t.Name, Admin: t.Admin, RequestID: req.RequestId, Time: j.a.cfg.Store.Now()}); err != nil {
		return nil, convert.Status(err)
	}
	return j.Get(ctx, &pb.GetJobRequest{JobId: req.JobId})
}

func (j *jobsService) Release(ctx context.Context, req *pb.ReleaseRequest) (*pb.Job, error) {
	if err := model.CheckText("request id", req.RequestId, maxRequestID); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	job, err := j.visibleJob(ctx, req.JobId)
	if err != nil {
		return nil, err
	}
	if job.State.Terminal() && req.RequestId != "" && job.EndRequestID == req.RequestId {
		return convert.Job(job), nil // the retry of the release that ended it
	}
	if !job.Interactive {
		return nil, status.Errorf(codes.FailedPrecondition, "job %d is a batch job: use `ibex cancel %d`", job.ID, job.ID)
	}
	zero := 0
	cmd := &fsm.FinishJob{JobID: job.ID, State: model.JobCompleted, ExitCode: &zero, Reason: "released by " + auth.Caller(ctx).Name, RequestID: req.RequestId, Time: j.a.cfg.Store.Now()}
	if job.State == model.JobPending {
		cmd.State, cmd.ExitCode, cmd.Reason = model.JobCancelled, nil, "released before it started"
	}
	if _, err := j.a.cfg.Store.Apply(ctx, cmd); err != nil {
		return nil, convert.Status(err)
	}
	return j.Get(ctx, &pb.GetJobRequest{JobId: req.JobId})
}

func (j *jobsService) Logs(ctx context.Context, req *pb.LogsRequest) (*pb.LogsResponse, error) {
	job, err := j.visibleJob(ctx, req.JobId)
	if err != nil {
		return nil, err
	}
	out := &pb.LogsResponse{}
	if job.Interactive {
		return out, nil
	}
	for _, node := range job.Nodes {
		b, err := j.a.cfg.Outputs.Output(job.ID, node, maxLogBytes)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "read output of job %d on %s: %v", job.ID, node, err)
		}
		out.Logs = append(out.Logs, &pb.NodeLog{Node: node, Output: b})
	}
	return out, nil
}

// clip shortens hostile input quoted back in an error.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
