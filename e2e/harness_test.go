// Package e2e drives the real binaries: it builds ibexd and ibex, starts
// `ibexd --dev` in a temporary directory and runs CLI commands against it,
// the way a user would.
package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/internal/execrun"
	"github.com/ibex-hpc/ibex/internal/testcluster"
	"github.com/ibex-hpc/ibex/internal/testutil"
	"github.com/ibex-hpc/ibex/nodeagent/simnode"
)

var binDir string

func TestMain(m *testing.M) {
	testutil.RunWithBinaries(m, &binDir, "../cmd/ibexd", "../cmd/ibex", "../cmd/ibex-agent")
}

// cluster is one `ibexd --dev` under test.
type cluster struct {
	t       *testing.T
	dir     string
	api     string
	raft    string
	http    string
	extra   []string
	cmd     *exec.Cmd
	log     *execrun.Buffer
	cfgHome string
}

func startDev(t *testing.T, extra ...string) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
	dir := t.TempDir()
	if !slices.Contains(extra, "--agent-listen") {
		// The simulated agents' listener and gossip member default to the
		// API port + 3 and + 4, which another test may hold: pick free
		// ones, the same across restarts of this cluster.
		extra = append([]string{"--agent-listen", testcluster.FreeAddr(t), "--gossip-bind", testcluster.FreeAddr(t)}, extra...)
	}
	c := &cluster{t: t, dir: dir, api: testcluster.FreeAddr(t), raft: testcluster.FreeAddr(t), http: testcluster.FreeAddr(t), extra: extra, cfgHome: filepath.Join(dir, "config")}
	c.start()
	t.Cleanup(func() {
		c.stop(syscall.SIGTERM)
		c.removeSimJobs()
	})
	// Each simulated node's agent enrolls at start-up and cleans its node
	// before it is ready, as a real node's does.
	c.waitAllReady()
	return c
}

func (c *cluster) start() {
	c.t.Helper()
	c.log = &execrun.Buffer{}
	args := append([]string{"--dev", "--data-dir", filepath.Join(c.dir, "data"), "--listen", c.api, "--raft-addr", c.raft, "--http", c.http,
		"--cli-config", filepath.Join(c.cfgHome, "ibex", "config.json")}, c.extra...)
	c.cmd = exec.Command(filepath.Join(binDir, "ibexd"), args...)
	c.cmd.Dir = c.dir
	c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
	if err := c.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, errs, code := c.ibex("nodes")
		if code == 0 {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("ibexd did not come up (ibex nodes: %s):\n%s", errs, c.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *cluster) stop(sig syscall.Signal) {
	execrun.Stop(c.cmd, sig, 15*time.Second)
	c.cmd = nil
}

// ibex runs the CLI with the dev config (admin token) unless env overrides.
func (c *cluster) ibex(args ...string) (stdout, stderr string, code int) {
	return c.ibexEnv(nil, args...)
}

func (c *cluster) ibexEnv(env []string, args ...string) (string, string, int) {
	cmd := exec.Command(filepath.Join(binDir, "ibex"), args...)
	cmd.Env = c.cliEnv(env...)
	out, errb, err := execrun.Output(cmd)
	code, ran := execrun.ExitCode(err)
	if !ran {
		c.t.Fatal(err)
	}
	return string(out), string(errb), code
}

// cliEnv is the CLI's environment: the dev config (admin token) and a cache
// directory of its own (the leader file), then env.
func (c *cluster) cliEnv(env ...string) []string {
	return append(append(os.Environ(), "XDG_CONFIG_HOME="+c.cfgHome, "XDG_CACHE_HOME="+c.cfgHome, "IBEX_ADDR=", "IBEX_TOKEN="), env...)
}

// must runs the CLI and fails the test on a non-zero exit.
func (c *cluster) must(args ...string) string {
	c.t.Helper()
	out, errs, code := c.ibex(args...)
	if code != 0 {
		c.t.Fatalf("ibex %s: exit %d: %s", strings.Join(args, " "), code, errs)
	}
	return out
}

// fails runs the CLI, expects a non-zero exit with a one-line error that
// contains want, and returns it.
func (c *cluster) fails(env []string, want string, args ...string) {
	c.t.Helper()
	_, errs, code := c.ibexEnv(env, args...)
	if code == 0 {
		c.t.Fatalf("ibex %s succeeded, want failure", strings.Join(args, " "))
	}
	if strings.Count(strings.TrimSpace(errs), "\n") != 0 || !strings.Contains(errs, want) {
		c.t.Fatalf("ibex %s: stderr %q, want one line containing %q", strings.Join(args, " "), errs, want)
	}
}

type jobJSON struct {
	ID          json.Number `json:"id"` // a number in --json (a string before #15.8; both decode)
	State       string      `json:"state"`
	Tenant      string      `json:"tenant"`
	Nodes       []string    `json:"nodes"`
	Nodelist    string      `json:"nodelist"`
	Reason      string      `json:"reason"`
	ExitCode    int         `json:"exit_code"`
	HasExitCode bool        `json:"has_exit_code"`
}

func (c *cluster) job(id string) jobJSON {
	c.t.Helper()
	var j jobJSON
	if err := json.Unmarshal([]byte(c.must("show", "--json", id)), &j); err != nil {
		c.t.Fatal(err)
	}
	return j
}

// waitState polls until the job reaches state.
func (c *cluster) waitState(id, state string) jobJSON {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		j := c.job(id)
		if j.State == state {
			return j
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("job %s is %s (%s), want %s\nibexd log:\n%s", id, j.State, j.Reason, state, c.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type nodeJSON struct {
	Name   string      `json:"name"`
	State  string      `json:"state"`
	Leaf   string      `json:"leaf"`
	JobID  json.Number `json:"job_id"`
	Tenant string      `json:"tenant"`
}

func (c *cluster) nodes() []nodeJSON {
	c.t.Helper()
	var ns []nodeJSON
	if err := json.Unmarshal([]byte(c.must("nodes", "--json")), &ns); err != nil {
		c.t.Fatal(err)
	}
	return ns
}

// waitAllReady waits until every node is ready (cleaning finished).
func (c *cluster) waitAllReady() {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		busy := 0
		for _, n := range c.nodes() {
			if n.State != "ready" {
				busy++
			}
		}
		if busy == 0 {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%d nodes not ready", busy)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func jobID(t *testing.T, submitOut string) string {
	t.Helper()
	f := strings.Fields(submitOut)
	if len(f) != 3 || f[0] != "Submitted" {
		t.Fatalf("unexpected submit output %q", submitOut)
	}
	return f[2]
}

// runIbexd runs ibexd to completion (for start-up errors) and returns its
// combined output.
func runIbexd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "ibexd"), args...)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// removeSimJobs removes what the simulated nodes' jobs left outside the
// test's directory when ibexd ran as root: their directories under
// /var/tmp and their (empty) cgroups.
func (c *cluster) removeSimJobs() {
	simnode.RemoveIsolation(filepath.Join(c.dir, "data-nodes"))
}
