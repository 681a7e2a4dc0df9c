package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The tests of `ibex exec`, the node-agent launch path MPI runtimes use.
// They need no MPI, so they run everywhere.

// allocID creates an allocation and returns its id.
func (c *cluster) mpiAllocID(args ...string) string {
	c.t.Helper()
	out := c.must(append([]string{"alloc"}, args...)...)
	f := strings.Fields(out)
	if len(f) < 2 || f[0] != "Allocation" {
		c.t.Fatalf("unexpected alloc output %q", out)
	}
	return f[1]
}

// TestMPIExecEnvironmentAndAgent checks what an exec'd process sees, and
// that a process inside the job can exec on another node with the job's
// own credential, both directly and through the agent script the MPI
// runtimes call with ssh's conventions.
func TestMPIExecEnvironmentAndAgent(t *testing.T) {
	c := startDev(t, "--leaves", "2", "--nodes-per-leaf", "2")
	id := c.mpiAllocID("-N", "3", "-t", "5m")
	out := c.must("exec", "--job", id, "--ntasks-per-node", "2", "--slurm-env", "node002", "--", "env")
	for _, w := range []string{"IBEX_JOB_ID=" + id, "IBEX_NODELIST=node[001-003]", "IBEX_NNODES=3", "IBEX_NODEID=1",
		"IBEX_NODENAME=node002", "IBEX_TASKS_PER_NODE=2", "IBEX_NTASKS=6",
		"IBEX_HOSTFILE_OPENMPI=" + filepath.Join(c.mpiJobDir(id), "hostfile-2.openmpi"),
		"IBEX_HOSTFILE_MPICH=" + filepath.Join(c.mpiJobDir(id), "hostfile-2.mpich"),
		"SLURM_JOB_ID=" + id, "SLURM_JOB_NODELIST=node[001-003]", "SLURM_NTASKS=6", "SLURM_NNODES=3",
		"SLURM_NTASKS_PER_NODE=2", "SLURM_NODEID=1"} {
		if !strings.Contains(out, "\n"+w+"\n") {
			t.Errorf("env lacks %s", w)
		}
	}
	for _, no := range []string{"SLURM_PROCID=", "IBEX_PKEY=", "UCX_IB_PKEY="} {
		if strings.Contains(out, "\n"+no) {
			t.Errorf("env has %s although it should not (several tasks per node; no partition yet)", no)
		}
	}
	if t.Failed() {
		t.Fatalf("env:\n%s", out)
	}
	if got := c.must("exec", "--job", id, "node003", "cat $IBEX_HOSTFILE_OPENMPI $IBEX_HOSTFILE_MPICH; pwd"); got !=
		"node001 slots=1\nnode002 slots=1\nnode003 slots=1\nnode001:1\nnode002:1\nnode003:1\n"+c.mpiJobDir(id)+"\n" {
		t.Fatalf("hostfiles and working directory: %q", got)
	}
	// From inside the job: IBEX_JOB_ID, IBEX_ADDR and IBEX_JOB_TOKEN are all
	// the nested CLI needs.
	nested := filepath.Join(binDir, "ibex") + ` exec node003 -- sh -c 'echo direct $IBEX_NODENAME'; "$IBEX_EXEC_AGENT" -x -o BatchMode=yes node002 'echo agent $IBEX_NODENAME'`
	if got := c.must("exec", "--job", id, "node001", "--", "env", "XDG_CONFIG_HOME=/nonexistent", "sh", "-c", nested); got != "direct node003\nagent node002\n" {
		t.Fatalf("nested exec printed %q", got)
	}
	// The exit code is the remote command's, as with ssh.
	if _, _, code := c.ibex("exec", "--job", id, "node001", "exit 7"); code != 7 {
		t.Fatalf("exit code %d, want 7", code)
	}
	logs, _ := filepath.Glob(filepath.Join(c.mpiJobDir(id), "node003.out"))
	if len(logs) != 1 {
		t.Fatalf("exec output is not logged to the job's output file")
	}
}

func TestMPIExecAuthorization(t *testing.T) {
	c := startDev(t, "--leaves", "2", "--nodes-per-leaf", "2")
	id := c.mpiAllocID("-N", "2", "-t", "5m")
	c.fails(nil, `node "node004" is not one of job `+id+`'s nodes (node[001-002])`, "exec", "--job", id, "node004", "--", "true")
	bob := "IBEX_TOKEN=" + strings.TrimSpace(c.must("tenant", "create", "bob"))
	c.fails([]string{bob}, "job "+id+" not found", "exec", "--job", id, "node001", "--", "true")
	c.fails(nil, "which job?", "exec", "node001", "--", "true")
	// A job's credential opens that job only.
	other := c.mpiAllocID("-N", "1", "-t", "5m")
	tok := strings.TrimSpace(c.must("exec", "--job", id, "node001", "--", "sh", "-c", "echo $IBEX_JOB_TOKEN"))
	c.fails([]string{"IBEX_JOB_TOKEN=" + tok}, "not valid for job "+other, "exec", "--job", other, "node003", "--", "true")
	c.must("release", id)
	c.waitState(id, "completed")
	c.fails(nil, "is completed, not running", "exec", "--job", id, "node001", "--", "true")
	c.fails([]string{"IBEX_JOB_TOKEN=" + tok}, "is completed, not running", "exec", "--job", id, "node001", "--", "true")
}

// TestMPIExecEndsWithJob: exec'd processes die when their job is cancelled
// or runs out of time, and the job's nodes are cleaned of them.
func TestMPIExecEndsWithJob(t *testing.T) {
	c := startDev(t, "--leaves", "2", "--nodes-per-leaf", "2")
	for _, end := range []string{"cancelled", "timeout"} {
		limit := "5m"
		if end == "timeout" {
			limit = "3s"
		}
		id := c.mpiAllocID("-N", "2", "-t", limit)
		run := c.mpiIbexBG("exec", "--job", id, "node002", "--", "sh", "-c", "sleep 300 & sleep 300")
		var groups []int
		mpiUntil(t, 10*time.Second, "the exec'd process", func() bool { groups = c.mpiExecGroups(id, "node002"); return len(groups) == 1 })
		if end == "cancelled" {
			c.must("cancel", id)
		}
		if code := run.wait(t, 20*time.Second); code != 137 {
			t.Fatalf("%s: exec exit code %d, want 137 (killed)\n%s", end, code, run.errb)
		}
		if !strings.Contains(run.errb.String(), "job "+id+" ended: "+end) {
			t.Fatalf("%s: exec's stderr %q does not say why", end, run.errb)
		}
		c.waitState(id, end)
		c.waitAllReady()
		if mpiGroupAlive(groups[0]) {
			t.Fatalf("%s: exec'd process group %d survived the job", end, groups[0])
		}
	}
}
