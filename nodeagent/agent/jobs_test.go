package agent

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/nodeagent/localexec"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

const testNode = "node001"

// jobConn is a fakeConn that keeps the messages a wait skipped, so a test
// can wait for them in any order.
type jobConn struct {
	*fakeConn
	backlog []*pb.AgentMessage
}

func (c *jobConn) await(t *testing.T, what string, match func(*pb.AgentMessage) bool) *pb.AgentMessage {
	t.Helper()
	for i, m := range c.backlog {
		if match(m) {
			c.backlog = append(c.backlog[:i], c.backlog[i+1:]...)
			return m
		}
	}
	timeout := time.After(20 * time.Second)
	for {
		select {
		case m := <-c.msgs:
			if match(m) {
				return m
			}
			c.backlog = append(c.backlog, m)
		case <-timeout:
			t.Fatalf("no %s within 20s; got %v", what, c.backlog)
			return nil
		}
	}
}

// report waits for job's report in phase.
func (c *jobConn) report(t *testing.T, job uint64, phase string) *pb.JobReport {
	t.Helper()
	return c.await(t, fmt.Sprintf("report %q of job %d", phase, job), func(m *pb.AgentMessage) bool {
		r := m.GetJob()
		return r != nil && r.GetJobId() == job && r.GetPhase() == phase
	}).GetJob()
}

// taskResult waits for the result of task id.
func (c *jobConn) taskResult(t *testing.T, id string) *pb.TaskResult {
	t.Helper()
	return c.await(t, "result of "+id, func(m *pb.AgentMessage) bool { return m.GetResult().GetId() == id }).GetResult()
}

// chunk waits for the output chunk of task id.
func (c *jobConn) chunk(t *testing.T, id string) *pb.OutputChunk {
	t.Helper()
	return c.await(t, "output of "+id, func(m *pb.AgentMessage) bool { return m.GetOutput().GetTaskId() == id }).GetOutput()
}

func jobTask(job, term uint64, script string, pkey uint32) *pb.AgentTask {
	return &pb.AgentTask{Id: fmt.Sprintf("job/%d/%s", job, testNode), Term: term,
		Kind: &pb.AgentTask_Job{Job: &pb.JobTask{JobId: job, Tenant: "alice", Nodes: []string{testNode}, Script: script, Pkey: pkey}}}
}

func stopTask(job, term uint64, clean bool) *pb.AgentTask {
	prefix := "stop"
	if clean {
		prefix = "clean"
	}
	return &pb.AgentTask{Id: fmt.Sprintf("%s/%d/%s", prefix, job, testNode), Term: term,
		Kind: &pb.AgentTask_StopJob{StopJob: &pb.StopJobTask{JobId: job, Reason: "cancelled by alice", Clean: clean}}}
}

// fakePKeys is an HCA P_Key table the test fills.
type fakePKeys struct {
	mu   sync.Mutex
	keys map[uint16]bool
}

func (f *fakePKeys) add(k uint16) {
	f.mu.Lock()
	f.keys[k] = true
	f.mu.Unlock()
}

func (f *fakePKeys) HasPKey(k uint16) (bool, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var have []string
	for h := range f.keys {
		have = append(have, fmt.Sprintf("%#04x", h))
	}
	return f.keys[k&0x7fff], "table holds " + strings.Join(have, " "), nil
}

// jobsEnv is a test agent environment with a job runner whose root lies
// outside the data dir, and a scratch dir for the scripts' witnesses.
type jobsEnv struct {
	*testEnv
	jobRoot, scratch string
	pkeys            *fakePKeys
}

func newJobsEnv(t *testing.T) *jobsEnv {
	dir := t.TempDir()
	return &jobsEnv{testEnv: newTestEnv(t), jobRoot: filepath.Join(dir, "jobs"), scratch: dir, pkeys: &fakePKeys{keys: map[uint16]bool{}}}
}

// setup gives an agent the job runner and the P_Key table.
func (e *jobsEnv) setup(t *testing.T) func(*Agent) {
	return func(a *Agent) {
		r, err := localexec.New(e.jobRoot)
		if err != nil {
			t.Fatal(err)
		}
		a.Jobs, a.PKeys, a.PKeyWait = r, e.pkeys, 500*time.Millisecond
	}
}

