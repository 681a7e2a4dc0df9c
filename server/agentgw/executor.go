package agentgw

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/server/control"
)

// Executor is the control loop's executor for nodes with agents: every
// job reaches its nodes only as tasks on the agents' mutual-TLS streams,
// carrying the leader's term, and what the loop learns of a job comes from
// the agents' reports. The agents' journals make a start happen at most
// once; the executor only sends and reads.
type Executor struct {
	gw *Gateway

	// StartGrace is how long a dispatched job may stay unacknowledged by
	// its agent (no report at all) before Status calls it not started.
	StartGrace time.Duration
	// CleanWait is how long Clean waits for the agent's evidence before
	// answering control.ErrInProgress (the loop asks again next pass).
	CleanWait time.Duration
	// OutputTimeout bounds one output round trip.
	OutputTimeout time.Duration

	mu      sync.Mutex
	pending map[jobKey]*pendingStart // dispatched, not yet reported
	seq     atomic.Uint64
}

// Defaults of Executor's tunables.
const (
	DefaultStartGrace    = 30 * time.Second
	DefaultCleanWait     = 2 * time.Second
	DefaultOutputTimeout = 30 * time.Second
	// MaxOutputChunk bounds the data asked for in one OutputRequest.
	MaxOutputChunk = 1 << 20
)

type jobKey struct {
	job  uint64
	node string
}

type pendingStart struct {
	task *pb.AgentTask
	at   time.Time
}

// NewExecutor returns the executor that runs jobs through gw's agents.
func NewExecutor(gw *Gateway) *Executor {
	return &Executor{gw: gw, StartGrace: DefaultStartGrace, CleanWait: DefaultCleanWait, OutputTimeout: DefaultOutputTimeout,
		pending: map[jobKey]*pendingStart{}}
}

var _ control.Executor = (*Executor)(nil)

// Task ids on the agent stream. The agent journals a job by its id, so the
// job task id is only for the logs; stop task ids make a resent stop get
// the stored answer.
func JobTaskID(job uint64, node string) string   { return fmt.Sprintf("job/%d/%s", job, node) }
func stopTaskID(job uint64, node string) string  { return fmt.Sprintf("job-stop/%d/%s", job, node) }
func cleanTaskID(job uint64, node string) string { return fmt.Sprintf("job-clean/%d/%s", job, node) }

// Start sends the job's task to the node's agent. A task the agent already
// has (a resend after a reconnect or by a new leader) changes nothing on
// the node: the agent answers with the job's current report.
func (e *Executor) Start(t control.Task) error {
	term := t.Term
	if term == 0 {
		term = e.gw.cfg.Store.Term()
	}
	task := &pb.AgentTask{Id: JobTaskID(t.JobID, t.Node), Term: term, Kind: &pb.AgentTask_Job{Job: &pb.JobTask{
		JobId: t.JobID, Tenant: t.Tenant, Nodes: t.Nodes, NodeIndex: int32(t.NodeIndex),
		Script: t.Script, Argv: t.Argv, Pkey: uint32(t.PKey), Env: t.Extra,
		Name: t.Name, UserEnv: t.Env, Workdir: t.Workdir, SubmitDir: t.SubmitDir, Output: t.Output, Error: t.Error, SlurmEnv: t.SlurmEnv,
	}}}
	k := jobKey{t.JobID, t.Node}
	if _, ok := e.gw.jobs.report(t.Node, t.JobID); !ok {
		e.mu.Lock()
		if p := e.pending[k]; p == nil || p.task.GetTerm() != term {
			e.pending[k] = &pendingStart{task: task, at: time.Now()}
		}
		e.mu.Unlock()
	}
	if !e.gw.Dispatch(t.Node, task) {
		return fmt.Errorf("%w: the agent of %s is not connected to this server", control.ErrUnreachable, t.Node)
	}
	return nil
}

