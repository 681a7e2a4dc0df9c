package nodeexec

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/ibex-hpc/ibex/nodeagent/localexec"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// Local runs execs in this process, on Jobs: the exec runner (the
// server/launch Runner interface) of a control plane whose simulated nodes
// are its own host and that has no agents to send them to. It checks no
// more than the server did (the job runs, the node is one of its nodes):
// it trusts its caller, as a node agent trusts its authenticated server.
type Local struct {
	Jobs *localexec.Runner
	Options
	Log *slog.Logger // nil for slog.Default()
}

var localSeq atomic.Uint64

// Exec starts task on node and returns its events: output, then exactly
// one final event (Done), then the channel closes. The caller must read
// until the channel closes. Ending ctx kills the exec; its final event
// still follows.
func (l *Local) Exec(ctx context.Context, node string, task *pb.ExecTask) (<-chan *pb.ExecEvent, error) {
	return l.ExecSrun(ctx, node, task, nil)
}

// ExecSrun is Exec run srun-like (tasks.go); nil srun is Exec.
func (l *Local) ExecSrun(ctx context.Context, node string, task *pb.ExecTask, srun *pb.SrunSpec) (<-chan *pb.ExecEvent, error) {
	if err := Validate(task); err != nil {
		return nil, err
	}
	if want := task.Nodes[task.NodeIndex]; node != want {
		return nil, fmt.Errorf("exec: task for node %s sent to %s", want, node)
	}
	log := l.Log
	if log == nil {
		log = slog.Default()
	}
	id := fmt.Sprintf("local-%d", localSeq.Add(1))
	ch := make(chan *pb.ExecEvent, 16)
	if srun.GetProbe() {
		ans, err := Probe(l.Jobs, task, l.Options)
		if err != nil {
			return nil, err
		}
		ch <- &pb.ExecEvent{ExecId: id, Stdout: []byte(ans + "\n")}
		ch <- &pb.ExecEvent{ExecId: id, Done: true}
		close(ch)
		return ch, nil
	}
	emit := func(ev *pb.ExecEvent) { ch <- ev }
	var p *Proc
	var err error
	if srun.GetTasks() {
		p, err = StartTasks(l.Jobs, id, task, srun.GetLabel(), l.Options, emit)
	} else {
		p, err = Start(l.Jobs, id, task, l.Options, emit)
	}
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, p.Kill)
	go func() {
		final, left := p.Wait()
		stop()
		if len(left) > 0 {
			log.Info("exec left processes behind; the job's cleaning kills them", "job", task.JobId, "node", node, "pids", left)
		}
		ch <- final
		close(ch)
	}()
	return ch, nil
}
