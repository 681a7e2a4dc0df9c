package nodeexec

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/nodeagent/localexec"
)

// TestStartTasksRanksAndLabels: node 1 of 2 runs ranks 2 and 3 of 4,
// each told its rank as srun tells it, lines labelled, a partial last
// line flushed with its label, and the highest exit code reported.
func TestStartTasksRanksAndLabels(t *testing.T) {
	jobs, _ := localexec.New(t.TempDir())
	var c collector
	tk := task("/bin/sh", "-c", `echo "$SLURM_PROCID/$SLURM_NTASKS $SLURM_LOCALID $SLURM_NODEID $IBEX_PROCID"; printf tail; exit $SLURM_LOCALID`)
	tk.TasksPerNode = 2
	p, err := StartTasks(jobs, "t1", tk, true, Options{}, c.emit)
	if err != nil {
		t.Fatal(err)
	}
	final, _ := p.Wait()
	if !final.Done || final.ExitCode != 1 {
		t.Fatalf("final %v, want exit 1 (the highest task's)", final)
	}
	out, _, _ := c.output()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	slices.Sort(lines)
	want := []string{"2: 2/4 0 1 2", "2: tail", "3: 3/4 1 1 3", "3: tail"}
	if !slices.Equal(lines, want) {
		t.Fatalf("output %q, want the lines %q", out, want)
	}
}

func TestProbe(t *testing.T) {
	root := t.TempDir()
	jobs, _ := localexec.New(root)
	script := filepath.Join(root, "run.sh")
	os.WriteFile(script, []byte("#!/bin/sh\necho hi\n"), 0o755)
	for prog, want := range map[string]string{"sh": NotMPI, script: NotMPI} {
		if got, err := Probe(jobs, task(prog), Options{}); err != nil || got != want {
			t.Errorf("Probe(%s) = %q, %v; want %q", prog, got, err, want)
		}
	}
	for _, prog := range []string{"no-such-program-here", filepath.Join(root, "missing"), root} {
		if got, err := Probe(jobs, task(prog), Options{}); err == nil {
			t.Errorf("Probe(%s) = %q, want an error", prog, got)
		}
	}
}
