package control

import (
	"context"
	"errors"
)

// Executor runs jobs' processes on nodes and cleans nodes afterwards: on
// real nodes through their agents (agentgw.Executor), for the simulated
// nodes of --dev a local runner (nodeagent/localexec/ctlexec). The types
// are the control loop's own, so the server does not depend on any runner.
//
// Every method must be idempotent: the controller repeats calls after a
// crash or a lost leadership. Start in particular may be repeated for a
// task that already started; the executor (in the end the node agent's
// journal) must start it at most once.
type Executor interface {
	Start(t Task) error
	Status(jobID uint64, node string) (Status, error)
	Kill(jobID uint64, node string) error
	// Clean kills what is left of the job on the node and returns the
	// evidence for the ledger. ErrInProgress means "asked, no verdict
	// yet": the controller asks again on its next pass.
	Clean(jobID uint64, node string) (evidence string, err error)
	// Output returns at most max bytes from the end of the job's output
	// on node.
	Output(jobID uint64, node string, max int64) ([]byte, error)
	// ReadOutput returns at most max bytes of the job's output on node
	// from offset (≥ 0); eof says nothing more was written so far.
	ReadOutput(ctx context.Context, jobID uint64, node string, offset int64, max int) (data []byte, eof bool, err error)
}

// Task is one node's share of a job.
type Task struct {
	JobID     uint64
	Tenant    string
	Node      string
	NodeIndex int      // 0-based position of Node in Nodes
	Nodes     []string // every node of the job, sorted
	Script    string   // batch script body, or
	Argv      []string // a command line
	// PKey is the job's partition key (0: none); an agent starts the
	// task only when its own HCA holds it.
	PKey uint16
	// Term is the raft term the launch decision was taken in; agents
	// refuse a task of a term lower than one they have seen.
	Term uint64
	// Extra is ibexd's own KEY=VALUE environment for the job's processes
	// (an array task's IBEX_ARRAY_*/SLURM_ARRAY_* variables), set after
	// the job's own.
	Extra []string
	// TaskEnv is the batch job's environment and files (taskenv.go).
	TaskEnv
}

// Phase is where one node's share of a job is.
type Phase int

const (
	NotStarted Phase = iota
	Running          // started (or still starting)
	Exited           // ended with ExitCode
	Lost             // started, gone, and no exit status: killed or vanished
	Refused          // never started: Reason says why
)

func (p Phase) String() string {
	switch p {
	case NotStarted:
		return "not started"
	case Running:
		return "running"
	case Exited:
		return "exited"
	case Lost:
		return "lost"
	case Refused:
		return "refused"
	}
	return "unknown"
}

// Status of one node's share of a job.
type Status struct {
	Phase    Phase
	ExitCode int
	// Reason says why a task is Lost, Refused or NotStarted, when known.
	Reason string
	// Accounting, when the executor measures it (0 otherwise).
	CPUUsec         uint64
	MemoryPeakBytes uint64
	OutputBytes     int64
}

// ErrUnreachable says the node cannot be reached now (its agent is not
// connected): launch leaves the job scheduled and tries again, for at most
// launchWait, rather than failing it at the first hiccup of a stream.
var ErrUnreachable = errors.New("node unreachable")

// ErrInProgress says the executor asked the node and has no answer yet.
var ErrInProgress = errors.New("in progress")
