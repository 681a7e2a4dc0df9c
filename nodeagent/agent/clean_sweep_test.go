package agent

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/nodeagent/localexec"
)

// cgroupTestDir is a fresh cgroup v2 directory the test's runner owns.
// The test process never enters it (only the runner's children do); at
// cleanup whatever is left is killed and every cgroup removed.
func cgroupTestDir(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: cgroups and a job user")
	}
	mnt, err := localexec.Cgroup2Mount()
	if err != nil {
		t.Skipf("no cgroup v2: %v", err)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	dir := filepath.Join(mnt, "ibex-agent-test-"+hex.EncodeToString(rnd[:]))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cgroup v2 at %s is not writable: %v", mnt, err)
	}
	t.Cleanup(func() {
		var dirs []string
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		slices.Reverse(dirs)
		for _, d := range dirs {
			_ = os.WriteFile(filepath.Join(d, "cgroup.kill"), []byte("1"), 0)
			for i := 0; i < 100 && syscall.Rmdir(d) == syscall.EBUSY; i++ {
				time.Sleep(20 * time.Millisecond)
			}
		}
	})
	return dir
}

// uniqueJobUser is a job user whose uid nothing else on the host runs as
// (setpriv needs no passwd entry), so the sweep in this test cannot touch
// another test's processes.
func uniqueJobUser(t *testing.T) *localexec.JobUser {
	var b [4]byte
	_, _ = rand.Read(b[:])
	uid := 1_600_000_000 + binary.BigEndian.Uint32(b[:])%100_000_000
	return &localexec.JobUser{Name: fmt.Sprintf("ibex-test-%d", uid), UID: uid, GID: uid}
}

// nothingSurvivesScript leaves behind, the ways tenants do: a setsid
// daemon, a nohup'd process, a double fork reparented to init and a
// process that ignores SIGTERM. Each records its pid in the job directory.
const nothingSurvivesScript = `setsid sh -c 'echo $$ > setsid.pid; exec sleep 300' </dev/null >/dev/null 2>&1 &
nohup sh -c 'echo $$ > nohup.pid; exec sleep 300' </dev/null >/dev/null 2>&1 &
(sh -c 'echo $$ > doublefork.pid; exec sleep 300' </dev/null >/dev/null 2>&1 &)
sh -c 'trap "" TERM HUP INT; echo $$ > noterm.pid; while :; do sleep 1; done' </dev/null >/dev/null 2>&1 &
wait
`

// TestCleanLeavesNothing: with the real runner, cgroups and a job user,
// the clean stop kills every process the job left (setsid, nohup, double
// fork, SIGTERM ignored) and one of the job user that the job did not fork
// (as cron or at would start it), and its evidence says so.
func TestCleanLeavesNothing(t *testing.T) {
	cg := cgroupTestDir(t)
	u := uniqueJobUser(t)
	e := newJobsEnv(t)
	for _, d := range []string{filepath.Dir(e.scratch), e.scratch} {
		if err := os.Chmod(d, 0o755); err != nil { // the job user must reach its directory
			t.Fatal(err)
		}
	}
	var runner *localexec.Runner
	_, c, stop := enrolled(t, e.testEnv, func(a *Agent) {
		r, err := localexec.NewWithOptions(e.jobRoot, localexec.Options{CgroupDir: cg, User: u, SweepUser: true})
		if err != nil {
			t.Fatal(err)
		}
		runner = r
		a.Jobs, a.PKeys, a.PKeyWait = r, e.pkeys, 500*time.Millisecond
	})
	defer stop()
	jc := &jobConn{fakeConn: c}
	jc.send <- jobTask(9, 1, nothingSurvivesScript, 0)
	jc.report(t, 9, PhaseRunning)

	pids := map[string]int{}
	leaf := runner.JobCgroup(9, testNode)
	for _, name := range []string{"setsid", "nohup", "doublefork", "noterm"} {
		pid := waitPid(t, filepath.Join(runner.JobDir(9), name+".pid"))
		pids[name] = pid
		if got := procCgroup(pid); !strings.HasSuffix(leaf, got) || got == "" {
			t.Fatalf("%s (pid %d) is in cgroup %q, not the job's %s", name, pid, got, leaf)
		}
	}
	cron := exec.Command("sleep", "300")
	cron.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.UID, Gid: u.GID}, Setsid: true}
	if err := cron.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cron.Wait() }()
	defer cron.Process.Kill()
	pids["cron"] = cron.Process.Pid

	jc.send <- stopTask(9, 1, true)
	r := jc.taskResult(t, "clean/9/"+testNode)
	if !r.GetOk() {
		t.Fatalf("clean failed: %s", r.GetError())
	}
	var ev stopEvidence
	if err := json.Unmarshal([]byte(r.GetEvidenceJson()), &ev); err != nil {
		t.Fatal(err)
	}
	t.Log(ev.Evidence)
	for _, want := range []string{"killed with cgroup.kill; none left, cgroup removed", "1 outside the job's cgroup killed (" + strconv.Itoa(pids["cron"]) + " (sleep))", "none left"} {
		if !strings.Contains(ev.Evidence, want) {
			t.Errorf("evidence lacks %q: %s", want, ev.Evidence)
		}
	}
	for name, pid := range pids {
		if !gone(pid) {
			t.Errorf("%s (pid %d) survived the clean", name, pid)
		}
	}
	if _, err := os.Stat(leaf); err == nil {
		t.Errorf("job cgroup %s still exists", leaf)
	}
}

func waitPid(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil && strings.HasSuffix(string(b), "\n") {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				return pid
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pid in %s", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// procCgroup is pid's cgroup v2 path.
func procCgroup(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			return p
		}
	}
	return ""
}

// gone reports whether pid has exited (a zombie has).
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	return len(f) > 0 && f[0] == "Z"
}
