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
	"github.com/ibex-hpc/ibex/nodeagent/localexec"
	"github.com/ibex-hpc/ibex/nodeagent/simnode"
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

// mpiJobDir is the job's directory on node, as the node's agent made it:
// where exec'd commands start.
func (c *cluster) mpiJobDir(id, node string) string {
	return strings.TrimSpace(c.must("exec", "--job", id, node, "--", "pwd"))
}

// mpiJobCgroup is the cgroup of the job's share of node: every process the
// job or its execs started there, however they regrouped or daemonised.
func (c *cluster) mpiJobCgroup(t *testing.T, id, node string) string {
	t.Helper()
	mnt, err := localexec.Cgroup2Mount()
	if err != nil || os.Geteuid() != 0 {
		t.Skipf("the simulated nodes' jobs get cgroups only when ibexd runs as root on a cgroup v2 host (%v)", err)
	}
	root := filepath.Join(c.dir, "data-nodes") // ibexd --dev's default --sim-root
	return filepath.Join(mnt, simnode.IsolationName(root), node, "job-"+id, "node-"+node)
}

// mpiNodeProcs lists the live processes of the job on node (zombies do
// not count: they are dead, and PID 1 in a container may never reap
// orphans).
func (c *cluster) mpiNodeProcs(t *testing.T, id, node string) []int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.mpiJobCgroup(t, id, node), "cgroup.procs"))
	if err != nil {
		return nil // no cgroup (yet, or any more): no process
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err != nil || !procAlive(pid) {
			continue
		}
		out = append(out, pid)
	}
	return out
}

// procAlive reports whether pid is a live process (not a zombie).
func procAlive(pid int) bool {
	st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(st, ')')
	return i >= 0 && !strings.HasPrefix(string(st[i+1:]), " Z")
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
