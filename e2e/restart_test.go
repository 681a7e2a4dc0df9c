package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKill9Restart kills ibexd with SIGKILL while jobs run and wait, then
// restarts it: every acknowledged job is still there, a job that kept running
// is adopted and completes, a job whose process vanished meanwhile fails with
// the reason, and the queued job runs afterwards.
func TestKill9Restart(t *testing.T) {
	c := startDev(t, "--leaves", "2", "--nodes-per-leaf", "4")
	survivor := jobID(t, c.must("submit", "-N", "2", "-t", "10m", "--", "sh", "-c", "sleep 3; echo survived"))
	victim := jobID(t, c.must("submit", "-N", "2", "-t", "10m", "--", "sleep", "300"))
	c.waitState(survivor, "running")
	c.waitState(victim, "running")
	queued := jobID(t, c.must("submit", "-N", "8", "-t", "10m", "--", "true"))
	alloc := strings.Fields(c.must("alloc", "--no-wait", "-N", "1", "-t", "1h"))[1]
	before := c.must("queue", "--all", "--json")

	c.stop(syscall.SIGKILL)
	// While ibexd is down, the victim's processes die.
	v := c.job0(victim)
	for _, n := range v {
		pid := readPid(t, filepath.Join(c.dir, "data", "jobs", "job-"+victim, n+".pid"))
		syscall.Kill(-pid, syscall.SIGKILL)
	}
	c.start()

	after := c.must("queue", "--all", "--json")
	for _, id := range []string{survivor, victim, queued, alloc} {
		if !strings.Contains(before, `"id": "`+id+`"`) || !strings.Contains(after, `"id": "`+id+`"`) {
			t.Fatalf("job %s lost across kill -9:\nbefore %s\nafter %s", id, before, after)
		}
	}
	j := c.waitState(victim, "failed")
	if !strings.Contains(j.Reason, "disappeared") {
		t.Fatalf("victim reason %q", j.Reason)
	}
	c.waitState(survivor, "completed")
	if logs := c.must("logs", survivor); strings.Count(logs, "survived") != 2 {
		t.Fatalf("survivor output: %q", logs)
	}
	c.must("release", alloc)
	c.waitState(queued, "completed")
}

// job0 returns a job's nodes from the state files, before the restart.
func (c *cluster) job0(id string) []string {
	matches, _ := filepath.Glob(filepath.Join(c.dir, "data", "jobs", "job-"+id, "*.pid"))
	var out []string
	for _, m := range matches {
		out = append(out, strings.TrimSuffix(filepath.Base(m), ".pid"))
	}
	if len(out) == 0 {
		c.t.Fatalf("no pid files for job %s", id)
	}
	return out
}

func readPid(t *testing.T, path string) int {
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err == nil {
				return pid
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid file %s: %v", path, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestGracefulRestartKeepsState restarts with SIGTERM and compares the state.
func TestGracefulRestartKeepsState(t *testing.T) {
	c := startDev(t)
	c.must("tenant", "create", "carol")
	id := jobID(t, c.must("submit", "-N", "1", "-t", "1m", "--", "true"))
	c.waitState(id, "completed")
	c.waitAllReady() // cleaning after the job is done, so nothing moves
	c.must("drain", "node005", "--reason", "fan")
	before := c.must("queue", "--all", "--json") + c.must("nodes", "--json") + c.must("tenant", "list")
	c.stop(syscall.SIGTERM)
	c.start()
	after := c.must("queue", "--all", "--json") + c.must("nodes", "--json") + c.must("tenant", "list")
	if before != after {
		t.Fatalf("state changed across restart:\n%s\n---\n%s", before, after)
	}
}
