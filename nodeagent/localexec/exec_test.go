package localexec

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/internal/execrun"
)

func TestExecStreamsOutputWithJobEnvironment(t *testing.T) {
	r, _ := New(t.TempDir())
	var out, errb execrun.Buffer
	p, err := r.StartExec(ExecTask{JobID: 4, Node: "node002", NodeIndex: 1, Nodes: []string{"node001", "node002"},
		Launch: Launch{TasksPerNode: 2, IbexBinary: "/opt/ibex/bin/ibex"},
		Argv:   []string{"/bin/sh", "-c", `echo "$IBEX_NODENAME $IBEX_NODEID $IBEX_TASKS_PER_NODE $IBEX_NTASKS $IBEX_NODELIST $PWD"; cat "$IBEX_HOSTFILE_OPENMPI" "$IBEX_HOSTFILE_MPICH"; echo oops >&2; exit 4`},
	}, &out, &errb)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Wait()
	if err != nil || res.ExitCode != 4 || res.Signal != 0 || res.ByIbex {
		t.Fatalf("result %+v, %v", res, err)
	}
	want := "node002 1 2 4 node[001-002] " + r.JobDir(4) + "\nnode001 slots=2\nnode002 slots=2\nnode001:2\nnode002:2\n"
	if out.String() != want || errb.String() != "oops\n" {
		t.Fatalf("stdout %q, stderr %q; want stdout %q", out.String(), errb.String(), want)
	}
	// The job's output keeps the exec's, stdout and stderr apart.
	if log, _ := r.Output(4, "node002", 1<<20); strings.Contains(string(log), "oops") || !strings.Contains(string(log), "node002 slots=2") {
		t.Fatalf("the job's stdout lacks the exec's: %q", log)
	}
	if log, _, _ := r.ReadStream(4, "node002", StreamStderr, 0, 1<<20); string(log) != "oops\n" {
		t.Fatalf("the job's stderr is %q, want the exec's", log)
	}
	if len(r.execGroups(4, "node002", allExecs...)) != 1 || len(r.PendingExecs(4, []string{"node002"})) != 1 {
		t.Fatal("the exec is not pending between Wait and Close")
	}
	if l := p.Close(); len(l) != 0 {
		t.Fatalf("lingering %v", l)
	}
	if left := r.execGroups(4, "node002", allExecs...); len(left) != 0 {
		t.Fatalf("pid files left after a clean exit: %v", left)
	}
	agent, err := os.ReadFile(filepath.Join(r.JobDir(4), "ibex-exec-agent"))
	if err != nil || !strings.Contains(string(agent), `exec '/opt/ibex/bin/ibex' exec --agent -- "$@"`) {
		t.Fatalf("agent script %q, %v", agent, err)
	}
}

func TestExecNeedsExistingWorkdir(t *testing.T) {
	r, _ := New(t.TempDir())
	_, err := r.StartExec(ExecTask{JobID: 1, Node: "n", Nodes: []string{"n"}, Argv: []string{"true"}, Dir: "/does/not/exist"}, &execrun.Buffer{}, &execrun.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("err %v", err)
	}
}

