package launch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/auth"
	"github.com/ibex-hpc/ibex/server/convert"
)

// lostReason is the first lost node recorded in the job directory. When
// a launcher fails because a node died, its caller may ask to Finish
// before the Exec that watched the dead node has recorded it, so this
// first waits (briefly) for execs that ended but are not yet handled.
func lostReason(runner Runner, job *model.Job) string {
	// Under the CLI's per-try timeout (client.MultiConn): 3 s.
	deadline := time.Now().Add(2 * time.Second)
	for len(runner.PendingExecs(job.ID, job.Nodes)) > 0 && time.Now().Before(deadline) {
		if r := recordedLoss(runner, job.ID); r != "" {
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	return recordedLoss(runner, job.ID)
}

func recordedLoss(runner Runner, jobID uint64) string {
	files, _ := filepath.Glob(filepath.Join(runner.JobDir(jobID), "*.lost"))
	sort.Strings(files)
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	return ""
}

// Finish ends an interactive allocation with its launcher's exit code
// (`ibex run`): completed on 0; failed otherwise, with the lost node as
// the reason when there was one, since that explains the exit code.
func (l *launchService) Finish(ctx context.Context, req *pb.FinishRequest) (*pb.Job, error) {
	t := auth.Caller(ctx)
	job := l.job(req.JobId)
	if job == nil || (!t.Admin && job.Tenant != t.Name) {
		return nil, status.Errorf(codes.NotFound, "job %d not found", req.JobId)
	}
	if !job.Interactive {
		return nil, status.Errorf(codes.FailedPrecondition, "job %d is a batch job: its own processes decide how it ends", job.ID)
	}
	code := int(req.ExitCode)
	cmd := &fsm.FinishJob{JobID: job.ID, State: model.JobCompleted, ExitCode: &code, Time: l.cfg.Store.Now()}
	lost := ""
	if runner := l.cfg.Exec; runner != nil && job.State == model.JobRunning && code != 0 {
		lost = lostReason(runner, job)
	}
	switch {
	case job.State == model.JobPending || job.State == model.JobScheduled:
		cmd.State, cmd.ExitCode, cmd.Reason = model.JobCancelled, nil, "finished before it started"
	case lost != "":
		cmd.State, cmd.Reason = model.JobFailed, lost
	case code != 0:
		cmd.State, cmd.Reason = model.JobFailed, req.Reason
		if cmd.Reason == "" {
			cmd.Reason = fmt.Sprintf("exit code %d", code)
		}
	}
	if _, err := l.cfg.Store.Apply(ctx, cmd); err != nil {
		return nil, convert.Status(err)
	}
	return convert.Job(l.job(job.ID)), nil
}
