package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestRunPlainTasks runs programs that are not MPI as srun runs them:
// N×K tasks with their ranks, output labelled or merged, the highest exit
// code as ibex run's; a command refused by its flags allocates nothing;
// an MPI program (told apart on the node) still runs with mpirun.
func TestRunPlainTasks(t *testing.T) {
	c := startMPIDev(t)

	// Refused before anything is allocated.
	c.fails(nil, "at most 1024", "run", "--ntasks-per-node", "2000", "--", "hostname")
	c.fails(nil, "--label labels plain tasks", "run", "-l", "--mpi", "openmpi", "--", "hostname")
	c.fails(nil, "mpirun launches MPI programs", "mpirun", "1", "--mpi", "none", "--", "hostname")
	if out := c.must("queue", "--all", "--json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("a refused run allocated:\n%s", out)
	}

	out, errs, code := c.ibex("run", "-N", "2", "--ntasks-per-node", "3", "-l", "-t", "5m", "--",
		"sh", "-c", `echo "$SLURM_PROCID/$SLURM_NTASKS local=$SLURM_LOCALID node=$SLURM_NODEID ibex=$IBEX_PROCID"`)
	if code != 0 {
		t.Fatalf("ibex run: exit %d\n%s\n%s", code, out, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var want []string
	for r := 0; r < 6; r++ {
		want = append(want, fmt.Sprintf("%d: %d/6 local=%d node=%d ibex=%d", r, r, r%3, r/3, r))
	}
	slices.Sort(lines)
	if !slices.Equal(lines, want) {
		t.Fatalf("tasks said:\n%s\nwant:\n%s", out, strings.Join(want, "\n"))
	}
	if j := c.job(mpiRunJobID(t, errs)); j.State != "completed" {
		t.Fatalf("job after ibex run: %+v", j)
	}

	// The habit from the issue: hostname on two nodes, unlabelled.
	out, errs, code = c.ibex("run", "-N", "2", "-t", "5m", "--", "hostname")
	if code != 0 || len(strings.Split(strings.TrimSpace(out), "\n")) != 2 {
		t.Fatalf("ibex run -- hostname: exit %d\n%s\n%s", code, out, errs)
	}

	// The highest exit code of the tasks is ibex run's, and fails the job.
	_, errs, code = c.ibex("run", "-N", "2", "--ntasks-per-node", "2", "-t", "5m", "--", "sh", "-c", "exit $SLURM_PROCID")
	if code != 3 {
		t.Fatalf("exit %d, want 3 (the highest task's)\n%s", code, errs)
	}
	if j := c.job(mpiRunJobID(t, errs)); j.State != "failed" || j.ExitCode != 3 || !strings.Contains(j.Reason, "exited with code 3") {
		t.Fatalf("job %+v", j)
	}

	// An MPI program, told apart on the node (--mpi auto), runs with mpirun.
	bin := mpiProgram(t, "openmpi", "mpicc.openmpi")
	out, errs, code = c.ibex("run", "-N", "2", "--ntasks-per-node", "2", "-t", "5m", "--", bin)
	if code != 0 {
		t.Fatalf("ibex run (MPI, auto): exit %d\n%s\n%s", code, out, errs)
	}
	mpiCheckRanks(t, out, c.job(mpiRunJobID(t, errs)).Nodes, 2)
	c.waitAllReady()
}