// TestJobKillEndsExecs: the job's Kill (time limit) and Clean end exec'd
// process groups too, and an exec killed by Kill learns that ibex did it.
func TestJobKillEndsExecs(t *testing.T) {
	r, _ := New(t.TempDir())
	start := func() *ExecProc {
		p, err := r.StartExec(ExecTask{JobID: 2, Node: "n", Nodes: []string{"n"}, Argv: []string{"/bin/sh", "-c", "sleep 300 & sleep 300"}}, &execrun.Buffer{}, &execrun.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := start()
	time.Sleep(50 * time.Millisecond)
	if err := r.Kill(2, "n"); err != nil {
		t.Fatal(err)
	}
	res, _ := p.Wait()
	if res.Signal != syscall.SIGKILL || res.ExitCode != 137 || !res.ByIbex {
		t.Fatalf("result %+v", res)
	}
	// The killed group's background sleep may still be dying on a busy
	// machine; Close would rightly keep it as lingering for Clean, which
	// then counts two groups.
	for deadline := time.Now().Add(10 * time.Second); groupMembers(p.Pid) != nil && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if l := p.Close(); len(l) != 0 {
		t.Fatalf("killed exec still lingering after 10 s: %v", l)
	}
	p = start()
	done := make(chan ExecResult)
	go func() { res, _ := p.Wait(); done <- res }()
	time.Sleep(50 * time.Millisecond)
	ev, err := r.Clean(2, "n")
	if err != nil || !strings.Contains(ev, "1 exec'd process group(s): none left") {
		t.Fatalf("clean: %q, %v", ev, err)
	}
	if res := <-done; res.Signal != syscall.SIGKILL {
		t.Fatalf("result %+v", res)
	}
	if groupMembers(p.Pid) != nil || len(r.execGroups(2, "n", allExecs...)) != 0 {
		t.Fatal("exec'd processes or their files survive Clean")
	}
}

// TestExecKilledFromOutside is what a crashed node looks like: the
// process dies of a signal ibex did not send.
func TestExecKilledFromOutside(t *testing.T) {
	r, _ := New(t.TempDir())
	p, err := r.StartExec(ExecTask{JobID: 3, Node: "n", Nodes: []string{"n"}, Argv: []string{"sleep", "300"}}, &execrun.Buffer{}, &execrun.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	syscall.Kill(-p.Pid, syscall.SIGKILL)
	if res, _ := p.Wait(); res.Signal != syscall.SIGKILL || res.ByIbex {
		t.Fatalf("result %+v", res)
	}
}

// TestExecLeftoverIsCleaned: a daemon an exec leaves behind, even in a
// session and process group of its own (as hydra's proxy puts MPI ranks),
// is still found and killed by the job's Clean.
func TestExecLeftoverIsCleaned(t *testing.T) {
	r, _ := New(t.TempDir())
	p, err := r.StartExec(ExecTask{JobID: 5, Node: "n", Nodes: []string{"n"}, Argv: []string{"/bin/sh", "-c", "setsid sleep 300 >/dev/null 2>&1 &"}}, &execrun.Buffer{}, &execrun.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	res, _ := p.Wait()
	if res.ExitCode != 0 {
		t.Fatalf("result %+v", res)
	}
	p.Close()
	var escaped []int
	deadline := time.Now().Add(5 * time.Second)
	for len(escaped) == 0 && time.Now().Before(deadline) {
		escaped = scopeMembers(r.nodeScope(5, "n"))
		time.Sleep(10 * time.Millisecond)
	}
	if len(escaped) != 1 {
		t.Fatalf("escaped processes %v", escaped)
	}
	ev, err := r.Clean(5, "n")
	if err != nil || len(scopeMembers(r.nodeScope(5, "n"))) != 0 {
		t.Fatalf("clean: %q, %v; left %v", ev, err, scopeMembers(r.nodeScope(5, "n")))
	}
}

func TestPKeyEnv(t *testing.T) {
	if env := PKeyEnv(0); env != nil {
		t.Fatalf("no partition, yet %v", env)
	}
	want := []string{"IBEX_PKEY=0x1a2b", "UCX_IB_PKEY=0x1a2b", "OMPI_MCA_btl_openib_pkey=0x1a2b", "MV2_DEFAULT_PKEY=0x1a2b"}
	for _, k := range []uint16{0x1a2b, 0x9a2b} { // as ibex keeps it; with the full-membership bit
		if env := PKeyEnv(k); !slices.Equal(env, want) {
			t.Fatalf("%#x: got %v, want %v", k, env, want)
		}
	}
}

func TestSlurmEnv(t *testing.T) {
	task := ExecTask{JobID: 9, Node: "node003", NodeIndex: 2, Nodes: []string{"node001", "node002", "node003"}, Launch: Launch{SlurmEnv: true}}
	env := jobEnv(task, LaunchFiles{})
	for _, w := range []string{"SLURM_JOB_ID=9", "SLURM_JOB_NODELIST=node[001-003]", "SLURM_NNODES=3", "SLURM_NTASKS=3",
		"SLURM_NTASKS_PER_NODE=1", "SLURM_TASKS_PER_NODE=1(x3)", "SLURM_NODEID=2", "SLURM_PROCID=2", "IBEX_SLURM_ENV=1"} {
		if !slices.Contains(env, w) {
			t.Errorf("one task per node: no %s in %v", w, env)
		}
	}
	task.Launch.TasksPerNode = 4
	env = jobEnv(task, LaunchFiles{})
	if !slices.Contains(env, "SLURM_NTASKS=12") || !slices.Contains(env, "SLURM_TASKS_PER_NODE=4(x3)") {
		t.Errorf("four tasks per node: %v", env)
	}
	for _, e := range env {
		if strings.HasPrefix(e, "SLURM_PROCID=") {
			t.Errorf("%s set although a node runs several tasks", e)
		}
	}
	task.Launch.SlurmEnv = false
	for _, e := range jobEnv(task, LaunchFiles{}) {
		if strings.HasPrefix(e, "SLURM_") {
			t.Errorf("%s without --slurm-env", e)
		}
	}
}
