package agent

// Exec: processes the control plane starts inside a job on this node
// (`ibex exec`, `ibex run`, `ibex mpirun`, and the MPI runtimes' rsh/ssh
// agent starting orted or hydra_pmi_proxy). They are not hygiene tasks:
// they run at once and side by side, never queued behind an image write,
// and nothing of them is journalled, because an exec is only worth
// anything to the caller that is streaming its output. So an exec lives
// and dies with the stream that started it: when the stream ends nobody
// can receive its output or stop it, and it is killed (the job's cleaning
// would kill it anyway).

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/ibex-hpc/ibex/nodeagent/localexec"
	"github.com/ibex-hpc/ibex/nodeagent/nodeexec"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// maxExecs bounds the execs running on a node at once. An MPI launch
// makes one per node (two on the launcher's node); hundreds mean a
// runaway, which must not exhaust the agent.
const maxExecs = 256

// execTable is the node's running execs, by exec id (the AgentTask id).
// Its zero value is ready to use.
type execTable struct {
	mu      sync.Mutex
	running map[string]*execEntry
	wg      sync.WaitGroup

	ibexOnce sync.Once
	ibex     string
}

type execEntry struct {
	proc   *nodeexec.Proc // nil while starting
	killed bool           // ExecSignal arrived, perhaps before proc
}

// routeExec handles the exec kinds of task and reports whether it did.
// Called from the stream's receive loop, so it must not block: the exec
// runs in its own goroutine.
func (a *Agent) routeExec(ctx context.Context, s *session, t *pb.AgentTask) bool {
	switch k := t.GetKind().(type) {
	case *pb.AgentTask_Exec:
		a.execs.wg.Add(1)
		go func() {
			defer a.execs.wg.Done()
			a.runExec(ctx, s, t.GetId(), t.GetTerm(), k.Exec, t.GetSrun())
		}()
		return true
	case *pb.AgentTask_ExecSignal:
		a.signalExec(k.ExecSignal.GetExecId())
		return true
	}
	return false
}

// waitExecs waits for the execs of ended streams to be killed and reaped.
func (a *Agent) waitExecs() { a.execs.wg.Wait() }

// runExec starts one exec, streams its output on s and ends with its final
// event. Anything that stops it from starting is reported as a final event
// with Error set, which the caller shows the user.
func (a *Agent) runExec(ctx context.Context, s *session, id string, term uint64, task *pb.ExecTask, srun *pb.SrunSpec) {
	log := a.log.With("exec", id, "job", task.GetJobId())
	if id == "" {
		log.Warn("ignoring an exec without an id: its output could not be matched")
		return
	}
	fail := func(err error) {
		log.Warn("exec refused", "err", err)
		a.sendExec(ctx, s, &pb.ExecEvent{ExecId: id, Done: true, ExitCode: 255, Error: err.Error()})
	}
	if err := a.execRunnable(task); err != nil {
		fail(err)
		return
	}
	switch err := a.execs.add(id); {
	case errors.Is(err, errExecDuplicate):
		log.Debug("exec already running")
		return
	case err != nil:
		fail(err)
		return
	}
	if srun.GetProbe() {
		a.probeExec(ctx, s, id, task)
		return
	}
	emit := func(ev *pb.ExecEvent) { a.sendExec(ctx, s, ev) }
	opt := nodeexec.Options{IbexBinary: a.execs.ibexBinary()}
	var p *nodeexec.Proc
	var err error
	if srun.GetTasks() {
		p, err = nodeexec.StartTasks(a.Jobs, id, task, srun.GetLabel(), opt, emit)
	} else {
		p, err = nodeexec.Start(a.Jobs, id, task, opt, emit)
	}
	if err != nil {
		a.execs.remove(id)
		fail(err)
		return
	}
	if !a.execs.started(id, p) {
		p.Kill() // an ExecSignal came while it started
	}
	log.Info("exec started", "pid", p.Pid, "argv", p.Argv)
	stop := context.AfterFunc(ctx, p.Kill)
	final, left := p.Wait()
	stop()
	a.execs.remove(id)
	if len(left) > 0 {
		log.Info("exec left processes behind; the job's cleaning kills them", "pids", left)
	}
	log.Info("exec ended", "exit", final.ExitCode, "signal", final.Signal, "reason", final.Reason)
	a.sendExec(ctx, s, final)
}

