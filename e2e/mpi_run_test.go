package e2e

import (
	"fmt"
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
)

// Real MPI: testdata/mpi/allreduce.c built with each MPI's mpicc and run by
// `ibex run` over simulated nodes, the runtimes' daemons started through
// ibexd (`ibex exec` as their rsh/ssh agent). Debian: apt-get install
// openmpi-bin libopenmpi-dev mpich.

// mpiFlavours maps each MPI to its compiler wrapper; Debian installs both
// side by side and points plain mpicc at one of them.
var mpiFlavours = []struct{ name, cc string }{
	{"openmpi", "mpicc.openmpi"},
	{"mpich", "mpicc.mpich"},
}

// mpiProgram builds the test program for one MPI, or skips the test
// loudly (also without -v) when that MPI is not installed.
func mpiProgram(t *testing.T, flavour, cc string) string {
	t.Helper()
	if _, err := exec.LookPath(cc); err != nil {
		msg := fmt.Sprintf("SKIP %s: %s not found, so %s is not tested (Debian: apt-get install openmpi-bin libopenmpi-dev mpich)", t.Name(), cc, flavour)
		fmt.Fprintln(os.Stderr, msg)
		t.Skip(msg)
	}
	// The program is the tenant's: jobs run as nobody, so it must be
	// reachable by them (t.TempDir makes 0700 directories).
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "allreduce-"+flavour)
	src, _ := filepath.Abs("../testdata/mpi/allreduce.c")
	if out, err := exec.Command(cc, "-O2", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cc, err, out)
	}
	return bin
}

// startMPIDev starts ibexd on a small fabric. Open MPI refuses to run as
// root unless told it may; CI runs the tests as root. ibexd passes its
// environment on to the jobs' processes.
func startMPIDev(t *testing.T) *cluster {
	t.Setenv("OMPI_ALLOW_RUN_AS_ROOT", "1")
	t.Setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
	return startDev(t, "--leaves", "2", "--nodes-per-leaf", "4")
}

var mpiRankLine = regexp.MustCompile(`^rank=(\d+) size=(\d+) node=(\S+) sum=(\d+)$`)

// checkRanks checks the program's output: every rank of size reported
// once, on one of the job's nodes, perNode ranks on each, and the
// allreduce of the ranks is 0+1+...+size-1.
func mpiCheckRanks(t *testing.T, out string, nodes []string, perNode int) {
	t.Helper()
	size := len(nodes) * perNode
	seen := map[int]bool{}
	onNode := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		m := mpiRankLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("unexpected output line %q in:\n%s", line, out)
		}
		rank, _ := strconv.Atoi(m[1])
		if seen[rank] || m[2] != strconv.Itoa(size) || m[4] != strconv.Itoa(size*(size-1)/2) || !slices.Contains(nodes, m[3]) {
			t.Fatalf("bad line %q (size %d, nodes %v):\n%s", line, size, nodes, out)
		}
		seen[rank] = true
		onNode[m[3]]++
	}
	if len(seen) != size {
		t.Fatalf("%d of %d ranks reported:\n%s", len(seen), size, out)
	}
	for _, n := range nodes {
		if onNode[n] != perNode {
			t.Fatalf("%d ranks on %s, want %d:\n%s", onNode[n], n, perNode, out)
		}
	}
}

// TestMPIRun runs 8 ranks on 4 nodes through `ibex run`, then 3 ranks with
// the Slurm variables set through `ibex mpirun` in an allocation, with
// each installed MPI.
func TestMPIRun(t *testing.T) {
	for _, f := range mpiFlavours {
		t.Run(f.name, func(t *testing.T) {
			bin := mpiProgram(t, f.name, f.cc)
			c := startMPIDev(t)
			out, errs, code := c.ibex("run", "-N", "4", "--ntasks-per-node", "2", "--mpi", f.name, "-t", "5m", "--", bin)
			if code != 0 {
				t.Fatalf("ibex run: exit %d\nstdout:\n%s\nstderr:\n%s\nibexd:\n%s", code, out, errs, c.log)
			}
			j := c.job(mpiRunJobID(t, errs))
			if j.State != "completed" || len(j.Nodes) != 4 || !j.HasExitCode || j.ExitCode != 0 {
				t.Fatalf("job after ibex run: %+v", j)
			}
			mpiCheckRanks(t, out, j.Nodes, 2)

			// --mpi auto tells the MPI from the program; --slurm-env must
			// not make either runtime try srun.
			id := c.mpiAllocID("-N", "3", "-t", "5m")
			out, errs, code = c.ibex("mpirun", id, "--slurm-env", "--", bin)
			if code != 0 {
				t.Fatalf("ibex mpirun: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
			}
			mpiCheckRanks(t, out, c.job(id).Nodes, 1)
			if j := c.job(id); j.State != "running" {
				t.Fatalf("the allocation is %s after mpirun; it should stay until released", j.State)
			}
			c.must("release", id)
			c.waitAllReady()
		})
	}
}

// TestMPINodeLost kills every process of a running MPI job on its last
// node, the way a node crash would: the runtime's daemon there and the
// ranks under it die of a signal ibex did not send. The job must end as
// failed saying which node was lost, `ibex run` must exit non-zero, and
// no process of the job may survive on any node (MPICH's ranks live in
// process groups of their own).
func TestMPINodeLost(t *testing.T) {
	for _, f := range mpiFlavours {
		t.Run(f.name, func(t *testing.T) {
			bin := mpiProgram(t, f.name, f.cc)
			c := startMPIDev(t)
			run := c.mpiIbexBG("run", "-N", "3", "--mpi", f.name, "-t", "5m", "--", bin, "sleep", "120")
			mpiUntil(t, 30*time.Second, "every rank's line", func() bool { return strings.Count(run.stdout.String(), "rank=") == 3 })
			id := mpiRunJobID(t, run.errb.String())
			j := c.job(id)
			last := j.Nodes[len(j.Nodes)-1]
			procs := c.mpiNodeProcs(t, id, last)
			if len(procs) < 2 {
				t.Fatalf("want the daemon and a rank on %s, found processes %v", last, procs)
			}
			for _, pid := range procs {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			if code := run.wait(t, 60*time.Second); code == 0 {
				t.Fatalf("ibex run exited 0 after losing a node\nstderr:\n%s", run.errb)
			}
			j = c.waitState(id, "failed")
			if !strings.Contains(j.Reason, "lost node "+last) {
				t.Fatalf("reason %q does not name the lost node %s\nibexd:\n%s", j.Reason, last, c.log)
			}
			if !strings.Contains(run.errb.String(), "job "+id+" failed: lost node "+last) {
				t.Fatalf("ibex run did not report the failure:\n%s", run.errb)
			}
			c.waitAllReady()
			for _, n := range j.Nodes {
				if p := c.mpiNodeProcs(t, id, n); len(p) != 0 {
					t.Fatalf("processes %v of job %s left on %s", p, id, n)
				}
			}
		})
	}
}