// start enrols and starts an agent; restart (after stop) starts a new
// agent on the same data dir and job root, as after a crash.
func (e *jobsEnv) start(t *testing.T) (*fakeServer, *jobConn, func()) {
	fs, c, stop := enrolled(t, e.testEnv, e.setup(t))
	return fs, &jobConn{fakeConn: c}, stop
}

func (e *jobsEnv) restart(t *testing.T, fs *fakeServer) (*jobConn, func()) {
	a := e.agent(t, []string{fs.addr}, "", "")
	e.setup(t)(a)
	stop := run(t, a)
	return &jobConn{fakeConn: fs.nextConn(t)}, stop
}

// countScript appends a line to a witness file per start, then waits for
// release (if set) and exits with code.
func (e *jobsEnv) countScript(name, release string, code int) (script, witness string) {
	witness = filepath.Join(e.scratch, name+".starts")
	script = fmt.Sprintf("echo started >> %s\n", witness)
	if release != "" {
		script += fmt.Sprintf("while [ ! -e %s ]; do sleep 0.02; done\n", filepath.Join(e.scratch, release))
	}
	return script + fmt.Sprintf("echo done\nexit %d\n", code), witness
}

func (e *jobsEnv) release(t *testing.T, name string) {
	if err := os.WriteFile(filepath.Join(e.scratch, name), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

func starts(t *testing.T, witness string) int {
	t.Helper()
	b, err := os.ReadFile(witness)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("started\n"))
}

// TestJobRunsAndReports: a job task starts the script; the agent reports
// starting, running and the exit code.
func TestJobRunsAndReports(t *testing.T) {
	e := newJobsEnv(t)
	_, c, _ := e.start(t)
	script, witness := e.countScript("one", "", 3)
	c.send <- jobTask(1, 1, script, 0)
	c.report(t, 1, PhaseStarting)
	if r := c.report(t, 1, PhaseExited); r.GetExitCode() != 3 {
		t.Fatalf("exit code %d, want 3", r.GetExitCode())
	}
	if n := starts(t, witness); n != 1 {
		t.Fatalf("started %d times", n)
	}
}

// TestLowerTermRefused: once a term is seen, a task of a lower term (or
// of no term) is refused and nothing starts, also after a restart.
func TestLowerTermRefused(t *testing.T) {
	e := newJobsEnv(t)
	fs, c, stop := e.start(t)
	c.send <- &pb.AgentTask{Term: 5} // a new leader announces itself
	script, witness := e.countScript("stale", "", 0)
	c.send <- jobTask(1, 4, script, 0)
	if r := c.report(t, 1, PhaseRefused); !strings.Contains(r.GetReason(), "stale leader term 4 < 5") {
		t.Fatalf("reason %q", r.GetReason())
	}
	c.send <- stopTask(2, 3, true)
	if r := c.taskResult(t, "clean/2/"+testNode); r.GetOk() || !strings.Contains(r.GetError(), "stale leader term 3 < 5") {
		t.Fatalf("stale stop: %+v", r)
	}
	erase := &pb.AgentTask{Id: "node001/1/erase/1", Term: 4, Kind: &pb.AgentTask_Erase{Erase: &pb.EraseTask{}}}
	c.send <- erase
	if r := c.taskResult(t, erase.Id); r.GetOk() || !strings.Contains(r.GetError(), "stale leader term 4 < 5") {
		t.Fatalf("stale hygiene task: %+v", r)
	}
	c.send <- jobTask(3, 0, script, 0)
	if r := c.report(t, 3, PhaseRefused); !strings.Contains(r.GetReason(), "carries no term") {
		t.Fatalf("term 0 after term 5: %q", r.GetReason())
	}
	stop()

	c, _ = e.restart(t, fs)
	if c.hello.GetTerm() != 5 {
		t.Fatalf("hello term %d after restart, want 5", c.hello.GetTerm())
	}
	c.send <- jobTask(1, 4, script, 0)
	c.report(t, 1, PhaseRefused)
	// The refusals were not journalled: the real leader's task still runs.
	c.send <- jobTask(1, 5, script, 0)
	c.report(t, 1, PhaseExited)
	if n := starts(t, witness); n != 1 {
		t.Fatalf("started %d times, want once (by the term-5 task)", n)
	}
}

// TestSameJobStartsOnce: a job task resent on the stream, resent by a new
// leader under another id and a higher term, and resent after a restart
// starts the job once; each resend gets the job's current report.
func TestSameJobStartsOnce(t *testing.T) {
	e := newJobsEnv(t)
	fs, c, stop := e.start(t)
	script, witness := e.countScript("twice", "go", 0)
	c.send <- jobTask(7, 1, script, 0)
	c.send <- jobTask(7, 1, script, 0)
	c.report(t, 7, PhaseRunning)
	again := jobTask(7, 2, script, 0)
	again.Id = "job/7/node001/leader-2"
	c.send <- again
	c.report(t, 7, PhaseRunning)
	stop()

	c, _ = e.restart(t, fs)
	c.send <- jobTask(7, 3, script, 0)
	c.report(t, 7, PhaseRunning)
	e.release(t, "go")
	c.report(t, 7, PhaseExited)
	// The runner's own files also stop a second start while they exist;
	// the journal must hold after the job's directory is cleaned away.
	if err := os.RemoveAll(filepath.Join(e.jobRoot, "job-7")); err != nil {
		t.Fatal(err)
	}
	c.send <- jobTask(7, 3, script, 0)
	c.report(t, 7, PhaseExited)
	if n := starts(t, witness); n != 1 {
		t.Fatalf("started %d times, want 1", n)
	}
}

// TestStopBeforeStartRefusesStart: a stop that overtook its job's start
// (the cancel raced the launch) makes the later start refused.
func TestStopBeforeStartRefusesStart(t *testing.T) {
	e := newJobsEnv(t)
	_, c, _ := e.start(t)
	c.send <- stopTask(9, 1, false)
	if r := c.taskResult(t, "stop/9/"+testNode); !r.GetOk() {
		t.Fatalf("stop of a job not started: %+v", r)
	}
	script, witness := e.countScript("late", "", 0)
	c.send <- jobTask(9, 1, script, 0)
	if r := c.report(t, 9, PhaseRefused); !strings.Contains(r.GetReason(), "cancelled before start") {
		t.Fatalf("reason %q", r.GetReason())
	}
	time.Sleep(200 * time.Millisecond) // a wrongly started script would have run by now
	if n := starts(t, witness); n != 0 {
		t.Fatalf("a job cancelled before its start started %d times", n)
	}
}

// TestStopDuringPKeyWait: a stop during the wait for the partition key
// keeps the job from ever starting.
func TestStopDuringPKeyWait(t *testing.T) {
	e := newJobsEnv(t)
	_, c, _ := e.start(t)
	script, witness := e.countScript("waiting", "", 0)
	c.send <- jobTask(4, 1, script, 0x8005)
	c.report(t, 4, PhaseStarting)
	c.send <- stopTask(4, 1, true)
	r := c.taskResult(t, "clean/4/"+testNode)
	if !r.GetOk() || !strings.Contains(r.GetEvidenceJson(), "never started") {
		t.Fatalf("clean: %+v", r)
	}
	c.report(t, 4, PhaseRefused)
	e.pkeys.add(0x0005)
	time.Sleep(200 * time.Millisecond)
	if n := starts(t, witness); n != 0 {
		t.Fatalf("started %d times after the stop", n)
	}
}

// TestPKeyMissingRefused: a job whose key is not (and does not become)
// in the HCA's table is refused with the reason; one whose key appears
// during the wait starts; without a table reader a keyed job is refused.
func TestPKeyMissingRefused(t *testing.T) {
	e := newJobsEnv(t)
	e.pkeys.add(0x7fff)
	_, c, _ := e.start(t)
	script, witness := e.countScript("keyed", "", 0)
	c.send <- jobTask(1, 1, script, 0x8001)
	r := c.report(t, 1, PhaseRefused)
	for _, w := range []string{"partition key 0x8001 is not in the HCA P_Key table of node001", "table holds 0x7fff"} {
		if !strings.Contains(r.GetReason(), w) {
			t.Fatalf("reason %q lacks %q", r.GetReason(), w)
		}
	}
	if n := starts(t, witness); n != 0 {
		t.Fatalf("started %d times without its key", n)
	}

	c.send <- jobTask(2, 1, script, 0x8002)
	c.report(t, 2, PhaseStarting)
	e.pkeys.add(0x0002)
	c.report(t, 2, PhaseExited)

	e2 := newJobsEnv(t)
	_, c2, _ := enrolled(t, e2.testEnv, func(a *Agent) { e2.setup(t)(a); a.PKeys = nil })
	jc := &jobConn{fakeConn: c2}
	jc.send <- jobTask(1, 1, script, 0x8001)
	// Without a PKeys of its own the agent reads sysfs under SysfsRoot,
	// whose fixture ports have no partition tables.
	if r := jc.report(t, 1, PhaseRefused); !strings.Contains(r.GetReason(), "P_Key 0x0001 missing on") {
		t.Fatalf("reason %q", r.GetReason())
	}
}

// TestRestartAdoptsJobs: jobs survive an agent restart; the restarted
// agent's Hello reports the one that exited while it was down (with its
// code) and the one still running, whose later exit it reports too.
func TestRestartAdoptsJobs(t *testing.T) {
	e := newJobsEnv(t)
	fs, c, stop := e.start(t)
	sa, _ := e.countScript("a", "a.go", 4)
	sb, wb := e.countScript("b", "b.go", 5)
	c.send <- jobTask(1, 1, sa, 0)
	c.send <- jobTask(2, 1, sb, 0)
	c.report(t, 1, PhaseRunning)
	c.report(t, 2, PhaseRunning)
	stop()

	e.release(t, "a.go")
	r, err := localexec.New(e.jobRoot)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if st, _ := r.Status(1, testNode); st.Phase == localexec.Exited {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("job 1 did not exit while the agent was down")
		}
	}

	c, _ = e.restart(t, fs)
	got := map[uint64]*pb.JobReport{}
	for _, j := range c.hello.GetJobs() {
		got[j.GetJobId()] = j
	}
	if j := got[1]; j.GetPhase() != PhaseExited || j.GetExitCode() != 4 {
		t.Fatalf("hello: job 1 %v, want exited 4", j)
	}
	if j := got[2]; j.GetPhase() != PhaseRunning {
		t.Fatalf("hello: job 2 %v, want running", j)
	}
	e.release(t, "b.go")
	if r := c.report(t, 2, PhaseExited); r.GetExitCode() != 5 {
		t.Fatalf("job 2 exit %d", r.GetExitCode())
	}
	if n := starts(t, wb); n != 1 {
		t.Fatalf("job 2 started %d times", n)
	}
}