// probeExec answers which MPI the task's program links (srun habits:
// `ibex run` decides on the node whether to launch MPI or plain tasks).
func (a *Agent) probeExec(ctx context.Context, s *session, id string, task *pb.ExecTask) {
	defer a.execs.remove(id)
	ans, err := nodeexec.Probe(a.Jobs, task, nodeexec.Options{})
	if err != nil {
		a.sendExec(ctx, s, &pb.ExecEvent{ExecId: id, Done: true, ExitCode: 255, Error: err.Error()})
		return
	}
	a.sendExec(ctx, s, &pb.ExecEvent{ExecId: id, Stdout: []byte(ans + "\n")})
	a.sendExec(ctx, s, &pb.ExecEvent{ExecId: id, Done: true})
}

// execRunnable checks that this node can run the task: it has a job
// runner, the task is for this node, and the node runs the job.
func (a *Agent) execRunnable(task *pb.ExecTask) error {
	if a.Jobs == nil {
		return fmt.Errorf("the agent of %s runs no jobs (it has no job runner)", a.cfg.Node)
	}
	if err := nodeexec.Validate(task); err != nil {
		return err
	}
	if node := task.Nodes[task.NodeIndex]; node != a.cfg.Node {
		return fmt.Errorf("exec for node %s reached the agent of %s", node, a.cfg.Node)
	}
	return a.jobRunsHere(task.JobId)
}

// execStartWait bounds how long an exec waits for its job to finish
// starting on this node.
const execStartWait = 10 * time.Second

// jobRunsHere refuses execs into a job this node does not run. The
// agent's own record of the jobs it was sent decides (an allocation runs
// until stopped, a batch job until its process ends); a job with no record
// (started by an older agent) is judged by the runner's files.
func (a *Agent) jobRunsHere(jobID uint64) error {
	if state, ok := a.jobs.state(jobID); ok {
		// The server counts a job running once every node accepted it; an
		// exec may then overtake the node's own start (its runner making
		// the directory and cgroup): wait for that, for a bounded time.
		deadline := time.Now().Add(execStartWait)
		for (state == jobAccepted || state == jobStarting) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			state, _ = a.jobs.state(jobID)
		}
		if state == jobRunning {
			return nil
		}
		return fmt.Errorf("job %d is %s on %s, not running", jobID, state, a.cfg.Node)
	}
	st, err := a.Jobs.Status(jobID, a.cfg.Node)
	if err != nil {
		return fmt.Errorf("job %d on %s: %w", jobID, a.cfg.Node, err)
	}
	switch st.Phase {
	case localexec.Running:
		return nil
	case localexec.NotStarted:
		if fi, err := os.Stat(a.Jobs.JobDir(jobID)); err == nil && fi.IsDir() {
			return nil // an allocation: no process of its own
		}
		return fmt.Errorf("node %s does not run job %d", a.cfg.Node, jobID)
	}
	return fmt.Errorf("job %d has ended on %s (%s)", jobID, a.cfg.Node, st.Phase)
}

// signalExec kills the exec id; an exec that already ended is no error.
func (a *Agent) signalExec(id string) {
	a.execs.mu.Lock()
	var proc *nodeexec.Proc
	if e, ok := a.execs.running[id]; ok {
		e.killed = true
		proc = e.proc // read under the lock: started() sets it
	}
	a.execs.mu.Unlock()
	if proc != nil {
		a.log.Info("killing exec on request", "exec", id)
		proc.Kill()
	}
}

// sendExec hands an event to the stream that started the exec, waiting
// while the stream is busy (which holds the process up, as a full pipe
// would) until the stream ends.
func (a *Agent) sendExec(ctx context.Context, s *session, ev *pb.ExecEvent) {
	select {
	case s.exec <- ev:
	case <-ctx.Done():
	}
}

var errExecDuplicate = errors.New("exec already running")

func (e *execTable) add(id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.running[id]; ok {
		return errExecDuplicate
	}
	if len(e.running) >= maxExecs {
		return fmt.Errorf("%d execs already run on this node; refusing more", maxExecs)
	}
	if e.running == nil {
		e.running = map[string]*execEntry{}
	}
	e.running[id] = &execEntry{}
	return nil
}

// started records the process; false means it was signalled meanwhile.
func (e *execTable) started(id string, p *nodeexec.Proc) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	ent := e.running[id]
	ent.proc = p
	return !ent.killed
}

func (e *execTable) remove(id string) {
	e.mu.Lock()
	delete(e.running, id)
	e.mu.Unlock()
}

func (e *execTable) ibexBinary() string {
	e.ibexOnce.Do(func() { e.ibex = nodeexec.FindIbexBinary() })
	return e.ibex
}
