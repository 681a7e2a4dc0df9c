package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/internal/execrun"
)

// jobWorkdir makes a directory the job user can use: jobs run as nobody
// when ibexd runs as root, and a test's temporary directory is 0700.
func jobWorkdir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Dir(dir), dir} {
		os.Chmod(d, 0o755)
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(work, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	return work
}

// TestSubmitEnvironmentAndFiles submits as a Slurm user would, from a
// working directory, with -o/-e patterns and --export, and reads what the
// job saw and wrote on its nodes; then the refusals.
func TestSubmitEnvironmentAndFiles(t *testing.T) {
	t.Setenv("LEAK_PROBE", "ibexd-and-shell") // in ibexd's environment and the CLI's
	c := startDev(t)
	work := jobWorkdir(t)
	body := `echo "$MYVAR|$EXTRA|$SLURM_JOB_ID|$SLURM_JOB_NAME|$SLURM_NNODES|$SLURM_PROCID|$SLURM_SUBMIT_DIR|$(pwd)"; echo err-$IBEX_NODEID >&2`

	// Submitted from work (the default --chdir), as sbatch is.
	cmd := exec.Command(filepath.Join(binDir, "ibex"), "submit", "-N", "2", "-t", "2m", "-J", "envjob", "-o", "out.%j.%N", "-e", "err.%x.%j",
		"--export=ALL,EXTRA=x", "--", "sh", "-c", body)
	cmd.Dir = work
	cmd.Env = c.cliEnv("MYVAR=from shell")
	out, errb, err := execrun.Output(cmd)
	if err != nil {
		t.Fatalf("submit: %v: %s", err, errb)
	}
	id := jobID(t, string(out))
	j := c.waitState(id, "completed")
	for i, n := range j.Nodes {
		b, err := os.ReadFile(filepath.Join(work, "out."+id+"."+n))
		want := "from shell|x|" + id + "|envjob|2|" + string(rune('0'+i)) + "|" + work + "|" + work + "\n"
		if err != nil || string(b) != want {
			t.Errorf("%s's -o file: %q, %v; want %q", n, b, err, want)
		}
	}
	b, err := os.ReadFile(filepath.Join(work, "err.envjob."+id))
	if lines := strings.Fields(string(b)); err != nil || !slices.Equal(slices.Sorted(slices.Values(lines)), []string{"err-0", "err-1"}) {
		t.Errorf("merged -e file: %q, %v", b, err)
	}
	// ibex logs reads the -o/-e files on the nodes.
	logs := c.must("logs", id)
	for _, w := range []string{"==> node001 <==\nfrom shell|x|" + id, "==> node001 (stderr) <==\n", "err-"} {
		if !strings.Contains(logs, w) {
			t.Errorf("logs lack %q:\n%s", w, logs)
		}
	}
	if strings.Count(logs, "err-0") != 1 {
		t.Errorf("the shared -e file is not shown once, under the first node:\n%s", logs)
	}
	show := c.must("show", id)
	for _, w := range []string{"WorkDir:     " + work, "StdOut:      out.%j.%N", "StdErr:      err.%x.%j"} {
		if !strings.Contains(show, w) {
			t.Errorf("show lacks %q:\n%s", w, show)
		}
	}

	// Without -o/-e, the nodes keep stdout and stderr apart for ibex logs.
	id = jobID(t, c.must("submit", "-t", "1m", "-D", work, "--", "sh", "-c", "echo out1; echo err1 >&2; echo out2"))
	c.waitState(id, "completed")
	if got, n := c.must("logs", id), c.job(id).Nodes[0]; got != "out1\nout2\n==> "+n+" (stderr) <==\nerr1\n" {
		t.Errorf("logs:\n%s", got)
	}
	if got := c.must("logs", "--stderr", id); got != "err1\n" {
		t.Errorf("logs --stderr: %q", got)
	}
	if got := c.must("logs", "--stdout", id); got != "out1\nout2\n" {
		t.Errorf("logs --stdout: %q", got)
	}
	c.fails(nil, "exclude each other", "logs", "--stdout", "--stderr", id)

	// -f follows both streams as they grow, labelling each switch.
	id = jobID(t, c.must("submit", "-t", "1m", "-D", work, "--", "sh", "-c", "echo a; sleep 1; echo b >&2; sleep 1; echo c"))
	got := c.must("logs", "-f", id)
	if n := c.job(id).Nodes[0]; got != "a\n==> "+n+" (stderr) <==\nb\n==> "+n+" <==\nc\n" {
		t.Errorf("logs -f:\n%s", got)
	}

	// --export=NONE: nothing of the shell's, nor of ibexd's, environment.
	id = jobID(t, c.must("submit", "-N", "1", "-t", "1m", "-D", work, "--export=NONE", "--", "env"))
	c.waitState(id, "completed")
	allowed := []string{"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "TZ", "PWD", "SHLVL", "_", "OLDPWD"}
	for _, line := range strings.Split(strings.TrimSpace(c.must("logs", id)), "\n") {
		k, _, _ := strings.Cut(line, "=")
		if !slices.Contains(allowed, k) && !strings.HasPrefix(k, "IBEX_") && !strings.HasPrefix(k, "SLURM") {
			t.Errorf("the job's environment has %q", line)
		}
		if strings.Contains(line, "ibexd-and-shell") || strings.HasPrefix(k, "IBEX_U") || k == "IBEX_TOKEN" || k == "IBEX_CHDIR_" {
			t.Errorf("leaked into the job: %q", line)
		}
	}
	id = jobID(t, c.must("submit", "-t", "1m", "-D", work, "--no-slurm-env", "--", "sh", "-c", "env | grep -c ^SLURM_ || true"))
	c.waitState(id, "completed")
	if got := strings.TrimSpace(c.must("logs", id)); got != "0" {
		t.Errorf("--no-slurm-env: %s SLURM_ variables", got)
	}

	// A working directory the node lacks fails the job, saying so.
	id = jobID(t, c.must("submit", "-t", "1m", "-D", "/nonexistent/dir", "--", "true"))
	j = c.waitState(id, "failed")
	if !strings.Contains(j.Reason, "/nonexistent/dir does not exist on node") {
		t.Errorf("reason %q", j.Reason)
	}

	// Refused before anything is submitted.
	c.fails(nil, "set by ibex", "submit", "--export=IBEX_JOB_ID=1", "--", "true")
	c.fails(nil, "not a variable name", "submit", "--export=1X=2", "--", "true")
	c.fails(nil, "is not a pattern escape", "submit", "-o", "out.%q", "--", "true")
	c.fails([]string{"HUGE=" + strings.Repeat("x", 70<<10)}, "over 64 KiB", "submit", "--", "true")
}