// TestRestartSettlesInterruptedStarts: a journal left in "accepted" (the
// agent died waiting for the key) or "starting" with no process (it died
// before the runner started anything) is never started late: refused or
// lost, with the reason.
func TestRestartSettlesInterruptedStarts(t *testing.T) {
	e := newJobsEnv(t)
	fs, _, stop := e.start(t)
	stop()
	journal, _, _, err := openJobJournal(e.dataDir, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range []*jobRecord{
		{JobID: 1, TaskID: "job/1/node001", Term: 1, State: jobAccepted, Updated: time.Now()},
		{JobID: 2, TaskID: "job/2/node001", Term: 1, State: jobStarting, Updated: time.Now()},
	} {
		if err := journal.save(rec); err != nil {
			t.Fatal(err)
		}
	}
	c, _ := e.restart(t, fs)
	got := map[uint64]*pb.JobReport{}
	for _, j := range c.hello.GetJobs() {
		got[j.GetJobId()] = j
	}
	if j := got[1]; j.GetPhase() != PhaseRefused || !strings.Contains(j.GetReason(), "restarted before the job started") {
		t.Fatalf("accepted job after restart: %v", j)
	}
	if j := got[2]; j.GetPhase() != PhaseLost || !strings.Contains(j.GetReason(), "never started twice") {
		t.Fatalf("starting job after restart: %v", j)
	}
	script, witness := e.countScript("late", "", 0)
	c.send <- jobTask(1, 1, script, 0)
	c.report(t, 1, PhaseRefused)
	if n := starts(t, witness); n != 0 {
		t.Fatalf("started %d times", n)
	}
}

// TestStopKillsAndCleans: a stop kills a running job (reported lost with
// the stop's reason); a clean confirms nothing is left, and its resend
// gets the same evidence.
func TestStopKillsAndCleans(t *testing.T) {
	e := newJobsEnv(t)
	_, c, _ := e.start(t)
	c.send <- jobTask(3, 1, "sleep 300 & sleep 300\n", 0)
	c.report(t, 3, PhaseRunning)
	c.send <- stopTask(3, 1, false)
	if r := c.taskResult(t, "stop/3/"+testNode); !r.GetOk() {
		t.Fatalf("stop: %+v", r)
	}
	if r := c.report(t, 3, PhaseLost); !strings.Contains(r.GetReason(), "killed: cancelled by alice") {
		t.Fatalf("reason %q", r.GetReason())
	}
	c.send <- stopTask(3, 1, true)
	r := c.taskResult(t, "clean/3/"+testNode)
	if !r.GetOk() || !strings.Contains(r.GetEvidenceJson(), "none left") {
		t.Fatalf("clean: %+v", r)
	}
	again := stopTask(3, 2, true)
	c.send <- again
	if r2 := c.taskResult(t, again.Id); r2.GetEvidenceJson() != r.GetEvidenceJson() {
		t.Fatalf("resent clean: %q, want the stored %q", r2.GetEvidenceJson(), r.GetEvidenceJson())
	}
}

// TestOutputChunks: output is read in chunks of at most MaxOutputChunk,
// from an offset or from the end, with eof at the end.
func TestOutputChunks(t *testing.T) {
	e := newJobsEnv(t)
	_, c, _ := e.start(t)
	c.send <- jobTask(5, 1, "head -c 3000000 /dev/zero | tr '\\0' x\n", 0)
	c.report(t, 5, PhaseExited)
	read := func(id string, off int64, max int32) *pb.OutputChunk {
		c.send <- &pb.AgentTask{Id: id, Kind: &pb.AgentTask_Output{Output: &pb.OutputRequest{JobId: 5, Offset: off, Max: max}}}
		ch := c.chunk(t, id)
		if ch.GetError() != "" {
			t.Fatalf("%s: %s", id, ch.GetError())
		}
		return ch
	}
	if ch := read("o1", 0, 8<<20); len(ch.GetData()) != MaxOutputChunk || ch.GetEof() {
		t.Fatalf("first chunk %d bytes eof %v, want %d and more to come", len(ch.GetData()), ch.GetEof(), MaxOutputChunk)
	}
	if ch := read("o2", 2999990, 100); len(ch.GetData()) != 10 || !ch.GetEof() || ch.GetOffset() != 2999990 {
		t.Fatalf("last chunk %d bytes at %d eof %v", len(ch.GetData()), ch.GetOffset(), ch.GetEof())
	}
	if ch := read("o3", -5, 100); len(ch.GetData()) != 5 || ch.GetOffset() != 2999995 || !ch.GetEof() {
		t.Fatalf("tail %d bytes at %d", len(ch.GetData()), ch.GetOffset())
	}
	if ch := read("o4", 5000000, 100); len(ch.GetData()) != 0 || !ch.GetEof() {
		t.Fatalf("beyond the end: %d bytes eof %v", len(ch.GetData()), ch.GetEof())
	}
}

// TestJobRootInsideDataDirRefused: a job root that would let jobs reach
// the node key stops the agent at start.
func TestJobRootInsideDataDirRefused(t *testing.T) {
	env := newTestEnv(t)
	a := env.agent(t, []string{"127.0.0.1:1"}, "x", "sha256:"+strings.Repeat("0", 64))
	r, err := localexec.New(filepath.Join(env.dataDir, "jobs"))
	if err != nil {
		t.Fatal(err)
	}
	a.Jobs = r
	if err := a.init(); err == nil || !strings.Contains(err.Error(), "overlap") {
		t.Fatalf("init: %v, want the overlap refused", err)
	}
}

func FuzzParseJobRecord(f *testing.F) {
	f.Add(uint64(1), []byte(`{"job_id":1,"state":"running","updated":"2026-01-01T00:00:00Z"}`))
	f.Add(uint64(2), []byte(`{"job_id":2,"state":"exited","exit_code":3,"results":{"clean/2/n":{"ok":true}}}`))
	f.Add(uint64(3), []byte(`{"job_id":3,"state":"weird"}`))
	f.Fuzz(func(t *testing.T, id uint64, b []byte) {
		rec, err := parseJobRecord(id, b)
		if err != nil {
			return
		}
		if rec.JobID != id || !rec.State.valid() {
			t.Fatalf("accepted %+v for job %d", rec, id)
		}
		_ = rec.report()
	})
}

func FuzzParseTerm(f *testing.F) {
	f.Add([]byte("5\n"))
	f.Add([]byte("18446744073709551615"))
	f.Add([]byte("-1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseTerm(b)
		if err == nil && len(b) > maxTermFile {
			t.Fatalf("accepted %d bytes as term %d", len(b), v)
		}
	})
}

// TestAllocationRunsUntilStopped: a job task with nothing to run makes the
// job's directory here and runs until stopped; execs into it are allowed
// while it runs and refused after.
func TestAllocationRunsUntilStopped(t *testing.T) {
	e := newJobsEnv(t)
	_, c, _ := e.start(t)
	c.send <- jobTask(9, 1, "", 0)
	c.report(t, 9, PhaseRunning)
	x := execTask("in-alloc", 9, 1, "sh", "-c", "echo inside $IBEX_JOB_ID")
	x.GetExec().Nodes, x.GetExec().NodeIndex = []string{testNode}, 0
	c.send <- x
	out, _, final := c.execEvents(t, "in-alloc", false)
	if final.GetError() != "" || final.GetExitCode() != 0 || !strings.Contains(out, "inside 9") {
		t.Fatalf("exec into the allocation: %q, %v", out, final)
	}
	c.send <- stopTask(9, 1, false)
	c.taskResult(t, "stop/9/"+testNode)
	y := execTask("after-stop", 9, 1, "true")
	y.GetExec().Nodes, y.GetExec().NodeIndex = []string{testNode}, 0
	c.send <- y
	if _, _, final := c.execEvents(t, "after-stop", false); final.GetError() == "" {
		t.Fatalf("exec into a stopped allocation started: %v", final)
	}
}

// A job's start reports "starting" once: the accept and the start are the
// same phase to the server, and a second identical report is only another
// message ahead of the job's end.
func TestJobStartReportedOnce(t *testing.T) {
	e := newJobsEnv(t)
	_, c, _ := e.start(t)
	script, _ := e.countScript("once", "", 0)
	c.send <- jobTask(1, 1, script, 0)
	c.report(t, 1, PhaseExited) // every report before it is in the backlog
	starting := 0
	for _, m := range c.backlog {
		if r := m.GetJob(); r.GetJobId() == 1 && r.GetPhase() == PhaseStarting {
			starting++
		}
	}
	if starting != 1 {
		t.Fatalf("%d starting reports of job 1, want 1; got %v", starting, c.backlog)
	}
}

// TestDamagedJournalRefusesJobsBelowItsFloor: after the job journal was
// found damaged, a job at or below the highest id it named, that the agent
// has no record of, is refused rather than started (its record may be the
// damaged one); a newer job starts.
func TestDamagedJournalRefusesJobsBelowItsFloor(t *testing.T) {
	e := newJobsEnv(t)
	fs, _, stop := e.start(t)
	stop()
	journal, _, _, err := openJobJournal(e.dataDir, false)
	if err != nil {
		t.Fatal(err)
	}
	mustJ(t, journal.save(&jobRecord{JobID: 20, State: jobExited, Updated: time.Now()}))
	b, _ := os.ReadFile(filepath.Join(e.dataDir, jobJournalFile))
	b = append(b, appendRecord(nil, []byte(`7 {"job_id":7,"state":"running"}`))...)
	b[len(b)-5] ^= 0x20 // job 7's record, damaged
	b = append(b, appendRecord(nil, []byte(`21 {"job_id":21,"state":"exited"}`))...)
	os.WriteFile(filepath.Join(e.dataDir, jobJournalFile), b, 0o600)

	c, _ := e.restart(t, fs)
	script, witness := e.countScript("old", "", 0)
	c.send <- jobTask(12, 1, script, 0)
	if r := c.report(t, 12, PhaseRefused); !strings.Contains(r.GetReason(), "journal was damaged") {
		t.Fatalf("job 12 refused with %q", r.GetReason())
	}
	if n := starts(t, witness); n != 0 {
		t.Fatalf("job 12 started %d times", n)
	}
	c.send <- jobTask(22, 1, "true\n", 0)
	c.report(t, 22, PhaseRunning)
}
