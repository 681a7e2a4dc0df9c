package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ucli "github.com/urfave/cli/v2"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

func TestParseDirectives(t *testing.T) {
	script := `#!/bin/bash
# an ordinary comment
#SBATCH -N 2 --time=10
#SBATCH -J "my job"   # trailing comment
#IBEX --switches 1@5m -C gpu,a100

#SBATCHX -N 99
srun hostname
#SBATCH -N 7
`
	ds, unknown, err := ParseDirectives(script)
	if err != nil || len(unknown) != 0 {
		t.Fatalf("ParseDirectives: %v, unknown %v", err, unknown)
	}
	got := map[string]string{}
	for _, d := range ds {
		got[d.Flag] = d.Value
	}
	want := map[string]string{"nodes": "2", "time": "10", "name": "my job", "switches": "1@5m", "constraint": "gpu,a100"}
	if len(got) != len(want) {
		t.Fatalf("directives %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}

	_, unknown, err = ParseDirectives("#!/bin/sh\n#SBATCH --mem=4G --exclusive\n#SBATCH --frobnicate\necho\n")
	if err != nil || len(unknown) != 3 || !strings.Contains(unknown[0], "line 2") || !strings.Contains(unknown[0], "does not support") ||
		!strings.Contains(unknown[2], "unknown option") {
		t.Fatalf("unsupported options: %q, %v", unknown, err)
	}
	for _, bad := range []string{"#SBATCH -N\n", "#SBATCH nodes=2\n", "#SBATCH -J 'open\n"} {
		if _, _, err := ParseDirectives(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzParseDirectives(f *testing.F) {
	f.Add("#!/bin/sh\n#SBATCH -N 2 -t 10\n#IBEX -J 'a b'\necho\n")
	f.Add("#SBATCH --array=1-3%2 -o x\n")
	f.Fuzz(func(t *testing.T, s string) {
		ds, _, err := ParseDirectives(s)
		if err != nil {
			return
		}
		for _, d := range ds {
			if d.Flag == "" || d.Line < 1 {
				t.Fatalf("bad directive %+v", d)
			}
		}
	})
}

// submitRequest runs `ibex submit ARGS` up to the request it would send.
func submitRequest(t *testing.T, args ...string) (*pb.SubmitRequest, string, error) {
	t.Helper()
	cmd := submitCmd()
	var req *pb.SubmitRequest
	cmd.Action = func(c *ucli.Context) error {
		script, _, err := scriptFile(c.Args().Slice())
		if err != nil {
			return err
		}
		if err := applyDirectives(c, c.Args().First(), script); err != nil {
			return err
		}
		req, err = jobRequest(c, false)
		return err
	}
	var stderr bytes.Buffer
	app := &ucli.App{Commands: []*ucli.Command{cmd}, ErrWriter: &stderr, Writer: &bytes.Buffer{}}
	err := app.Run(append([]string{"ibex", "submit"}, args...))
	return req, stderr.String(), err
}

// TestDirectivesAndFlags: directives set the options, the command line
// wins, and an unsupported directive refuses the script unless told to
// warn.
func TestDirectivesAndFlags(t *testing.T) {
	dir := t.TempDir()
	job := filepath.Join(dir, "job.sh")
	if err := os.WriteFile(job, []byte("#!/bin/sh\n#SBATCH -N 2 -t 10 -J from-script\nhostname\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	req, _, err := submitRequest(t, job)
	if err != nil || req.NumNodes != 2 || req.TimeLimit.AsDuration().Minutes() != 10 || req.Name != "from-script" {
		t.Fatalf("directives alone: %v, %v", req, err)
	}
	req, _, err = submitRequest(t, "-N", "3", "--job-name", "cli", job)
	if err != nil || req.NumNodes != 3 || req.Name != "cli" || req.TimeLimit.AsDuration().Minutes() != 10 {
		t.Fatalf("flags must win over directives: %v, %v", req, err)
	}

	arr := filepath.Join(dir, "array.sh")
	if err := os.WriteFile(arr, []byte("#!/bin/sh\n#SBATCH -N 2\n#SBATCH --mem=4G\nhostname\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := submitRequest(t, arr); err == nil || !strings.Contains(err.Error(), "--mem=4G") || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("unsupported directive: err = %v", err)
	}
	req, stderr, err := submitRequest(t, "--ignore-unknown-directives", arr)
	if err != nil || req.NumNodes != 2 || !strings.Contains(stderr, "warning") || !strings.Contains(stderr, "--mem=4G") {
		t.Fatalf("--ignore-unknown-directives: %v, %q, %v", req, stderr, err)
	}
}

// TestQueueFilter: bad filter values are errors, not empty listings.
func TestQueueFilter(t *testing.T) {
	run := func(args ...string) (*jobFilter, error) {
		cmd := queueCmd()
		var f *jobFilter
		cmd.Action = func(c *ucli.Context) (err error) { f, err = queueFilter(c); return err }
		app := &ucli.App{Commands: []*ucli.Command{cmd}, Writer: &bytes.Buffer{}, ErrWriter: &bytes.Buffer{}}
		return f, app.Run(append([]string{"ibex", "queue"}, args...))
	}
	if _, err := run("--state", "bogus"); err == nil || !strings.Contains(err.Error(), "not a job state") {
		t.Fatalf("--state bogus: %v", err)
	}
	if _, err := run("--jobs", "1,x"); err == nil {
		t.Fatal("--jobs 1,x accepted")
	}
	f, err := run("--state", "pending,RUNNING", "-u", "alice", "--jobs", "3,5")
	if err != nil || len(f.states) != 2 || f.states[1] != "running" {
		t.Fatalf("filter: %+v, %v", f, err)
	}
	if !f.match(&pb.Job{Id: 3, Tenant: "alice"}) || f.match(&pb.Job{Id: 4, Tenant: "alice"}) || f.match(&pb.Job{Id: 5, Tenant: "bob"}) {
		t.Fatal("filter matches the wrong jobs")
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"24h": now.Add(-24 * time.Hour), "7d": now.Add(-7 * 24 * time.Hour), "90": now.Add(-90 * time.Minute),
		"2026-12-01T00:00:00Z": time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
	} {
		got, err := parseSince("since", in, now)
		if err != nil || !got.AsTime().Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got.AsTime(), err, want)
		}
	}
	for _, bad := range []string{"yesterday", "-3d", "0d", "12/01/2026"} {
		if _, err := parseSince("since", bad, now); err == nil {
			t.Errorf("parseSince(%q) accepted", bad)
		}
	}
}

// TestCompletion: the scripts are printed, and the CLI answers the
// completion protocol they use with commands and flags.
func TestCompletion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main([]string{"ibex", "completion", "bash"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "complete -o bashdefault") {
		t.Fatalf("completion bash: %d %q %q", code, out.String(), errb.String())
	}
	out.Reset()
	if code := Main([]string{"ibex", "completion", "fish"}, &out, &errb); code == 0 {
		t.Fatal("completion fish accepted")
	}
	// urfave/cli reads os.Args to decide between commands and flags.
	complete := func(args ...string) {
		saved := os.Args
		defer func() { os.Args = saved }()
		os.Args = args
		Main(args, &out, &errb)
	}
	out.Reset()
	complete("ibex", "--generate-bash-completion")
	if !strings.Contains(out.String(), "history\n") || !strings.Contains(out.String(), "submit\n") {
		t.Fatalf("command completion: %q", out.String())
	}
	out.Reset()
	complete("ibex", "queue", "--st", "--generate-bash-completion")
	if !strings.Contains(out.String(), "--state") {
		t.Fatalf("flag completion: %q", out.String())
	}
}
