package e2e

import (
	"encoding/json"
	"fmt"
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
	j := c.job(id)
	n := j.Nodes // where the scheduler put it, sorted
	out := c.must("exec", "--job", id, "--ntasks-per-node", "2", "--slurm-env", n[1], "--", "env")
	dir := c.mpiJobDir(id, n[1])
	for _, w := range []string{"IBEX_JOB_ID=" + id, "IBEX_NODELIST=" + j.Nodelist, "IBEX_NNODES=3", "IBEX_NODEID=1",
		"IBEX_NODENAME=" + n[1], "IBEX_TASKS_PER_NODE=2", "IBEX_NTASKS=6",
		"IBEX_HOSTFILE_OPENMPI=" + filepath.Join(dir, "hostfile-2.openmpi"),
		"IBEX_HOSTFILE_MPICH=" + filepath.Join(dir, "hostfile-2.mpich"),
		"SLURM_JOB_ID=" + id, "SLURM_JOB_NODELIST=" + j.Nodelist, "SLURM_NTASKS=6", "SLURM_NNODES=3",
		"SLURM_NTASKS_PER_NODE=2", "SLURM_NODEID=1"} {
		if !strings.Contains(out, "\n"+w+"\n") {
			t.Errorf("env lacks %s", w)
		}
	}
	if strings.Contains(out, "\nSLURM_PROCID=") {
		t.Errorf("env has SLURM_PROCID although a node runs several tasks")
	}
	// The partition's key, for ibex and in the MPI libraries' own variables.
	var part struct {
		PKey uint16 `json:"pkey"`
	}
	json.Unmarshal([]byte(c.must("show", "--json", id)), &part)
	for _, v := range []string{"IBEX_PKEY", "UCX_IB_PKEY", "OMPI_MCA_btl_openib_pkey", "MV2_DEFAULT_PKEY"} {
		switch want := fmt.Sprintf("\n%s=0x%04x\n", v, part.PKey); {
		case part.PKey != 0 && !strings.Contains(out, want):
			t.Errorf("env lacks %s", strings.TrimSpace(want))
		case part.PKey == 0 && strings.Contains(out, "\n"+v+"="):
			t.Errorf("env has %s although the job has no partition", v)
		}
	}
	if t.Failed() {
		t.Fatalf("env:\n%s", out)
	}
	want := ""
	for _, node := range n {
		want += node + " slots=1\n"
	}
	for _, node := range n {
		want += node + ":1\n"
	}
	if got := c.must("exec", "--job", id, n[2], "cat $IBEX_HOSTFILE_OPENMPI $IBEX_HOSTFILE_MPICH; pwd"); got != want+c.mpiJobDir(id, n[2])+"\n" {
		t.Fatalf("hostfiles and working directory: %q", got)
	}
	// From inside the job: IBEX_JOB_ID, IBEX_ADDR and IBEX_JOB_TOKEN are all
	// the nested CLI needs.
	nested := filepath.Join(binDir, "ibex") + " exec " + n[2] + ` -- sh -c 'echo direct $IBEX_NODENAME'; "$IBEX_EXEC_AGENT" -x -o BatchMode=yes ` + n[1] + ` 'echo agent $IBEX_NODENAME'`
	if got := c.must("exec", "--job", id, n[0], "--", "env", "XDG_CONFIG_HOME=/nonexistent", "sh", "-c", nested); got != "direct "+n[2]+"\nagent "+n[1]+"\n" {
		t.Fatalf("nested exec printed %q", got)
	}
	// The exit code is the remote command's, as with ssh.
	if _, _, code := c.ibex("exec", "--job", id, n[0], "exit 7"); code != 7 {
		t.Fatalf("exit code %d, want 7", code)
	}
	if log := c.must("logs", "--node", n[2], id); !strings.Contains(log, "direct "+n[2]) {
		t.Fatalf("exec output is not in the job's output on %s: %q", n[2], log)
	}
}

func TestMPIExecAuthorization(t *testing.T) {
	c := startDev(t, "--leaves", "2", "--nodes-per-leaf", "2")
	id := c.mpiAllocID("-N", "2", "-t", "5m")
	j := c.job(id)
	other := c.mpiAllocID("-N", "1", "-t", "5m")
	elsewhere := c.job(other).Nodes[0]
	c.fails(nil, fmt.Sprintf("node %q is not one of job %s's nodes (%s)", elsewhere, id, j.Nodelist), "exec", "--job", id, elsewhere, "--", "true")
	bob := "IBEX_TOKEN=" + strings.TrimSpace(c.must("tenant", "create", "bob"))
	c.fails([]string{bob}, "job "+id+" not found", "exec", "--job", id, j.Nodes[0], "--", "true")
	c.fails(nil, "which job?", "exec", j.Nodes[0], "--", "true")
	// A job's credential opens that job only.
	tok := strings.TrimSpace(c.must("exec", "--job", id, j.Nodes[0], "--", "sh", "-c", "echo $IBEX_JOB_TOKEN"))
	c.fails([]string{"IBEX_JOB_TOKEN=" + tok}, "not valid for job "+other, "exec", "--job", other, elsewhere, "--", "true")
	c.must("release", id)
	c.waitState(id, "completed")
	c.fails(nil, "is completed, not running", "exec", "--job", id, j.Nodes[0], "--", "true")
	c.fails([]string{"IBEX_JOB_TOKEN=" + tok}, "is completed, not running", "exec", "--job", id, j.Nodes[0], "--", "true")
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
		node := c.job(id).Nodes[1]
		run := c.mpiIbexBG("exec", "--job", id, node, "--", "sh", "-c", "setsid sleep 300 & sleep 300")
		var procs []int
		mpiUntil(t, 10*time.Second, "the exec'd processes", func() bool { procs = c.mpiNodeProcs(t, id, node); return len(procs) >= 3 })
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
		for _, pid := range procs {
			if procAlive(pid) {
				t.Fatalf("%s: exec'd process %d (of %v) survived the job", end, pid, procs)
			}
		}
	}
}
