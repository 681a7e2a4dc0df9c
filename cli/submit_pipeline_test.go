package cli

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	ucli "github.com/urfave/cli/v2"
)

// TestPipelineDirectives: --dependency, --array, --hold, --begin, --wait
// and --parsable work as #SBATCH lines (switches without a value), and
// the command line wins.
func TestPipelineDirectives(t *testing.T) {
	dir := t.TempDir()
	job := filepath.Join(dir, "job.sh")
	script := "#!/bin/sh\n#SBATCH --array=1-100%10 -d afterok:12:13,singleton\n#SBATCH --hold\n#IBEX --begin now+1hour\n#SBATCH -W --parsable\nhostname\n"
	if err := os.WriteFile(job, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	var got *ucli.Context
	cmd := submitCmd()
	cmd.Action = func(c *ucli.Context) error {
		s, _, err := scriptFile(c.Args().Slice())
		if err != nil {
			return err
		}
		got = c
		return applyDirectives(c, c.Args().First(), s)
	}
	app := &ucli.App{Commands: []*ucli.Command{cmd}}
	if err := app.Run([]string{"ibex", "submit", "--array", "0-3", job}); err != nil {
		t.Fatal(err)
	}
	if got.String("array") != "0-3" || got.String("dependency") != "afterok:12:13,singleton" || !got.Bool("hold") ||
		got.String("begin") != "now+1hour" || !got.Bool("wait") || !got.Bool("parsable") {
		t.Fatalf("flags after directives: array %q dependency %q hold %v begin %q wait %v parsable %v", got.String("array"),
			got.String("dependency"), got.Bool("hold"), got.String("begin"), got.Bool("wait"), got.Bool("parsable"))
	}
	req, _, err := submitRequest(t, job)
	if err != nil {
		t.Fatal(err)
	}
	if err := pipelineRequest(got, req); err != nil || req.Array != "0-3" || !req.Hold || req.BeginTime == nil ||
		time.Until(req.BeginTime.AsTime()) < 59*time.Minute {
		t.Fatalf("request: %v, %v", req, err)
	}
}

func TestParseJobOrTask(t *testing.T) {
	for in, want := range map[string][3]any{"12": {uint64(12), 0, false}, "12_7": {uint64(12), 7, true}, " 3_0": {uint64(3), 0, true}} {
		id, task, isTask, err := parseJobOrTask(in)
		if err != nil || id != want[0] || task != want[1] || isTask != want[2] {
			t.Errorf("%q: %d %d %v %v", in, id, task, isTask, err)
		}
	}
	for _, bad := range []string{"12_", "12_x", "_7", "12_-1", "12_10000", "0_1"} {
		if _, _, _, err := parseJobOrTask(bad); err == nil {
			t.Errorf("%q accepted (%v)", bad, err)
		}
	}
}
