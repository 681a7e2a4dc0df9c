package agent

// Jobs on the node. The server sends a JobTask to start this node's share
// of a job, a StopJobTask to kill it (and with clean set, to confirm that
// nothing of it is left), and OutputRequests to read its output. The agent
// answers with a JobReport at every change of the job's phase, and lists
// every recent job in its Hello, so a new leader or a reconnect learns the
// node's real state.
//
// At most once: a job is recorded in the job journal (jobjournal.go),
// fsynced, before anything of it starts, and a job with a record is never
// started again: a task resent after a reconnect or by a new leader gets
// the current report instead. A stop that arrives before its job (the
// cancel raced the start) leaves a record that refuses the later start.
// Every task is fenced by the leader's term first (fence.go).

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ibex-hpc/ibex/nodeagent/hca"
	"github.com/ibex-hpc/ibex/nodeagent/localexec"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

const (
	// jobMsgBuffer bounds the job reports and output chunks waiting for
	// the stream. A report that does not fit is resent by the watcher.
	jobMsgBuffer = 64
	// MaxOutputChunk bounds one OutputChunk's data, far below gRPC's
	// default 4 MiB message limit.
	MaxOutputChunk = 1 << 20
	// DefaultPKeyWait is how long a job with a partition key waits for
	// the key to appear in the HCA's P_Key table before it is refused:
	// the subnet manager programs ports asynchronously.
	DefaultPKeyWait = 10 * time.Second
	pkeyPoll        = 250 * time.Millisecond
	// jobPoll is how often the watcher reads the runner's status of the
	// running jobs.
	jobPoll = 100 * time.Millisecond
	// jobKeep is how long an ended job's record is kept (and listed in
	// every Hello); maxJobRecords bounds the journal regardless.
	jobKeep       = 24 * time.Hour
	maxJobRecords = 1024
	// outputReaders bounds concurrent output reads (each holds up to
	// MaxOutputChunk); outputSendWait how long a chunk may wait for room
	// on the stream.
	outputReaders  = 8
	outputSendWait = 5 * time.Second
	// Bounds on a JobTask, far above what ibexd accepts at submit.
	maxJobScript = 1 << 20
	maxJobArgs   = 4096
	maxJobNodes  = 1 << 16
)

// Report phases (pb.JobReport.Phase). "starting" covers the wait for the
// partition key and the start itself.
const (
	PhaseStarting = "starting"
	PhaseRunning  = "running"
	PhaseExited   = "exited"
	PhaseLost     = "lost"
	PhaseRefused  = "refused"
)

// PKeyTable is this node's view of its own HCA partition-key tables
// (sysfs ports/*/pkeys/*): the second witness, next to the subnet
// manager's read-back, that a job's partition is in place before the job
// starts. key is the 15-bit partition key; implementations match it
// whatever the membership bit. detail says what was found (for the
// refusal's reason) when ok is false.
type PKeyTable interface {
	HasPKey(key uint16) (ok bool, detail string, err error)
}

// jobManager runs the jobs of this node.
type jobManager struct {
	a        *Agent
	node     string
	journal  *jobJournal
	run      jobRunner // nil: this agent runs no jobs
	pkeys    PKeyTable
	pkeyWait time.Duration
	readers  chan struct{}
	ctx      context.Context // the agent's; set by Start before any task

	mu   sync.Mutex
	jobs map[uint64]*jobEntry
	// wake asks the watcher for a pass now (buffered, 1): the runner
	// reaped a job's process (exitwake.go).
	wake chan struct{}
}

// jobEntry is a journalled job with what only this process needs.
type jobEntry struct {
	rec jobRecord // guarded by jobManager.mu
	// unsent: the latest report did not fit on a stream (guarded by
	// jobManager.mu); the watcher resends it.
	unsent bool
	// reaped: the runner reaped the job's process while the job was still
	// being recorded as started (jobManager.mu; exitwake.go).
	reaped bool
	// offered is the last report offered to a stream (jobManager.mu;
	// reportchange.go).
	offered *pb.JobReport
	// op serialises the start and the stops of the job, so a stop that
	// arrives while the runner is starting the job kills what it started.
	op sync.Mutex
}

