package server

import (
	"context"
	"fmt"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/control"
	"github.com/ibex-hpc/ibex/server/launch"
	"github.com/ibex-hpc/ibex/server/replica"
)

// A node with an enrolled agent is reached only through that agent. A node
// without one is reached through the local runner a simulated cluster
// without agents configures (--sim-agents=false), or not at all.

// hasAgent reports whether node has an enrolled, unrevoked agent.
func hasAgent(store replica.Store, node string) bool {
	ok := false
	store.Read(func(st *fsm.State) {
		n := st.Nodes[node]
		ok = n != nil && n.Agent != nil && !n.Agent.Revoked
	})
	return ok
}

// routedExec sends each call to the node's agent or to the local runner.
type routedExec struct {
	store  replica.Store
	agents control.Executor
	local  control.Executor // nil: nodes without agents cannot run jobs
}

func (r routedExec) pick(node string) (control.Executor, error) {
	if hasAgent(r.store, node) {
		return r.agents, nil
	}
	if r.local != nil {
		return r.local, nil
	}
	return nil, fmt.Errorf("%w: node %s has no enrolled agent", control.ErrUnreachable, node)
}

func (r routedExec) Start(t control.Task) error {
	e, err := r.pick(t.Node)
	if err != nil {
		return err
	}
	return e.Start(t)
}

func (r routedExec) Status(jobID uint64, node string) (control.Status, error) {
	e, err := r.pick(node)
	if err != nil {
		return control.Status{}, err
	}
	return e.Status(jobID, node)
}

func (r routedExec) Kill(jobID uint64, node string) error {
	e, err := r.pick(node)
	if err != nil {
		return err
	}
	return e.Kill(jobID, node)
}

func (r routedExec) Clean(jobID uint64, node string) (string, error) {
	e, err := r.pick(node)
	if err != nil {
		return "", err
	}
	return e.Clean(jobID, node)
}

func (r routedExec) Output(jobID uint64, node string, max int64) ([]byte, error) {
	e, err := r.pick(node)
	if err != nil {
		return nil, err
	}
	return e.Output(jobID, node, max)
}

func (r routedExec) ReadOutput(ctx context.Context, jobID uint64, node string, offset int64, max int) ([]byte, bool, error) {
	e, err := r.pick(node)
	if err != nil {
		return nil, false, err
	}
	return e.ReadOutput(ctx, jobID, node, offset, max)
}

// ReadStream reads one stream where the node's executor keeps them apart,
// and stdout (all there is) where it does not.
func (r routedExec) ReadStream(ctx context.Context, jobID uint64, node, stream string, offset int64, max int) ([]byte, bool, error) {
	e, err := r.pick(node)
	if err != nil {
		return nil, false, err
	}
	if sr, ok := e.(control.StreamReader); ok {
		return sr.ReadStream(ctx, jobID, node, stream, offset, max)
	}
	if stream == "stderr" {
		return nil, true, nil
	}
	return e.ReadOutput(ctx, jobID, node, offset, max)
}

// routedLauncher starts execs the same way.
type routedLauncher struct {
	store  replica.Store
	agents launch.Runner
	local  launch.Runner
}

func (r routedLauncher) Exec(ctx context.Context, node string, task *pb.ExecTask) (<-chan *pb.ExecEvent, error) {
	if !hasAgent(r.store, node) && r.local != nil {
		return r.local.Exec(ctx, node, task)
	}
	return r.agents.Exec(ctx, node, task)
}

// ExecSrun routes an srun-like exec the same way.
func (r routedLauncher) ExecSrun(ctx context.Context, node string, task *pb.ExecTask, srun *pb.SrunSpec) (<-chan *pb.ExecEvent, error) {
	runner := r.agents
	if !hasAgent(r.store, node) && r.local != nil {
		runner = r.local
	}
	sr, ok := runner.(launch.SrunRunner)
	if !ok {
		return nil, fmt.Errorf("exec: the nodes' runner cannot run plain tasks (srun habits); use --mpi")
	}
	return sr.ExecSrun(ctx, node, task, srun)
}

// OnJobEnded passes on the agents' executor's per-job end reports
// (control's job loop watches that job at once); local jobs are seen at
// the next pass.
func (r routedExec) OnJobEnded(f func(node string, job uint64)) {
	if x, ok := r.agents.(interface {
		OnJobEnded(func(node string, job uint64))
	}); ok {
		x.OnJobEnded(f)
	}
}

// JobsEnded passes on the agents' executor's signal that a job ended
// (control's job loop passes on it); local jobs are seen at the next pass.
func (r routedExec) JobsEnded() <-chan struct{} {
	if x, ok := r.agents.(interface{ JobsEnded() <-chan struct{} }); ok {
		return x.JobsEnded()
	}
	return nil
}
