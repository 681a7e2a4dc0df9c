package e2e

import (
	"strings"
	"syscall"
	"testing"
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
	victimNodes := c.job(victim).Nodes

	c.stop(syscall.SIGKILL)
	// While ibexd and its simulated agents are down, the victim's
	// processes die (all of them: its cgroups on both nodes). The jobs'
	// processes outlive the agents, as on a real node.
	for _, n := range victimNodes {
		procs := c.mpiNodeProcs(t, victim, n)
		if len(procs) == 0 {
			t.Fatalf("no processes of job %s on %s while ibexd is down", victim, n)
		}
		for _, pid := range procs {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	c.start()

	after := c.must("queue", "--all", "--json")
	for _, id := range []string{survivor, victim, queued, alloc} {
		if !strings.Contains(before, `"id": `+id+`,`) || !strings.Contains(after, `"id": `+id+`,`) {
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