func newJobManager(a *Agent, dataDir string) (*jobManager, error) {
	if a.PKeys == nil {
		a.PKeys = SysfsPKeys{Scanner: hca.NewScanner(a.cfg.SysfsRoot)}
	}
	m := &jobManager{a: a, node: a.cfg.Node, pkeys: a.PKeys, pkeyWait: a.PKeyWait,
		readers: make(chan struct{}, outputReaders), ctx: context.Background(), jobs: map[uint64]*jobEntry{},
		wake: make(chan struct{}, 1)}
	if a.Jobs != nil {
		m.run = localRunner{a.Jobs}
		a.Jobs.OnExit(func(id uint64, _ string) { m.reaped(id) })
	}
	if m.pkeyWait <= 0 {
		m.pkeyWait = DefaultPKeyWait
	}
	journal, recs, warns, err := openJobJournal(dataDir, a.JournalNoSync)
	for _, w := range warns {
		a.log.Warn(w.Error())
	}
	if err != nil {
		return nil, err
	}
	m.journal = journal
	for id, rec := range recs {
		m.jobs[id] = &jobEntry{rec: *rec}
	}
	m.adopt()
	m.prune(time.Now())
	return m, nil
}

// adopt settles the jobs a previous run of the agent left unfinished: a
// job it had not begun to start is refused (never started late), one it
// was starting or running is whatever the runner's files say, which also
// covers exits that happened while the agent was down.
func (m *jobManager) adopt() {
	for _, e := range m.jobs {
		switch e.rec.State {
		case jobAccepted:
			m.mu.Lock()
			m.set(e, jobRefused, 0, "the agent restarted before the job started; a job is never started late or twice")
			m.mu.Unlock()
		case jobStarting, jobRunning:
			m.refresh(e, true)
			m.mu.Lock()
			running := e.rec.State == jobRunning
			m.mu.Unlock()
			if running {
				m.a.log.Info("adopted a running job", "job", e.rec.JobID)
			}
		}
	}
}

// checkJobRoot refuses a job root inside the data dir, or holding it: a
// job's files (its directory, its output) would sit next to the node key,
// or the key inside a tree jobs write to.
func (a *Agent) checkJobRoot() error {
	if a.Jobs == nil {
		return nil
	}
	root, data := realPath(a.Jobs.Root), realPath(a.cfg.DataDir)
	if within(data, root) || within(root, data) {
		return fmt.Errorf("agent: the job root %s and the data dir %s overlap: jobs must not reach the node's key and journals; put the job root elsewhere (--job-root)", a.Jobs.Root, a.cfg.DataDir)
	}
	return nil
}

// realPath is p absolute, with symbolic links resolved when it exists.
func realPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	if r, err := filepath.EvalSymlinks(p); err == nil {
		p = r
	}
	return p
}

