package launch

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/auth"
	"github.com/ibex-hpc/ibex/server/convert"
)

// lostWait bounds how long Finish waits for the job's open execs to say
// whether a node was lost. Under the CLI's per-try timeout
// (client.MultiConn): 3 s.
const lostWait = 2 * time.Second

// execTracker counts each job's execs that this server is relaying and
// keeps the first lost node of each, for Finish: when a launcher fails
// because a node died, its caller may ask to Finish before the exec that
// watched the dead node has reported it. Execs and Finish both run on the
// leader (a follower forwards them), so memory is enough; a new leader
// starts empty, as the streams of the old one broke with it.
type execTracker struct {
	mu       sync.Mutex
	openN    map[uint64]int
	lostWhy  map[uint64]string
	changed  chan struct{} // closed and replaced on every change
	maxLosts int
}

func newExecTracker() *execTracker {
	return &execTracker{openN: map[uint64]int{}, lostWhy: map[uint64]string{}, changed: make(chan struct{}), maxLosts: 4096}
}

func (t *execTracker) notify() {
	close(t.changed)
	t.changed = make(chan struct{})
}

func (t *execTracker) open(job uint64) {
	t.mu.Lock()
	t.openN[job]++
	t.mu.Unlock()
}

func (t *execTracker) close(job uint64) {
	t.mu.Lock()
	if t.openN[job]--; t.openN[job] <= 0 {
		delete(t.openN, job)
	}
	t.notify()
	t.mu.Unlock()
}

// lost records the job's first lost node. The record is forgotten by
// Finish; the bound only guards against jobs that never call it (a lost
// node ends a job on its own).
func (t *execTracker) lost(job uint64, reason string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.lostWhy[job]; ok {
		return
	}
	if len(t.lostWhy) >= t.maxLosts {
		for id := range t.lostWhy {
			if _, open := t.openN[id]; !open {
				delete(t.lostWhy, id)
			}
		}
	}
	t.lostWhy[job] = reason
	t.notify()
}

// lostReason is the job's first lost node, after waiting (at most wait)
// for its open execs while none has reported one.
func (t *execTracker) lostReason(job uint64, wait time.Duration) string {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		t.mu.Lock()
		why, open, ch := t.lostWhy[job], t.openN[job], t.changed
		t.mu.Unlock()
		if why != "" || open == 0 {
			return why
		}
		select {
		case <-ch:
		case <-timer.C:
			t.mu.Lock()
			defer t.mu.Unlock()
			return t.lostWhy[job]
		}
	}
}

func (t *execTracker) forget(job uint64) {
	t.mu.Lock()
	delete(t.lostWhy, job)
	t.mu.Unlock()
}

// Finish ends an interactive allocation with its launcher's exit code
// (`ibex run`): completed on 0; failed otherwise, with the lost node as
// the reason when there was one, since that explains the exit code.
func (l *launchService) Finish(ctx context.Context, req *pb.FinishRequest) (*pb.Job, error) {
	t := auth.Caller(ctx)
	if err := model.CheckText("reason", req.Reason, model.MaxReasonBytes); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
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
	if job.State == model.JobRunning && code != 0 {
		lost = l.execs.lostReason(job.ID, lostWait)
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
	l.execs.forget(job.ID)
	return convert.Job(l.job(job.ID)), nil
}
