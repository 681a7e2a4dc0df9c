package launch

// How an exec'd process is watched: killed when its job ends or its caller
// goes away, and, when a signal from elsewhere kills it, reported as the
// loss of its node.

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/nodeagent/localexec"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// supervise waits for the process, killing it when the job stops running
// or the caller goes away. reason says why ibex ended it, if it did.
func (l *launchService) supervise(ctx context.Context, jobID uint64, proc *localexec.ExecProc) (res localexec.ExecResult, reason string, jobEnded bool) {
	type waited struct {
		res localexec.ExecResult
		err error
	}
	done := make(chan waited, 1)
	go func() {
		res, err := proc.Wait()
		done <- waited{res, err}
	}()
	gone := ctx.Done()
	for {
		changed := l.cfg.Store.Changed()
		if reason == "" {
			if j := l.job(jobID); j == nil || j.State != model.JobRunning {
				proc.Kill()
				jobEnded, reason = true, "the job ended"
				if j != nil {
					reason = endedReason(j)
				}
			}
		}
		select {
		case w := <-done:
			if w.err != nil {
				l.cfg.Log.Warn("exec wait", "job", jobID, "err", w.err)
			}
			return w.res, reason, jobEnded
		case <-gone:
			gone = nil // once
			if reason == "" {
				proc.Kill()
				reason = "the caller went away"
			}
		case <-changed:
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
// ended while its job ran: on a simulated node that is what a node crash
// (or the OOM killer) looks like, so the node counts as lost and the job
// fails, as a batch job does when its process vanishes. The reason is also
// left in the job directory, for Finish when another server noticed.
func (l *launchService) nodeLost(ctx context.Context, job *model.Job, node string, argv []string, pid int, sig syscall.Signal, runner Runner) string {
	if j := l.job(job.ID); j == nil || j.State != model.JobRunning {
		return ""
	}
	reason := fmt.Sprintf("lost node %s: its exec'd %s (pid %d) was killed by signal %d (%s) from outside ibex", node, commandName(argv), pid, int(sig), sig)
	_ = os.WriteFile(filepath.Join(runner.JobDir(job.ID), node+".lost"), []byte(reason+"\n"), 0o644)
	if !l.cfg.Store.IsLeader() {
		return reason // the job ends when its launcher calls Finish
	}
	_, err := l.cfg.Store.Apply(context.WithoutCancel(ctx), &fsm.FinishJob{JobID: job.ID, State: model.JobFailed, Reason: reason, Time: l.cfg.Store.Now()})
	if err != nil {
		l.cfg.Log.Warn("fail job after a lost node", "job", job.ID, "node", node, "err", err)
	}
	return reason
}

// streamOut turns a process's stdout and stderr into ExecOutput messages.
// gRPC streams are not safe for concurrent sends, and the two pipes are
// copied by two goroutines.
type streamOut struct {
	mu     sync.Mutex
	stream pb.Launch_ExecServer
}

func (o *streamOut) send(m *pb.ExecOutput) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.stream.Send(m)
}

func (o *streamOut) writer(stderr bool) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		m := &pb.ExecOutput{Stdout: p}
		if stderr {
			m = &pb.ExecOutput{Stderr: p}
		}
		if err := o.send(m); err != nil {
			return 0, err
		}
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

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