// within reports whether p is parent or inside it.
func within(parent, p string) bool {
	rel, err := filepath.Rel(parent, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// receive routes one task from the server: output reads go straight to
// the reader (they change nothing, so they are not fenced); everything
// else must pass the leader-term fence first.
func (a *Agent) receive(ctx context.Context, s *session, t *pb.AgentTask) {
	if req := t.GetOutput(); req != nil {
		a.jobs.output(t.GetId(), req)
		return
	}
	if err := a.fence.admit(t.GetTerm()); err != nil {
		a.log.Warn("task refused", "task", t.GetId(), "err", err)
		if t.GetExec() != nil {
			a.sendExec(ctx, s, &pb.ExecEvent{ExecId: t.GetId(), Done: true, ExitCode: 255, Error: err.Error()})
			return
		}
		a.refuse(t, err)
		return
	}
	if t.GetKind() == nil && t.GetId() == "" {
		// A new leader announcing its term (a task with neither id nor
		// kind): the fence recorded it. A kind this agent does not know
		// also parses as none, but carries an id and gets "not supported".
		a.log.Debug("leader term", "term", t.GetTerm())
		return
	}
	switch k := t.GetKind().(type) {
	case *pb.AgentTask_Job:
		a.jobs.start(t.GetId(), t.GetTerm(), k.Job)
	case *pb.AgentTask_StopJob:
		a.jobs.stop(t.GetId(), k.StopJob)
	case *pb.AgentTask_Exec, *pb.AgentTask_ExecSignal:
		a.routeExec(ctx, s, t)
	default:
		a.runner.submit(t)
	}
}

// refuse answers a task the fence turned away. Nothing is journalled: the
// refusal belongs to the deposed sender, not to the task id.
func (a *Agent) refuse(t *pb.AgentTask, err error) {
	if t.GetKind() == nil && t.GetId() == "" {
		return // a stale term announcement
	}
	switch k := t.GetKind().(type) {
	case *pb.AgentTask_Job:
		a.offer(&pb.AgentMessage{Msg: &pb.AgentMessage_Job{Job: &pb.JobReport{JobId: k.Job.GetJobId(), Phase: PhaseRefused, Reason: err.Error()}}})
	default:
		a.deliver(&pb.TaskResult{Id: t.GetId(), Error: err.Error()})
	}
}

// hello is the stream's first message: the inventory, the highest term
// seen and every job of the journal.
func (a *Agent) hello(inv *pb.HardwareInventory) *pb.AgentHello {
	return &pb.AgentHello{Node: a.cfg.Node, Inventory: inv, Term: a.fence.current(), Jobs: a.jobs.reports()}
}

// offer queues m on the current stream without waiting.
func (a *Agent) offer(m *pb.AgentMessage) bool {
	a.mu.Lock()
	s := a.sess
	a.mu.Unlock()
	if s == nil {
		return false
	}
	select {
	case s.msgs <- m:
		return true
	default:
		return false
	}
}

// sendWait queues m on the current stream, waiting up to d for room.
func (a *Agent) sendWait(m *pb.AgentMessage, d time.Duration) bool {
	a.mu.Lock()
	s := a.sess
	a.mu.Unlock()
	if s == nil {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case s.msgs <- m:
		return true
	case <-t.C:
		return false
	}
}

// start handles a JobTask. The record is written here, in the order tasks
// arrive on the stream, before anything else happens to the job.
func (m *jobManager) start(taskID string, term uint64, jt *pb.JobTask) {
	id := jt.GetJobId()
	log := m.a.log.With("job", id, "task", taskID)
	if id == 0 {
		log.Warn("ignoring a job task without a job id")
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.jobs[id]; e != nil {
		log.Info("job already known here, not starting it again; reporting its state", "state", e.rec.State)
		m.sendReport(e)
		return
	}
	e := &jobEntry{rec: jobRecord{JobID: id, TaskID: taskID, Term: term, State: jobAccepted, Updated: time.Now(),
		Allocation: jt.GetScript() == "" && len(jt.GetArgv()) == 0}}
	if reason := m.check(jt); reason != "" {
		e.rec.State, e.rec.Reason = jobRefused, reason
	} else if reason := m.journal.refuses(id); reason != "" {
		e.rec.State, e.rec.Reason = jobRefused, reason
	}
	if err := m.journal.save(&e.rec); err != nil {
		// Without a record a crash could not tell whether the job ran,
		// so it does not run.
		log.Error("cannot journal the job, refusing it", "err", err)
		m.a.offer(jobMsg(&pb.JobReport{JobId: id, Phase: PhaseRefused, Reason: "the agent cannot journal the job: " + err.Error()}))
		return
	}
	m.jobs[id] = e
	m.sendReport(e)
	if e.rec.State == jobRefused {
		log.Warn("job refused", "reason", e.rec.Reason)
		return
	}
	log.Info("job accepted")
	go m.launch(e, jt)
}

// state is the journalled state of a job sent to this node, if any.
func (m *jobManager) state(id uint64) (jobState, bool) {
	if m == nil {
		return "", false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.jobs[id]; e != nil {
		return e.rec.State, true
	}
	return "", false
}

// check validates a JobTask; it returns the reason to refuse it, or "".
func (m *jobManager) check(jt *pb.JobTask) string {
	switch {
	case m.run == nil:
		return "this agent runs no jobs (no job runner configured: start ibex-agent with --job-root)"
	case jt.GetScript() != "" && len(jt.GetArgv()) > 0:
		return "the job task has both a script and a command"
	case len(jt.GetScript()) > maxJobScript || len(jt.GetArgv()) > maxJobArgs || len(jt.GetNodes()) > maxJobNodes:
		return "the job task exceeds the agent's limits (script, arguments or nodes)"
	case jt.GetPkey() > 0xffff:
		return fmt.Sprintf("partition key %#x is not a 16-bit key", jt.GetPkey())
	}
	i := int(jt.GetNodeIndex())
	if i < 0 || i >= len(jt.GetNodes()) || jt.GetNodes()[i] != m.node {
		return fmt.Sprintf("the task is for node index %d of %v, not for %s", i, jt.GetNodes(), m.node)
	}
	return ""
}

// launch waits for the job's partition key, then starts the job unless a
// stop came first.
func (m *jobManager) launch(e *jobEntry, jt *pb.JobTask) {
	id := e.rec.JobID
	log := m.a.log.With("job", id)
	ok, why := m.waitPKey(e, uint16(jt.GetPkey()))
	e.op.Lock()
	defer e.op.Unlock()
	m.mu.Lock()
	if e.rec.State != jobAccepted {
		m.mu.Unlock()
		log.Info("job not started", "state", e.rec.State, "reason", e.rec.Reason)
		return
	}
	if !ok {
		log.Warn("job refused", "reason", why)
		m.set(e, jobRefused, 0, why)
		m.mu.Unlock()
		return
	}
	if err := m.set(e, jobStarting, 0, ""); err != nil {
		log.Error("cannot journal the start, refusing the job", "err", err)
		m.set(e, jobRefused, 0, "the agent cannot journal the start: "+err.Error())
		m.mu.Unlock()
		return
	}
	m.mu.Unlock()
	var err error
	if e.rec.Allocation {
		err = m.run.Allocate(id, m.node)
	} else {
		err = m.run.Start(localexec.Task{JobID: id, Node: m.node, NodeIndex: int(jt.GetNodeIndex()), Nodes: jt.GetNodes(),
			Script: jt.GetScript(), Argv: jt.GetArgv(), JobEnv: jobEnvOf(jt)})
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		log.Warn("job did not start", "err", err)
		m.set(e, jobRefused, 0, "the runner could not start it: "+err.Error())
		return
	}
	log.Info("job started")
	m.set(e, jobRunning, 0, "")
	if e.reaped {
		m.poke() // it ended before it was recorded running (exitwake.go)
	}
}

// waitPKey waits up to pkeyWait for key in the HCA's P_Key table; it
// gives up early when the job is cancelled or the agent stops.
func (m *jobManager) waitPKey(e *jobEntry, key uint16) (ok bool, why string) {
	if key == 0 {
		return true, ""
	}
	if m.pkeys == nil {
		return false, fmt.Sprintf("partition key %#04x: this agent has no reader for its HCA P_Key table, so it cannot confirm the job's partition", key)
	}
	deadline := time.Now().Add(m.pkeyWait)
	var last string
	for {
		found, detail, err := m.pkeys.HasPKey(key)
		if found {
			return true, ""
		}
		last = detail
		if err != nil {
			last = err.Error()
		}
		m.mu.Lock()
		cancelled := e.rec.State != jobAccepted
		m.mu.Unlock()
		if cancelled {
			return false, "cancelled"
		}
		if !time.Now().Before(deadline) {
			return false, fmt.Sprintf("partition key %#04x is not in the HCA P_Key table of %s after %s (%s)", key, m.node, m.pkeyWait, last)
		}
		select {
		case <-m.ctx.Done():
			return false, "the agent is stopping"
		case <-time.After(min(pkeyPoll, time.Until(deadline))):
		}
	}
}

// stop handles a StopJobTask. A stop for a job this agent has not started
// (yet) leaves a record that refuses the job's start.
func (m *jobManager) stop(taskID string, st *pb.StopJobTask) {
	id := st.GetJobId()
	reason := st.GetReason()
	if reason == "" {
		reason = "stopped by ibexd"
	}
	m.mu.Lock()
	e := m.jobs[id]
	if e != nil {
		if r := e.rec.Results[taskID]; r != nil {
			m.mu.Unlock()
			m.a.deliver(r.proto(taskID))
			return
		}
	}
	if e == nil {
		e = &jobEntry{rec: jobRecord{JobID: id, TaskID: taskID, State: jobAccepted}}
		m.jobs[id] = e
	}
	if e.rec.Stopped == "" {
		e.rec.Stopped = reason
	}
	var err error
	switch {
	case e.rec.State == jobAccepted:
		err = m.set(e, jobRefused, 0, "cancelled before start: "+reason)
	case e.rec.Allocation && e.rec.State == jobRunning:
		// An allocation has no process whose end would say it ended:
		// the stop does, before its execs are killed.
		err = m.set(e, jobLost, 0, "killed: "+reason)
	}
	m.mu.Unlock()
	if err != nil {
		m.a.log.Error("cannot journal the stop", "job", id, "err", err)
	}
	go m.kill(e, taskID, st.GetClean(), reason)
}

// stopEvidence is a stop task's evidence (TaskResult.evidence_json).
type stopEvidence struct {
	JobID    uint64 `json:"job_id"`
	Clean    bool   `json:"clean,omitempty"`
	Evidence string `json:"evidence"`
}

// kill runs a stop: after any start in progress, so nothing it starts
// survives the stop.
func (m *jobManager) kill(e *jobEntry, taskID string, clean bool, reason string) {
	e.op.Lock()
	id := e.rec.JobID
	var res *savedResult
	switch {
	case m.run == nil:
		res = result(nil, stopEvidence{JobID: id, Clean: clean, Evidence: "this agent runs no jobs, so none of job's processes can exist"})
	case clean:
		ev, err := m.run.Clean(id, m.node)
		res = result(err, stopEvidence{JobID: id, Clean: true, Evidence: ev})
	default:
		err := m.run.Kill(id, m.node)
		res = result(err, stopEvidence{JobID: id, Evidence: fmt.Sprintf("job %d's processes on %s killed (%s)", id, m.node, reason)})
	}
	e.op.Unlock()
	if res.OK {
		m.mu.Lock()
		if e.rec.Results == nil {
			e.rec.Results = map[string]*savedResult{}
		}
		e.rec.Results[taskID] = res
		if err := m.journal.save(&e.rec); err != nil {
			m.a.log.Error("cannot journal the stop's result; sending it anyway", "job", id, "err", err)
		}
		m.mu.Unlock()
	}
	m.refresh(e, false)
	m.a.deliver(res.proto(taskID))
}

// output answers an OutputRequest with one OutputChunk. A negative offset
// asks for the last -offset bytes (the tail, as `ibex logs` once showed).
func (m *jobManager) output(taskID string, req *pb.OutputRequest) {
	go func() {
		select {
		case m.readers <- struct{}{}:
		case <-m.ctx.Done():
			return
		}
		c := m.readOutput(taskID, req)
		<-m.readers
		if !m.a.sendWait(&pb.AgentMessage{Msg: &pb.AgentMessage_Output{Output: c}}, outputSendWait) {
			m.a.log.Warn("output chunk dropped: no room on the stream; the server will ask again", "task", taskID)
		}
	}()
}

func (m *jobManager) readOutput(taskID string, req *pb.OutputRequest) *pb.OutputChunk {
	id := req.GetJobId()
	c := &pb.OutputChunk{TaskId: taskID, JobId: id}
	if m.run == nil {
		c.Error = "this agent runs no jobs"
		return c
	}
	max := int(req.GetMax())
	if max <= 0 || max > MaxOutputChunk {
		max = MaxOutputChunk
	}
	off, stream := req.GetOffset(), req.GetStream()
	if off < 0 {
		_, size, err := m.run.ReadStream(id, m.node, stream, 0, 0)
		if err != nil {
			c.Error = err.Error()
			return c
		}
		off = max64(0, size+off)
	}
	data, size, err := m.run.ReadStream(id, m.node, stream, off, max)
	if err != nil {
		c.Error = err.Error()
		return c
	}
	c.Offset, c.Data, c.Eof = off, data, off+int64(len(data)) >= size
	return c
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// watch polls the runner for the running jobs and resends reports that
// found no room, until ctx ends.
func (m *jobManager) watch(ctx context.Context) {
	poll := m.a.JobPoll
	if poll <= 0 {
		poll = jobPoll
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	lastPrune := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.wake:
		}
		m.mu.Lock()
		var running []*jobEntry
		for _, e := range m.jobs {
			if e.rec.State == jobRunning {
				running = append(running, e)
			}
			if e.unsent {
				m.sendReport(e)
			}
		}
		m.mu.Unlock()
		for _, e := range running {
			m.refresh(e, false)
		}
		if now := time.Now(); now.Sub(lastPrune) > time.Minute {
			lastPrune = now
			m.prune(now)
		}
	}
}

// refresh reads the runner's status of a running job (or, at adoption, of
// one that was starting) and records and reports a change.
func (m *jobManager) refresh(e *jobEntry, adopting bool) {
	m.mu.Lock()
	id, state := e.rec.JobID, e.rec.State
	m.mu.Unlock()
	if state != jobRunning && !(adopting && state == jobStarting) {
		return
	}
	m.mu.Lock()
	alloc := e.rec.Allocation
	m.mu.Unlock()
	if alloc {
		if state == jobStarting { // interrupted between journal and directory
			if err := m.run.Allocate(id, m.node); err == nil {
				m.mu.Lock()
				m.set(e, jobRunning, 0, "")
				m.mu.Unlock()
			}
		}
		return // an allocation runs until it is stopped
	}
	if m.run == nil {
		m.mu.Lock()
		m.set(e, jobLost, 0, "the agent restarted without a job runner; the job's processes cannot be watched")
		m.mu.Unlock()
		return
	}
	st, err := m.run.Status(id, m.node)
	if err != nil {
		m.a.log.Warn("job status", "job", id, "err", err)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e.rec.State != state {
		return // a stop or another refresh got there first
	}
	e.rec.CPUUsec, e.rec.MemoryPeakBytes, e.rec.OutputBytes = st.CPUUsec, st.MemoryPeakBytes, st.OutputBytes
	switch st.Phase {
	case localexec.Running:
		if state == jobStarting {
			m.set(e, jobRunning, 0, "")
		}
	case localexec.Exited:
		m.set(e, jobExited, st.ExitCode, "")
	case localexec.Lost:
		why := "the job's processes are gone and left no exit status"
		if e.rec.Stopped != "" {
			why = "killed: " + e.rec.Stopped
		}
		m.set(e, jobLost, 0, why)
	case localexec.NotStarted:
		why := "the runner has no trace of the job's process"
		if state == jobStarting {
			why = "the agent stopped while starting the job and found no process after its restart; a job is never started twice"
		}
		m.set(e, jobLost, 0, why)
	}
}

// set changes a job's state, journals it and reports it. m.mu is held.
// The change stays in memory even if the journal write fails (the error
// is returned and logged): the report must still say what happened.
func (m *jobManager) set(e *jobEntry, s jobState, code int, reason string) error {
	e.rec.State, e.rec.ExitCode, e.rec.Reason, e.rec.Updated = s, code, reason, time.Now()
	err := m.journal.save(&e.rec)
	if err != nil {
		m.a.log.Error("cannot journal the job's state", "job", e.rec.JobID, "state", s, "err", err)
	}
	m.reportChange(e)
	return err
}

// sendReport offers e's report to the stream. m.mu is held, so reports
// of one job reach the stream in the order of its changes.
func (m *jobManager) sendReport(e *jobEntry) {
	r := e.rec.report()
	e.unsent = !m.a.offer(jobMsg(r))
	if !e.unsent {
		e.offered = r
	}
}

func jobMsg(r *pb.JobReport) *pb.AgentMessage {
	return &pb.AgentMessage{Msg: &pb.AgentMessage_Job{Job: r}}
}

func (r *jobRecord) report() *pb.JobReport {
	out := &pb.JobReport{JobId: r.JobID, ExitCode: int32(r.ExitCode), Reason: r.Reason,
		CpuUsec: r.CPUUsec, MemoryPeakBytes: r.MemoryPeakBytes, OutputBytes: r.OutputBytes}
	switch r.State {
	case jobAccepted, jobStarting:
		out.Phase = PhaseStarting
	case jobRunning:
		out.Phase = PhaseRunning
	case jobExited:
		out.Phase = PhaseExited
	case jobLost:
		out.Phase = PhaseLost
	default:
		out.Phase = PhaseRefused
	}
	return out
}

// reports lists every journalled job for the Hello, which also delivers
// any report still unsent.
func (m *jobManager) reports() []*pb.JobReport {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*pb.JobReport, 0, len(m.jobs))
	for _, e := range m.jobs {
		out = append(out, e.rec.report())
		e.unsent = false
	}
	slices.SortFunc(out, func(a, b *pb.JobReport) int {
		switch {
		case a.JobId < b.JobId:
			return -1
		case a.JobId > b.JobId:
			return 1
		}
		return 0
	})
	return out
}

// prune forgets ended jobs older than jobKeep, and the oldest ended ones
// beyond maxJobRecords. Running jobs are always kept.
func (m *jobManager) prune(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ended []*jobEntry
	for _, e := range m.jobs {
		if e.rec.State.ended() {
			ended = append(ended, e)
		}
	}
	slices.SortFunc(ended, func(a, b *jobEntry) int { return a.rec.Updated.Compare(b.rec.Updated) })
	excess := len(m.jobs) - maxJobRecords
	for _, e := range ended {
		if now.Sub(e.rec.Updated) < jobKeep && excess <= 0 {
			break
		}
		if err := m.journal.remove(e.rec.JobID); err != nil {
			m.a.log.Warn("job journal: prune", "job", e.rec.JobID, "err", err)
			continue
		}
		delete(m.jobs, e.rec.JobID)
		excess--
	}
}