// Status is the node's latest report of the job. Without one: a job
// dispatched less than StartGrace ago is starting (and is sent again,
// which a reconnected stream needs); an agent that is connected, and so
// listed every job it knows in its Hello, does not have the job; an agent
// that is not connected may still run it (the liveness loop fails the
// jobs of nodes that are gone).
func (e *Executor) Status(jobID uint64, node string) (control.Status, error) {
	k := jobKey{jobID, node}
	if r, ok := e.gw.jobs.report(node, jobID); ok {
		e.mu.Lock()
		delete(e.pending, k)
		e.mu.Unlock()
		return statusOf(node, r)
	}
	e.mu.Lock()
	p := e.pending[k]
	e.mu.Unlock()
	switch {
	case p != nil && time.Since(p.at) < e.StartGrace:
		e.gw.Dispatch(node, p.task)
		return control.Status{Phase: control.Running}, nil
	case p != nil:
		return control.Status{Phase: control.NotStarted, Reason: fmt.Sprintf("the agent of %s did not acknowledge the job within %s", node, e.StartGrace)}, nil
	case e.gw.Connected(node):
		return control.Status{Phase: control.NotStarted, Reason: fmt.Sprintf("the agent of %s has no record of the job: its start never reached the node", node)}, nil
	}
	return control.Status{Phase: control.Running}, nil
}

func statusOf(node string, r *pb.JobReport) (control.Status, error) {
	st := control.Status{ExitCode: int(r.GetExitCode()), Reason: r.GetReason(),
		CPUUsec: r.GetCpuUsec(), MemoryPeakBytes: r.GetMemoryPeakBytes(), OutputBytes: r.GetOutputBytes()}
	switch r.GetPhase() {
	case "starting", "running":
		st.Phase = control.Running
	case "exited":
		st.Phase = control.Exited
	case "lost":
		st.Phase = control.Lost
	case "refused":
		st.Phase = control.Refused
	default:
		return control.Status{}, fmt.Errorf("job %d on %s: the agent reports phase %q, which this server does not know (agent newer than ibexd?)", r.GetJobId(), node, r.GetPhase())
	}
	return st, nil
}

// Kill sends a stop; it does not wait for the agent's answer (the job's
// report follows).
func (e *Executor) Kill(jobID uint64, node string) error {
	id := stopTaskID(jobID, node)
	e.gw.jobs.expectResult(id)
	if !e.gw.Dispatch(node, e.stopTask(id, jobID, false)) {
		return fmt.Errorf("%w: the agent of %s is not connected to this server", control.ErrUnreachable, node)
	}
	return nil
}

func (e *Executor) stopTask(id string, jobID uint64, clean bool) *pb.AgentTask {
	return &pb.AgentTask{Id: id, Term: e.gw.cfg.Store.Term(), Kind: &pb.AgentTask_StopJob{StopJob: &pb.StopJobTask{
		JobId: jobID, Clean: clean, Reason: "the job ended (time limit, cancel, release or a failed node)"}}}
}

// Clean sends a stop with clean set and returns the agent's evidence that
// nothing of the job is left, waiting at most CleanWait; without an
// answer by then it returns control.ErrInProgress and the next call picks
// the answer up.
func (e *Executor) Clean(jobID uint64, node string) (string, error) {
	e.mu.Lock()
	delete(e.pending, jobKey{jobID, node}) // the job is over on this node
	e.mu.Unlock()
	id := cleanTaskID(jobID, node)
	if ev, err, ok := e.cleanResult(node, id); ok {
		return ev, err
	}
	done := e.gw.jobs.expectResult(id)
	if !e.gw.Dispatch(node, e.stopTask(id, jobID, true)) {
		return "", fmt.Errorf("%w: the agent of %s is not connected to this server", control.ErrUnreachable, node)
	}
	t := time.NewTimer(e.CleanWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		return "", control.ErrInProgress
	}
	if ev, err, ok := e.cleanResult(node, id); ok {
		return ev, err
	}
	return "", control.ErrInProgress
}

