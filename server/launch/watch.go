package launch

// How an exec is watched: its node's events relayed to the caller, killed
// when its job ends or its caller goes away, and, when a signal from
// elsewhere kills it, reported as the loss of its node.

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// killWait bounds the wait for a killed exec's final event. A node that
// cannot even report a SIGKILL in this time is treated as lost.
const killWait = 30 * time.Second

// lostExitCode is the exit code of an exec whose node stopped answering,
// as ssh reports a lost connection.
const lostExitCode = 255

// run starts task on node and relays it to the caller until it ends.
func (l *launchService) run(ctx context.Context, stream pb.Launch_ExecServer, job *model.Job, node string, task *pb.ExecTask, runner Runner) error {
	ectx, kill := context.WithCancel(ctx)
	defer kill()
	l.execs.open(job.ID)
	closed := false
	closeExec := func() {
		if !closed {
			closed = true
			l.execs.close(job.ID)
		}
	}
	defer closeExec()
	events, err := runner.Exec(ectx, node, task)
	if err != nil {
		if _, ok := status.FromError(err); ok {
			return err
		}
		return status.Errorf(codes.FailedPrecondition, "exec on %s: %v", node, err)
	}
	log := l.cfg.Log.With("job", job.ID, "node", node)
	log.Info("exec started", "argv", task.Argv, "mpi", task.Mpi)
	final, reason, jobEnded := l.supervise(ctx, stream, job.ID, events, kill)
	if final != nil && final.Error != "" {
		log.Info("exec refused by the node", "err", final.Error)
		return status.Errorf(codes.FailedPrecondition, "exec on %s: %s", node, final.Error)
	}
	end := &pb.ExecOutput{Done: true, JobEnded: jobEnded}
	switch {
	case final == nil:
		end.ExitCode = lostExitCode
		if reason == "" {
			reason = fmt.Sprintf("lost contact with %s while the exec ran (its agent disconnected or did not answer)", node)
		}
	case reason != "" || final.Signal == "":
	case final.Reason != "":
		// Ibex ended it, but not this call: the job's own Kill (its time
		// limit, a cancel) got there before the state said why.
		reason, end.JobEnded = l.endedJobReason(ctx, job.ID), true
	default:
		reason = l.nodeLost(ctx, job, node, execName(task), final)
	}
	if final != nil {
		end.ExitCode, end.Signal = final.ExitCode, final.Signal
	}
	end.Reason = reason
	log.Info("exec ended", "exit", end.ExitCode, "signal", end.Signal, "reason", reason)
	closeExec() // before the caller hears of the end, so its Finish sees it
	return stream.Send(end)
}

// supervise relays the exec's output to the caller and waits for its
// final event, killing it when the job stops running or the caller goes
// away. reason says why ibex ended it, if it did. final is nil when the
// node was lost.
func (l *launchService) supervise(ctx context.Context, stream pb.Launch_ExecServer, jobID uint64, events <-chan *pb.ExecEvent, kill func()) (final *pb.ExecEvent, reason string, jobEnded bool) {
	defer func() {
		go func() {
			for range events { // the Runner's contract: read until closed
			}
		}()
	}()
	gone := ctx.Done()
	var killed <-chan time.Time
	stop := func(why string) {
		if reason == "" {
			reason = why
		}
		if killed == nil {
			kill()
			killed = time.After(killWait)
		}
	}
	checkJob := func() {
		if j := l.job(jobID); !jobEnded && (j == nil || j.State != model.JobRunning) {
			why := "the job ended"
			if j != nil {
				why = endedReason(j)
			}
			jobEnded = true
			stop(why)
		}
	}
	changed := l.cfg.Store.Changed()
	checkJob()
	relay := true
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return nil, reason, jobEnded
			}
			if ev.Done || ev.Error != "" {
				return ev, reason, jobEnded
			}
			if relay && (len(ev.Stdout) > 0 || len(ev.Stderr) > 0) {
				if err := stream.Send(&pb.ExecOutput{Stdout: ev.Stdout, Stderr: ev.Stderr}); err != nil {
					relay = false
					stop("the caller went away")
				}
			}
		case <-gone:
			gone = nil // once
			relay = false
			stop("the caller went away")
		case <-killed:
			return nil, reason + "; the node did not confirm the kill", jobEnded
		case <-changed:
			changed = l.cfg.Store.Changed()
			checkJob()
		}
	}
}

// endedJobReason waits briefly for a job that ibex is ending to leave the
// running state, and says how it ended.
func (l *launchService) endedJobReason(ctx context.Context, jobID uint64) string {
	wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	for {
		changed := l.cfg.Store.Changed()
		j := l.job(jobID)
		if j == nil {
			return "the job ended"
		}
		if j.State != model.JobRunning {
			return endedReason(j)
		}
		select {
		case <-wctx.Done():
			return "killed by ibex"
		case <-changed:
		}
	}
}

// endedReason says how a job ended, for the processes it took down.
func endedReason(j *model.Job) string {
	r := fmt.Sprintf("job %d ended: %s", j.ID, j.State)
	if j.Reason != "" {
		r += " (" + j.Reason + ")"
	}
	return r
}

// nodeLost handles an exec'd process that a signal from outside ibex
// ended while its job ran: on a node that is what a crash of the node's
// share of the job looks like (or the OOM killer), so the node counts as
// lost and the job fails, as a batch job does when its process vanishes.
// The reason is also kept for Finish (lostReason), which the launcher may
// call before this is applied.
func (l *launchService) nodeLost(ctx context.Context, job *model.Job, node, what string, final *pb.ExecEvent) string {
	if j := l.job(job.ID); j == nil || j.State != model.JobRunning {
		return ""
	}
	sig := int(final.ExitCode) - 128
	reason := fmt.Sprintf("lost node %s: its exec'd %s was killed by signal %d (%s) from outside ibex", node, what, sig, final.Signal)
	l.execs.lost(job.ID, reason)
	_, err := l.cfg.Store.Apply(context.WithoutCancel(ctx), &fsm.FinishJob{JobID: job.ID, State: model.JobFailed, Reason: reason, Time: l.cfg.Store.Now()})
	if err != nil {
		l.cfg.Log.Warn("fail job after a lost node", "job", job.ID, "node", node, "err", err)
	}
	return reason
}

// execName names an exec'd command for people.
func execName(t *pb.ExecTask) string {
	switch {
	case t.Mpi != "":
		return "MPI launcher"
	case t.Shell:
		return commandName([]string{"/bin/sh", "-c", strings.Join(t.Argv, " ")})
	}
	return commandName(t.Argv)
}

// commandName names an exec'd command for people. For the shell lines MPI
// runtimes send ("PATH=...; export PATH; /usr/bin/orted -mca ...") that is
// the first word that looks like a program path.
func commandName(argv []string) string {
	if len(argv) != 3 || argv[0] != "/bin/sh" || argv[1] != "-c" {
		return filepath.Base(argv[0])
	}
	words := strings.Fields(argv[2])
	for _, w := range words {
		w = strings.Trim(w, `"'`)
		if strings.Contains(w, "/") && !strings.ContainsAny(w, "=$") {
			return filepath.Base(w)
		}
	}
	for _, w := range words {
		if !strings.Contains(w, "=") {
			return strings.Trim(w, `"'`)
		}
	}
	return "command"
}
