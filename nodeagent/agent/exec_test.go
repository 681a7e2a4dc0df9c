package agent

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/nodeagent/localexec"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// withJobs gives the agent a job runner over a fresh directory, with the
// given (interactive) jobs present on the node.
func withJobs(t *testing.T, jobs ...uint64) (*localexec.Runner, func(*Agent)) {
	t.Helper()
	r, err := localexec.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range jobs {
		if err := os.MkdirAll(r.JobDir(id), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return r, func(a *Agent) { a.Jobs = r }
}

func execTask(id string, job uint64, term uint64, argv ...string) *pb.AgentTask {
	return &pb.AgentTask{Id: id, Term: term, Kind: &pb.AgentTask_Exec{Exec: &pb.ExecTask{
		JobId: job, Nodes: []string{"node000", "node001"}, NodeIndex: 1, Argv: argv, Env: []string{"GREETING=hello"}}}}
}

// execEvents reads exec id's events until its final one, or until the
// next output event when untilOutput is set.
func (c *fakeConn) execEvents(t *testing.T, id string, untilOutput bool) (stdout, stderr string, final *pb.ExecEvent) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case m := <-c.msgs:
			ev := m.GetExec()
			if ev == nil {
				continue
			}
			if ev.GetExecId() != id {
				t.Fatalf("event for exec %q, want %q: %v", ev.GetExecId(), id, ev)
			}
			if len(ev.Stdout) > 64<<10 || len(ev.Stderr) > 64<<10 {
				t.Fatalf("an event of %d+%d bytes", len(ev.Stdout), len(ev.Stderr))
			}
			stdout += string(ev.Stdout)
			stderr += string(ev.Stderr)
			if ev.Done {
				return stdout, stderr, ev
			}
			if untilOutput && stdout != "" {
				return stdout, stderr, nil
			}
		case <-timeout:
			t.Fatalf("exec %s: no final event within 20s (stdout %q)", id, stdout)
		}
	}
}

func TestExecStreamsOutputAndExitCode(t *testing.T) {
	env := newTestEnv(t)
	jobs, setup := withJobs(t, 7)
	_, c, _ := enrolled(t, env, setup)
	c.send <- execTask("exec-1", 7, 1, "/bin/sh", "-c", `echo "$GREETING from $IBEX_NODENAME in $PWD"; echo warn >&2; head -c 300000 /dev/zero; exit 3`)
	out, errs, final := c.execEvents(t, "exec-1", false)
	want := "hello from node001 in " + jobs.JobDir(7) + "\n" + strings.Repeat("\x00", 300000)
	if out != want || errs != "warn\n" {
		t.Fatalf("stdout %d bytes (want %d), stderr %q", len(out), len(want), errs)
	}
	if final.ExitCode != 3 || final.Signal != "" || final.Error != "" || final.Reason != "" {
		t.Fatalf("final event %v", final)
	}
	// The output is the job's too, its stderr apart.
	if log, _, _ := jobs.ReadStream(7, "node001", "stderr", 0, 1<<20); string(log) != "warn\n" {
		t.Fatalf("node stderr file %q", log)
	}
}

func TestExecSignalKills(t *testing.T) {
	env := newTestEnv(t)
	_, setup := withJobs(t, 7)
	_, c, _ := enrolled(t, env, setup)
	c.send <- execTask("exec-2", 7, 1, "/bin/sh", "-c", "echo up; exec sleep 300")
	if out, _, _ := c.execEvents(t, "exec-2", true); out != "up\n" {
		t.Fatalf("first output %q", out)
	}
	c.send <- &pb.AgentTask{Id: "exec-2.kill", Term: 1, Kind: &pb.AgentTask_ExecSignal{ExecSignal: &pb.ExecSignal{ExecId: "exec-2"}}}
	_, _, final := c.execEvents(t, "exec-2", false)
	if final.Signal != "killed" || final.ExitCode != 137 || final.Reason != "killed by ibex" {
		t.Fatalf("final event %v", final)
	}
}

func TestExecRefused(t *testing.T) {
	env := newTestEnv(t)
	_, setup := withJobs(t, 7)
	_, c, _ := enrolled(t, env, setup)
	for _, tc := range []struct {
		task *pb.AgentTask
		want string
	}{
		{execTask("unknown-job", 8, 5, "true"), "node node001 does not run job 8"},
		{func() *pb.AgentTask {
			t := execTask("other-node", 7, 5, "true")
			t.GetExec().NodeIndex = 0
			return t
		}(), "exec for node node000 reached the agent of node001"},
		{execTask("bad-env", 7, 5, "true"), ""}, // term 5 is now the highest
		{execTask("old-term", 7, 4, "true"), "stale leader term 4 < 5"},
	} {
		if tc.task.GetId() == "bad-env" {
			tc.task.GetExec().Env = []string{"NOEQUALS"}
			tc.want = "not KEY=VALUE"
		}
		c.send <- tc.task
		out, _, final := c.execEvents(t, tc.task.GetId(), false)
		if out != "" || final.ExitCode != 255 || !strings.Contains(final.Error, tc.want) {
			t.Errorf("%s: output %q, final %v; want an error with %q", tc.task.GetId(), out, final, tc.want)
		}
	}
}

func TestExecWithoutJobRunnerRefused(t *testing.T) {
	env := newTestEnv(t)
	_, c, _ := enrolled(t, env, nil)
	c.send <- execTask("e", 7, 0, "true")
	if _, _, final := c.execEvents(t, "e", false); !strings.Contains(final.Error, "runs no jobs") {
		t.Fatalf("final %v", final)
	}
}

// TestExecNotQueuedBehindHygiene: an exec runs while a hygiene task (an
// image write stalled on its download) holds the task queue.
func TestExecNotQueuedBehindHygiene(t *testing.T) {
	env := newTestEnv(t)
	content := randomBytes(t, 1<<20)
	srv := newImageServer(t, content, 4<<10, time.Hour) // never finishes
	_, setup := withJobs(t, 7)
	_, c, _ := enrolled(t, env, setup)
	c.send <- imageTask("img-stuck", srv, content)
	deadline := time.Now().Add(10 * time.Second)
	for srv.sent.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if srv.sent.Load() == 0 {
		t.Fatal("the image task did not start")
	}
	c.send <- execTask("beside", 7, 0, "echo", "ran")
	if out, _, final := c.execEvents(t, "beside", false); out != "ran\n" || final.ExitCode != 0 {
		t.Fatalf("output %q, final %v", out, final)
	}
}

// TestExecDiesWithItsStream: when the stream that started an exec ends,
// nobody can receive its output or stop it, so the agent kills it.
func TestExecDiesWithItsStream(t *testing.T) {
	env := newTestEnv(t)
	jobs, setup := withJobs(t, 7)
	fs, c, _ := enrolled(t, env, setup)
	pidFile := jobs.JobDir(7) + "/sleeper.pid"
	c.send <- execTask("orphan", 7, 0, "/bin/sh", "-c", "echo $$ > "+pidFile+"; echo up; exec sleep 300")
	if out, _, _ := c.execEvents(t, "orphan", true); out != "up\n" {
		t.Fatalf("first output %q", out)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	close(c.drop)
	fs.nextConn(t) // the agent reconnects only after its execs are gone
	if _, err := os.Stat("/proc/" + strings.TrimSpace(string(b))); err == nil {
		if st, _ := os.ReadFile("/proc/" + strings.TrimSpace(string(b)) + "/stat"); !strings.Contains(string(st), ") Z") {
			t.Fatalf("exec'd process %s survived its stream", b)
		}
	}
}