func (e *Executor) cleanResult(node, id string) (string, error, bool) {
	r, ok := e.gw.jobs.result(id)
	if !ok {
		return "", nil, false
	}
	if !r.GetOk() {
		return "", fmt.Errorf("the agent of %s could not clean: %s", node, r.GetError()), true
	}
	var ev struct {
		Evidence string `json:"evidence"`
	}
	if err := json.Unmarshal([]byte(r.GetEvidenceJson()), &ev); err != nil || ev.Evidence == "" {
		return "", fmt.Errorf("the agent of %s cleaned without readable evidence (%q)", node, r.GetEvidenceJson()), true
	}
	return "agent: " + ev.Evidence, nil, true
}

// Output returns at most max bytes from the end of the job's output on
// node, read from its agent.
func (e *Executor) Output(jobID uint64, node string, max int64) ([]byte, error) {
	if max <= 0 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.OutputTimeout)
	defer cancel()
	var out []byte
	off := -max // the agent reads a negative offset from the end
	for int64(len(out)) < max {
		c, err := e.read(ctx, jobID, node, off, int(min(max-int64(len(out)), MaxOutputChunk)))
		if err != nil {
			return nil, err
		}
		out = append(out, c.GetData()...)
		if c.GetEof() || len(c.GetData()) == 0 {
			break
		}
		off = c.GetOffset() + int64(len(c.GetData()))
	}
	return out, nil
}

// ReadOutput reads at most max bytes (at most MaxOutputChunk) of the
// job's output on node from offset, from its agent.
func (e *Executor) ReadOutput(ctx context.Context, jobID uint64, node string, offset int64, max int) ([]byte, bool, error) {
	if offset < 0 {
		return nil, false, fmt.Errorf("read output at offset %d: want a non-negative offset", offset)
	}
	return e.ReadStream(ctx, jobID, node, "", offset, max)
}

// ReadStream is ReadOutput of one stream ("stdout" or "stderr").
func (e *Executor) ReadStream(ctx context.Context, jobID uint64, node, stream string, offset int64, max int) ([]byte, bool, error) {
	if offset < 0 {
		return nil, false, fmt.Errorf("read output at offset %d: want a non-negative offset", offset)
	}
	c, err := e.readStream(ctx, jobID, node, stream, offset, max)
	if err != nil {
		return nil, false, err
	}
	return c.GetData(), c.GetEof(), nil
}

// read is one OutputRequest round trip. The answer is checked: it must
// start where asked (for offset ≥ 0) and hold no more than asked.
func (e *Executor) read(ctx context.Context, jobID uint64, node string, offset int64, max int) (*pb.OutputChunk, error) {
	return e.readStream(ctx, jobID, node, "", offset, max)
}

func (e *Executor) readStream(ctx context.Context, jobID uint64, node, stream string, offset int64, max int) (*pb.OutputChunk, error) {
	if max <= 0 || max > MaxOutputChunk {
		max = MaxOutputChunk
	}
	id := fmt.Sprintf("job-output/%d/%s/%d", jobID, node, e.seq.Add(1))
	ch := e.gw.jobs.awaitOutput(id)
	defer e.gw.jobs.dropOutput(id)
	t := &pb.AgentTask{Id: id, Term: e.gw.cfg.Store.Term(), Kind: &pb.AgentTask_Output{Output: &pb.OutputRequest{JobId: jobID, Offset: offset, Max: int32(max), Stream: stream}}}
	if err := e.gw.send(node, t, time.Second); err != nil {
		return nil, fmt.Errorf("%w: %v; the job's output stays on the node", control.ErrUnreachable, err)
	}
	ctx, cancel := context.WithTimeout(ctx, e.OutputTimeout)
	defer cancel()
	select {
	case c := <-ch:
		switch {
		case c.GetError() != "":
			return nil, fmt.Errorf("the agent of %s cannot read job %d's output: %s", node, jobID, c.GetError())
		case len(c.GetData()) > max, offset >= 0 && c.GetOffset() != offset, c.GetOffset() < 0:
			return nil, fmt.Errorf("the agent of %s answered %d bytes at offset %d to a request for %d at %d", node, len(c.GetData()), c.GetOffset(), max, offset)
		}
		return c, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("no output from the agent of %s: %w", node, ctx.Err())
	}
}
