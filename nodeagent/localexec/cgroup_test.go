package localexec

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/internal/execrun"
)

// testCgroupDir returns a fresh cgroup v2 directory for one test, removed
// (after killing whatever is left in it) when the test ends. The test
// process itself never enters it: only the runner's children do.
func testCgroupDir(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("cgroup tests need root: they create cgroups and move processes into them")
	}
	var base string
	for _, b := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		if onCgroup2(b) == nil {
			base = b
			break
		}
	}
	if base == "" {
		t.Skip("no cgroup v2 hierarchy at /sys/fs/cgroup/unified or /sys/fs/cgroup")
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	dir := filepath.Join(base, "ibex-test-"+hex.EncodeToString(rnd[:]))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cgroup v2 at %s is not writable: %v", base, err)
	}
	t.Cleanup(func() { removeCgroupTree(t, dir) })
	return dir
}

// removeCgroupTree kills what is left under dir, deepest cgroups first,
// and removes every cgroup in it.
func removeCgroupTree(t *testing.T, dir string) {
	var dirs []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	slices.Reverse(dirs)
	for _, d := range dirs {
		if busy, _ := populated(d); busy {
			if holdsSelf(d) {
				t.Errorf("test cgroup %s holds the test process", d)
				continue
			}
			_ = os.WriteFile(filepath.Join(d, "cgroup.kill"), []byte("1"), 0)
			for i := 0; i < 250; i++ {
				if busy, _ := populated(d); !busy {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		if err := syscall.Rmdir(d); err != nil {
			t.Errorf("remove test cgroup %s: %v", d, err)
		}
	}
}

// procGone reports whether pid has exited (a zombie has: PID 1 of a
// container may never reap orphans).
func procGone(pid int) bool {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	f := statFields(st)
	return len(f) > 0 && f[0] == "Z"
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readPidFile(t *testing.T, path string) int {
	t.Helper()
	var pid int
	waitFor(t, path, func() bool {
		b, err := os.ReadFile(path)
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	return pid
}

// daemonScript double-forks a daemon into a session and process group of
// its own, records its pid in the job directory, and waits.
const daemonScript = `(setsid sh -c 'echo $$ > daemon.pid; exec sleep 300' </dev/null >/dev/null 2>&1 &); sleep 300`

// TestCgroupKillEndsDaemon: a daemon that left the job's process group and
// session still dies with the job's Kill, and Clean removes the cgroup.
func TestCgroupKillEndsDaemon(t *testing.T) {
	r, err := NewWithOptions(t.TempDir(), Options{CgroupDir: testCgroupDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(Task{JobID: 1, Node: "n1", Nodes: []string{"n1"}, Script: daemonScript}); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, r, 1, "n1", Running)
	daemon := readPidFile(t, filepath.Join(r.JobDir(1), "daemon.pid"))
	wrapper, err := r.pid(1, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if members := groupMembers(wrapper); slices.Contains(members, daemon) {
		t.Fatalf("the daemon %d stayed in the job's process group %v: the test proves nothing", daemon, members)
	}
	if procs, _ := readProcs(r.JobCgroup(1, "n1")); !slices.Contains(procs, daemon) || !slices.Contains(procs, wrapper) {
		t.Fatalf("cgroup %s holds %v, want the wrapper %d and the daemon %d", r.JobCgroup(1, "n1"), procs, wrapper, daemon)
	}
	if err := r.Kill(1, "n1"); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, r, 1, "n1", Lost)
	waitFor(t, "the daemon to die", func() bool { return procGone(daemon) })
	ev, err := r.Clean(1, "n1")
	if err != nil || !strings.Contains(ev, "cgroup removed") {
		t.Fatalf("clean: %q, %v", ev, err)
	}
	if exists(r.JobCgroup(1, "n1")) || exists(filepath.Dir(r.JobCgroup(1, "n1"))) {
		t.Fatalf("job cgroup %s survives Clean", r.JobCgroup(1, "n1"))
	}
}

// TestCgroupCleanKillsAndCounts: Clean alone kills what is left, says how
// many processes that was, and removes the cgroup.
func TestCgroupCleanKillsAndCounts(t *testing.T) {
	r, err := NewWithOptions(t.TempDir(), Options{CgroupDir: testCgroupDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(Task{JobID: 2, Node: "n1", Nodes: []string{"n1"}, Script: daemonScript}); err != nil {
		t.Fatal(err)
	}
	daemon := readPidFile(t, filepath.Join(r.JobDir(2), "daemon.pid"))
	ev, err := r.Clean(2, "n1")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`: (\d+) process\(es\) left, killed with cgroup.kill; none left, cgroup removed$`).FindStringSubmatch(ev)
	if m == nil {
		t.Fatalf("evidence %q", ev)
	}
	if n, _ := strconv.Atoi(m[1]); n < 2 { // at least the wrapper and the daemon
		t.Fatalf("evidence counts %d processes: %q", n, ev)
	}
	if !procGone(daemon) || exists(r.JobCgroup(2, "n1")) {
		t.Fatalf("daemon gone %v, cgroup %s exists %v", procGone(daemon), r.JobCgroup(2, "n1"), exists(r.JobCgroup(2, "n1")))
	}
	if ev, err := r.Clean(2, "n1"); err != nil || !strings.Contains(ev, "already removed") {
		t.Fatalf("second clean: %q, %v", ev, err)
	}
	if ev, err := r.Clean(3, "n1"); err != nil || !strings.Contains(ev, "never started") {
		t.Fatalf("clean of a job that never ran: %q, %v", ev, err)
	}
}

// TestCgroupAccounting: a CPU-burning job's CPU time is reported while
// its cgroup exists and, from the .acct file, after Clean removed it, also
// to a new runner.
func TestCgroupAccounting(t *testing.T) {
	root, cg := t.TempDir(), testCgroupDir(t)
	r, err := NewWithOptions(root, Options{CgroupDir: cg})
	if err != nil {
		t.Fatal(err)
	}
	burn := "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; echo burnt\n"
	if err := r.Start(Task{JobID: 4, Node: "n1", Nodes: []string{"n1"}, Script: burn}); err != nil {
		t.Fatal(err)
	}
	st := waitPhase(t, r, 4, "n1", Exited)
	if st.ExitCode != 0 || st.CPUUsec == 0 || st.OutputBytes != int64(len("burnt\n")) {
		t.Fatalf("status %+v", st)
	}
	if exists(filepath.Join(r.JobCgroup(4, "n1"), "memory.peak")) {
		if st.MemoryPeakBytes == 0 {
			t.Fatalf("memory.peak exists but the status says 0: %+v", st)
		}
	} else if st.MemoryPeakBytes != 0 {
		t.Fatalf("no memory.peak, yet %+v", st)
	}
	if _, err := r.Clean(4, "n1"); err != nil {
		t.Fatal(err)
	}
	for _, rr := range []*Runner{r, mustRunner(t, root, Options{CgroupDir: cg})} {
		after, err := rr.Status(4, "n1")
		if err != nil {
			t.Fatal(err)
		}
		if after != st {
			t.Fatalf("after Clean: %+v, before: %+v", after, st)
		}
	}
}

func mustRunner(t *testing.T, root string, o Options) *Runner {
	t.Helper()
	r, err := NewWithOptions(root, o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestCgroupExecJoinsJob: an exec'd process runs in the task's cgroup, and
// the job's Kill ends it as ibex's doing.
func TestCgroupExecJoinsJob(t *testing.T) {
	r, err := NewWithOptions(t.TempDir(), Options{CgroupDir: testCgroupDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	var out execrun.Buffer
	p, err := r.StartExec(ExecTask{JobID: 6, Node: "n1", Nodes: []string{"n1"}, Argv: []string{"/bin/sh", "-c", "grep ^0:: /proc/self/cgroup; exec sleep 300"}}, &out, &execrun.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	leaf := r.JobCgroup(6, "n1")
	waitFor(t, "the exec'd process's cgroup", func() bool { return strings.Contains(out.String(), "\n") })
	if got := strings.TrimSpace(out.String()); !strings.HasSuffix(leaf, strings.TrimPrefix(got, "0::")) || !strings.HasSuffix(got, "/job-6/node-n1") {
		t.Fatalf("exec'd process in cgroup %q, want %s", got, leaf)
	}
	if err := r.Kill(6, "n1"); err != nil {
		t.Fatal(err)
	}
	res, err := p.Wait()
	if err != nil || res.Signal != syscall.SIGKILL || !res.ByIbex {
		t.Fatalf("result %+v, %v", res, err)
	}
	p.Close()
	ev, err := r.Clean(6, "n1")
	if err != nil || !strings.Contains(ev, "cgroup removed") || exists(leaf) {
		t.Fatalf("clean: %q, %v", ev, err)
	}
}

// TestCgroupByPidFallback: on kernels without CLONE_INTO_CGROUP the child
// is moved into its cgroup by pid; it must be there before it runs
// anything, so that what it forks at once is in the cgroup too.
func TestCgroupByPidFallback(t *testing.T) {
	r, err := NewWithOptions(t.TempDir(), Options{CgroupDir: testCgroupDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	if r.cg.byPid {
		t.Log("this kernel has no CLONE_INTO_CGROUP: the runner already uses the fallback")
	}
	r.cg.byPid = true
	if err := r.Start(Task{JobID: 7, Node: "n1", Nodes: []string{"n1"}, Script: "sh -c 'echo $$ > child.pid; exec sleep 300'"}); err != nil {
		t.Fatal(err)
	}
	child := readPidFile(t, filepath.Join(r.JobDir(7), "child.pid"))
	var out execrun.Buffer
	p, err := r.StartExec(ExecTask{JobID: 7, Node: "n1", Nodes: []string{"n1"}, Argv: []string{"sh", "-c", "[ -e /proc/$$/fd/3 ] && echo gate-open; sleep 300 >/dev/null 2>&1 & echo $!"}}, &out, &execrun.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Wait()
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("exec: %+v, %v", res, err)
	}
	p.Close()
	forked, err := strconv.Atoi(strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatalf("exec'd process said %q (the gate, fd 3, must be closed)", out.String())
	}
	pid, _ := r.pid(7, "n1")
	procs, _ := readProcs(r.JobCgroup(7, "n1"))
	for _, want := range []int{pid, child, forked} {
		if !slices.Contains(procs, want) {
			t.Errorf("process %d not in the cgroup: %v (wrapper %d, its grandchild %d, an exec's child %d)", want, procs, pid, child, forked)
		}
	}
	if _, err := r.Clean(7, "n1"); err != nil {
		t.Fatal(err)
	}
	if !procGone(child) || !procGone(forked) {
		t.Fatal("processes survive Clean")
	}
}

// TestNewWithOptionsRefusesBadSetups: the agent refuses to start, with the
// reason, rather than run jobs half-confined.
func TestNewWithOptionsRefusesBadSetups(t *testing.T) {
	plain := filepath.Join(t.TempDir(), "slice")
	_, err := NewWithOptions(t.TempDir(), Options{CgroupDir: plain})
	if err == nil || !strings.Contains(err.Error(), "is not on a cgroup v2 file system") || !strings.Contains(err.Error(), plain) {
		t.Fatalf("plain directory as cgroup dir: %v", err)
	}
	if exists(plain) {
		t.Fatalf("refused cgroup dir %s was created", plain)
	}
	if _, err := LookupJobUser("ibex-no-such-user"); err == nil || err.Error() != `job user "ibex-no-such-user" does not exist on this node` {
		t.Fatalf("unknown user: %v", err)
	}
	open := t.TempDir()
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := NewWithOptions(open, Options{}); err == nil || !strings.Contains(err.Error(), "others could write") {
		t.Fatalf("world-writable root: %v", err)
	}
}

// TestTasksAndLayout: NewWithOptions keeps bookkeeping out of the job's
// directory, and Tasks lists the started tasks, not exec'd processes.
func TestTasksAndLayout(t *testing.T) {
	r := mustRunner(t, t.TempDir(), Options{})
	for _, task := range []Task{{JobID: 10, Node: "b"}, {JobID: 10, Node: "a"}, {JobID: 9, Node: "a"}} {
		task.Nodes, task.Argv = []string{task.Node}, []string{"true"}
		if err := r.Start(task); err != nil {
			t.Fatal(err)
		}
	}
	p, err := r.StartExec(ExecTask{JobID: 9, Node: "a", Nodes: []string{"a"}, Argv: []string{"sleep", "300"}}, &execrun.Buffer{}, &execrun.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { p.Kill(); p.Wait(); p.Close() }()
	got, err := r.Tasks()
	want := []TaskRef{{9, "a"}, {10, "a"}, {10, "b"}}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("tasks %v, %v; want %v", got, err, want)
	}
	if ents, _ := os.ReadDir(r.JobDir(9)); len(ents) != 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		if slices.ContainsFunc(names, func(n string) bool { return strings.HasSuffix(n, ".pid") || strings.HasSuffix(n, ".out") }) {
			t.Fatalf("bookkeeping in the job's directory: %v", names)
		}
	}
	if err := r.Start(Task{JobID: 1, Node: "../x", Nodes: []string{"../x"}, Argv: []string{"true"}}); err == nil {
		t.Fatal("a node name with a path in it was accepted")
	}
}

// TestAdoptAfterRunnerKilled runs a runner in a child process, kills it
// with SIGKILL while its tasks run, and lets a new runner on the same
// directories take over: one task still running (adopted), one that exits
// while no runner is there, and one whose wrapper is killed meanwhile
// (lost, although a process of it is still in its cgroup).
func TestAdoptAfterRunnerKilled(t *testing.T) {
	root, cg := t.TempDir(), testCgroupDir(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperRunner$", "-test.count=1")
	cmd.Env = append(os.Environ(), "LOCALEXEC_HELPER_ROOT="+root, "LOCALEXEC_HELPER_CGROUP="+cg)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "started\n" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("helper runner said %q, %v", line, err)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()

	r := mustRunner(t, root, Options{CgroupDir: cg})
	tasks, err := r.Tasks()
	if err != nil || !slices.Equal(tasks, []TaskRef{{1, "n1"}, {2, "n1"}, {3, "n1"}}) {
		t.Fatalf("tasks %v, %v", tasks, err)
	}
	if st, err := r.Status(1, "n1"); err != nil || st.Phase != Running {
		t.Fatalf("job 1: %+v, %v", st, err)
	}
	// Job 2 exits now, with no runner watching it.
	if err := os.WriteFile(filepath.Join(r.JobDir(2), "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if st := waitPhase(t, r, 2, "n1", Exited); st.ExitCode != 5 {
		t.Fatalf("job 2: %+v", st)
	}
	// Job 3's wrapper dies; its child lives on in the cgroup.
	w3, _ := r.pid(3, "n1")
	if err := syscall.Kill(w3, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, r, 3, "n1", Lost)
	if busy, _ := populated(r.JobCgroup(3, "n1")); !busy {
		t.Fatal("job 3's cgroup is empty: the test should leave its sleep running")
	}
	if err := r.Kill(1, "n1"); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, r, 1, "n1", Lost)
	for _, job := range []uint64{1, 2, 3} {
		if ev, err := r.Clean(job, "n1"); err != nil || !strings.Contains(ev, "cgroup removed") {
			t.Fatalf("clean job %d: %q, %v", job, ev, err)
		}
	}
	if ents, _ := os.ReadDir(cg); slices.ContainsFunc(ents, func(e fs.DirEntry) bool { return e.IsDir() && strings.HasPrefix(e.Name(), "job-") }) {
		t.Fatalf("job cgroups left in %s", cg)
	}
}

// TestHelperRunner is the runner TestAdoptAfterRunnerKilled kills.
func TestHelperRunner(t *testing.T) {
	root := os.Getenv("LOCALEXEC_HELPER_ROOT")
	if root == "" {
		t.Skip("only run as TestAdoptAfterRunnerKilled's child process")
	}
	r, err := NewWithOptions(root, Options{CgroupDir: os.Getenv("LOCALEXEC_HELPER_CGROUP")})
	if err != nil {
		t.Fatal(err)
	}
	for job, script := range map[uint64]string{
		1: "exec sleep 300",
		2: "while [ ! -e go ]; do sleep 0.02; done; exit 5",
		3: "sleep 300",
	} {
		if err := r.Start(Task{JobID: job, Node: "n1", Nodes: []string{"n1"}, Script: script}); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Println("started")
	time.Sleep(time.Hour)
}

// TestCgroupJudgesAlive: with cgroups, a process is the task's wrapper only
// if it is in the task's cgroup. An impostor outside it, with the pid the
// pid file names and even the wrapper's environment (what a recycled pid
// looks like at worst), does not keep the task running.
func TestCgroupJudgesAlive(t *testing.T) {
	r := mustRunner(t, t.TempDir(), Options{CgroupDir: testCgroupDir(t)})
	if err := r.Start(Task{JobID: 8, Node: "n1", Nodes: []string{"n1"}, Argv: []string{"sleep", "300"}}); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, r, 8, "n1", Running)
	imp := exec.Command("sleep", "300")
	imp.Env = []string{"IBEX_EXIT_FILE=" + r.file(8, "n1", "exit")}
	if err := imp.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = imp.Process.Kill(); _ = imp.Wait() }()
	wrapper, _ := r.pid(8, "n1")
	_ = syscall.Kill(wrapper, syscall.SIGKILL)
	// Until the Runner reaps its wrapper, Status says running whatever
	// /proc shows (exitnotify.go): wait for the reap first.
	for deadline := time.Now().Add(30 * time.Second); r.unreaped(8, "n1"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the killed wrapper was never reaped")
		}
	}
	if err := writeAtomic(r.file(8, "n1", "pid"), []byte(strconv.Itoa(imp.Process.Pid)), 0o600); err != nil {
		t.Fatal(err)
	}
	if st, err := r.Status(8, "n1"); err != nil || st.Phase != Lost {
		t.Fatalf("status %+v, %v; want lost", st, err)
	}
	if _, err := r.Clean(8, "n1"); err != nil {
		t.Fatal(err)
	}
}
