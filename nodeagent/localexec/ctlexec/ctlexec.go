// Package ctlexec lets the control loop (server/control) drive a
// localexec.Runner on the ibexd host, as the simulated nodes of `ibexd
// --dev` do until they run through simulated agents. It only translates
// types, so server/ does not import localexec: on real nodes the executor
// is agentgw.Executor and jobs run under the node's agent.
package ctlexec

import (
	"context"
	"fmt"

	"github.com/ibex-hpc/ibex/nodeagent/localexec"
	"github.com/ibex-hpc/ibex/server/control"
)

// Executor is a localexec.Runner as a control.Executor. The embedded
// runner keeps its own methods (StartExec, PrepareLaunch, JobDir) for the
// launcher.
type Executor struct {
	*localexec.Runner
}

// New wraps r.
func New(r *localexec.Runner) Executor { return Executor{Runner: r} }

var _ control.Executor = Executor{}

// Start implements control.Executor. The term and the partition key are
// not checked: the processes run on the server itself.
func (e Executor) Start(t control.Task) error {
	if t.Script == "" && len(t.Argv) == 0 {
		return e.Runner.Allocate(t.JobID, t.Node)
	}
	return e.Runner.Start(localexec.Task{JobID: t.JobID, Node: t.Node, NodeIndex: t.NodeIndex, Nodes: t.Nodes, Script: t.Script, Argv: t.Argv,
		JobEnv: localexec.JobEnv{Tenant: t.Tenant, Name: t.Name, UserEnv: t.Env, Workdir: t.Workdir, SubmitDir: t.SubmitDir,
			Output: t.Output, Error: t.Error, SlurmEnv: t.SlurmEnv, Extra: t.Extra}})
}

// Status implements control.Executor.
func (e Executor) Status(jobID uint64, node string) (control.Status, error) {
	st, err := e.Runner.Status(jobID, node)
	if err != nil {
		return control.Status{}, err
	}
	out := control.Status{ExitCode: st.ExitCode}
	switch st.Phase {
	case localexec.NotStarted:
		out.Phase = control.NotStarted
	case localexec.Running:
		out.Phase = control.Running
	case localexec.Exited:
		out.Phase = control.Exited
	case localexec.Lost:
		out.Phase = control.Lost
	default:
		return control.Status{}, fmt.Errorf("job %d on %s: unknown phase %v", jobID, node, st.Phase)
	}
	return out, nil
}

// ReadOutput implements control.Executor with the runner's bounded read.
func (e Executor) ReadOutput(_ context.Context, jobID uint64, node string, offset int64, max int) ([]byte, bool, error) {
	data, size, err := e.Runner.ReadOutput(jobID, node, offset, max)
	if err != nil {
		return nil, false, err
	}
	return data, offset+int64(len(data)) >= size, nil
}

// ReadStream implements control.StreamReader.
func (e Executor) ReadStream(_ context.Context, jobID uint64, node, stream string, offset int64, max int) ([]byte, bool, error) {
	data, size, err := e.Runner.ReadStream(jobID, node, stream, offset, max)
	if err != nil {
		return nil, false, err
	}
	return data, offset+int64(len(data)) >= size, nil
}
