package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPipelinesFromCLI drives #15.3 as a Slurm user would: an array with
// a throttle and its tasks' variables, a dependency on the whole array
// with submit --parsable --wait returning the job's exit code, a held
// array shown compactly in the queue and cancelled by task and as a
// whole, directives, and the refusals.
func TestPipelinesFromCLI(t *testing.T) {
	c := startDev(t)
	arr := strings.TrimSpace(c.must("submit", "--parsable", "-N", "1", "-t", "1m", "--array", "0-3%2", "--name", "sweep", "--",
		"sh", "-c", "echo task=$IBEX_ARRAY_TASK_ID slurm=$SLURM_ARRAY_TASK_ID of=$SLURM_ARRAY_TASK_COUNT array=$IBEX_ARRAY_JOB_ID"))
	if strings.ContainsAny(arr, " \n") || arr == "" {
		t.Fatalf("--parsable printed %q, want just the id", arr)
	}
	// Waits for every task of the array, then runs and exits with 3.
	out, errs, code := c.ibex("submit", "--parsable", "--wait", "-d", "afterok:"+arr, "-t", "1m", "--", "sh", "-c", "exit 3")
	if code != 3 {
		t.Fatalf("submit --wait: exit %d (stdout %q, stderr %q), want the job's 3", code, out, errs)
	}
	dep := strings.TrimSpace(out)
	if j := c.job(dep); j.State != "failed" || j.ExitCode != 3 {
		t.Fatalf("dependent job: %+v", j)
	}
	queue := c.must("queue", "--all", "-j", arr)
	for i := range 4 {
		if !strings.Contains(queue, arr+"_"+string(rune('0'+i))+" ") {
			t.Fatalf("queue -j %s lacks task %d:\n%s", arr, i, queue)
		}
	}
	if strings.Count(queue, "completed") != 4 {
		t.Fatalf("want 4 completed tasks:\n%s", queue)
	}
	logs := c.must("logs", arr) // the array's record is its last task, 3
	if !strings.Contains(logs, "task=3 slurm=3 of=4 array="+arr) {
		t.Fatalf("task 3's output: %q", logs)
	}

	// A held array waits compactly; cancel one task, then all of them.
	held := strings.TrimSpace(c.must("submit", "--parsable", "--hold", "--array", "1-100%10", "-t", "1m", "--", "true"))
	queue = c.must("queue")
	if !strings.Contains(queue, held+"_[1-100%10]") || !strings.Contains(queue, "(JobHeldUser)") {
		t.Fatalf("queue with a held array:\n%s", queue)
	}
	if got := c.must("cancel", held+"_7"); !strings.Contains(got, "Cancelled job "+held+"_7") {
		t.Fatalf("cancel %s_7: %q", held, got)
	}
	if queue = c.must("queue"); !strings.Contains(queue, held+"_[1-6,8-100%10]") {
		t.Fatalf("queue after cancelling task 7:\n%s", queue)
	}
	c.must("cancel", held)
	if j := c.job(held); j.State != "cancelled" {
		t.Fatalf("array after cancel: %+v", j)
	}

	// --hold and release-hold; --begin; directives.
	h := strings.TrimSpace(c.must("submit", "--parsable", "--hold", "-t", "1m", "--", "true"))
	if j := c.job(h); j.State != "pending" {
		t.Fatalf("held job: %+v", j)
	}
	c.must("release-hold", h)
	c.waitState(h, "completed")
	c.fails(nil, "only a pending job", "release-hold", h)
	later := strings.TrimSpace(c.must("submit", "--parsable", "--begin", "now+1hour", "-t", "1m", "--", "true"))
	waitReason(t, c, later, "BeginTime")
	script := filepath.Join(t.TempDir(), "job.sh")
	os.WriteFile(script, []byte("#!/bin/sh\n#SBATCH --array=5-6\n#SBATCH --dependency=afterany:"+later+"\n#SBATCH --parsable\necho $SLURM_ARRAY_TASK_ID\n"), 0o644)
	fromScript := strings.TrimSpace(c.must("submit", script))
	waitReason(t, c, fromScript, "Dependency")
	if q := c.must("queue", "-j", fromScript); !strings.Contains(q, fromScript+"_[5-6]") {
		t.Fatalf("array from directives:\n%s", q)
	}
	show := strings.Join(strings.Fields(c.must("show", fromScript)), " ")
	for _, want := range []string{"Reason: Dependency", "Dependency: afterany:" + later, "ArrayTasksPending: 5-6"} {
		if !strings.Contains(show, want) {
			t.Fatalf("show lacks %q:\n%s", want, show)
		}
	}
	// --wait on an array: every task, and the largest exit code.
	if _, errs, code := c.ibex("submit", "--wait", "--array", "1-2", "-t", "1m", "--", "sh", "-c", "exit $IBEX_ARRAY_TASK_ID"); code != 2 {
		t.Fatalf("submit --wait --array: exit %d (%s), want the largest task exit code, 2", code, errs)
	}

	// Refusals, each with its reason.
	c.fails(nil, "appears twice", "submit", "--array", "1-3,2", "--", "true")
	c.fails(nil, "above the largest, 9999", "submit", "--array", "0-10000", "--", "true")
	c.fails(nil, "not found", "submit", "--dependency", "afterok:99999", "--", "true")
	c.fails(nil, "'?'", "submit", "--dependency", "afterok:1?afterany:2", "--", "true")
	c.fails(nil, "--begin", "submit", "--begin", "someday", "--", "true")
	c.fails(nil, "not a job array", "cancel", h+"_1")
	c.fails(nil, "ARRAY_INDEX", "cancel", arr+"_x")
}

// waitReason polls until pending job id shows reason.
func waitReason(t *testing.T, c *cluster, id, reason string) {
	t.Helper()
	for range 100 {
		if j := c.job(id); j.State == "pending" && j.Reason == reason {
			return
		}
		c.must("queue") // a round trip between polls
	}
	t.Fatalf("job %s never showed reason %s: %+v", id, reason, c.job(id))
}
