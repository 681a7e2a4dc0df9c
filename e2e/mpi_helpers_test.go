package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/internal/execrun"
)

// Helpers of the MPI and exec tests.

// mpiBG is a CLI command running in the background.
type mpiBG struct {
	cmd          *exec.Cmd
	stdout, errb *execrun.Buffer
	done         chan struct{}
	code         int
}

// mpiIbexBG starts the CLI like cluster.ibex does, without waiting for it.
func (c *cluster) mpiIbexBG(args ...string) *mpiBG {
	c.t.Helper()
	b := &mpiBG{cmd: exec.Command(filepath.Join(binDir, "ibex"), args...), stdout: &execrun.Buffer{}, errb: &execrun.Buffer{}, done: make(chan struct{})}
	b.cmd.Env = c.cliEnv()
	b.cmd.Stdout, b.cmd.Stderr = b.stdout, b.errb
	if err := b.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	go func() {
		b.code, _ = execrun.ExitCode(b.cmd.Wait())
		close(b.done)
	}()
	c.t.Cleanup(func() {
		select {
		case <-b.done:
		default:
			b.cmd.Process.Kill()
			<-b.done
		}
	})
	return b
}

// wait returns the exit code, failing the test after d.
func (b *mpiBG) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-b.done:
		return b.code
	case <-time.After(d):
		t.Fatalf("ibex %s still runs after %s\nstdout:\n%s\nstderr:\n%s", strings.Join(b.cmd.Args[1:], " "), d, b.stdout, b.errb)
		return 0
	}
}

// until polls cond every 50 ms for up to d.
func mpiUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// jobDir is a job's directory on the simulated nodes.
func (c *cluster) mpiJobDir(id string) string {
	return filepath.Join(c.dir, "data", "jobs", "job-"+id)
}

// execGroups are the process groups exec'd into a job on a node.
func (c *cluster) mpiExecGroups(id, node string) []int {
	files, _ := filepath.Glob(filepath.Join(c.mpiJobDir(id), node+".exec-*.pid"))
	var out []int
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// mpiGroupAlive reports whether a process group still has a live member.
// Zombies do not count: they are dead, and PID 1 in a container may never
// reap orphans.
func mpiGroupAlive(pgid int) bool {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		st, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(st, ')')
		if i < 0 {
			continue
		}
		// After the command name: state, ppid, pgrp.
		if f := strings.Fields(string(st[i+1:])); len(f) > 2 && f[0] != "Z" && f[2] == strconv.Itoa(pgid) {
			return true
		}
	}
	return false
}

var mpiRunJobRe = regexp.MustCompile(`ibex run: job (\d+) on `)

// runJobID is the job id `ibex run` reports on stderr.
func mpiRunJobID(t *testing.T, stderr string) string {
	t.Helper()
	m := mpiRunJobRe.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("ibex run did not report its job:\n%s", stderr)
	}
	return m[1]
}

// mpiNodeProcs lists the live processes exec'd into a job on a node and
// their descendants, however they regrouped: localexec marks them all
// with IBEX_EXEC_SCOPE.
func (c *cluster) mpiNodeProcs(id, node string) []int {
	want := []byte("IBEX_EXEC_SCOPE=" + filepath.Join(c.mpiJobDir(id), node+".exec-"))
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !bytes.Contains(env, want) {
			continue
		}
		if st, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err == nil {
			if i := bytes.LastIndexByte(st, ')'); i >= 0 && strings.HasPrefix(string(st[i+1:]), " Z") {
				continue
			}
		}
		out = append(out, pid)
	}
	return out
}
