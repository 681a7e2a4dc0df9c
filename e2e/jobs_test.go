package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSubmitRunsOnEveryNode(t *testing.T) {
	c := startDev(t)
	id := jobID(t, c.must("submit", "-N", "4", "-t", "5m", "--name", "hello", "--", "sh", "-c", "echo $IBEX_NODEID/$IBEX_NNODES $IBEX_NODELIST job=$IBEX_JOB_ID"))
	j := c.waitState(id, "completed")
	if len(j.Nodes) != 4 || j.Nodelist != "node[001-004]" || !j.HasExitCode || j.ExitCode != 0 {
		t.Fatalf("completed job: %+v", j)
	}
	logs := c.must("logs", id)
	for i, n := range j.Nodes {
		want := []string{"==> " + n + " <==", string(rune('0'+i)) + "/4 node[001-004] job=" + id}
		for _, w := range want {
			if !strings.Contains(logs, w) {
				t.Fatalf("logs lack %q:\n%s", w, logs)
			}
		}
	}
	out := c.must("show", id)
	for _, w := range []string{"State:       completed", "NodeList:    node[001-004]", "Tenant:      admin", "ExitCode:    0"} {
		if !strings.Contains(out, w) {
			t.Fatalf("show lacks %q:\n%s", w, out)
		}
	}
	c.waitAllReady()
}

func TestBatchScriptAndFailure(t *testing.T) {
	c := startDev(t)
	script := filepath.Join(t.TempDir(), "job.sh")
	os.WriteFile(script, []byte("#!/bin/sh\necho from script\nexit 7\n"), 0o644)
	id := jobID(t, c.must("submit", "-N", "2", "-t", "1m", script))
	j := c.waitState(id, "failed")
	if j.ExitCode != 7 || !strings.Contains(j.Reason, "exit code 7") {
		t.Fatalf("failed job: %+v", j)
	}
	if logs := c.must("logs", "--node", j.Nodes[1], id); strings.TrimSpace(logs) != "from script" {
		t.Fatalf("node log %q", logs)
	}
}

func TestTimeLimitKills(t *testing.T) {
	c := startDev(t)
	id := jobID(t, c.must("submit", "-N", "1", "-t", "2s", "--", "sleep", "300"))
	j := c.waitState(id, "timeout")
	if !strings.Contains(j.Reason, "time limit") {
		t.Fatalf("reason %q", j.Reason)
	}
	c.waitAllReady()
}

func TestCancelKillsAndCleans(t *testing.T) {
	c := startDev(t)
	id := jobID(t, c.must("submit", "-N", "3", "-t", "10m", "--", "sleep", "300"))
	c.waitState(id, "running")
	if out := c.must("queue"); !strings.Contains(out, "running") {
		t.Fatalf("queue:\n%s", out)
	}
	c.must("cancel", id)
	j := c.waitState(id, "cancelled")
	if !strings.Contains(j.Reason, "cancelled by admin") {
		t.Fatalf("reason %q", j.Reason)
	}
	c.waitAllReady()
	c.fails(nil, "already cancelled", "cancel", id)
}

func TestAllocRelease(t *testing.T) {
	c := startDev(t)
	out := c.must("alloc", "-N", "8", "-t", "1h")
	if !strings.Contains(out, "granted: node[001-008]") {
		t.Fatalf("alloc printed %q", out)
	}
	id := strings.Fields(out)[1]
	busy := 0
	for _, n := range c.nodes() {
		if n.State == "allocated" {
			busy++
		}
	}
	if busy != 8 {
		t.Fatalf("%d nodes allocated, want 8", busy)
	}
	// A second allocation that cannot fit waits in the queue.
	big := strings.Fields(c.must("alloc", "--no-wait", "-N", "30", "-t", "1h"))[1]
	if j := c.job(big); j.State != "pending" {
		t.Fatalf("oversubscribing allocation is %s", j.State)
	}
	c.must("release", id)
	c.waitState(id, "completed")
	c.waitState(big, "running")
	c.must("release", big)
	c.waitAllReady()
}

func TestBadInput(t *testing.T) {
	c := startDev(t)
	c.fails(nil, "cluster has 32", "submit", "-N", "40", "--", "true")
	c.fails(nil, "at least 1", "submit", "-N", "0", "--", "true")
	c.fails(nil, "at least 1", "submit", "-N", "-3", "--", "true")
	c.fails(nil, "time limit", "submit", "-t", "soon", "--", "true")
	c.fails(nil, "not found", "show", "999")
	c.fails(nil, "not a job id", "cancel", "abc")
	c.fails(nil, "not found", "drain", "node999", "--reason", "x")
	c.fails([]string{"IBEX_TOKEN=ibex_wrong"}, "token not recognised", "queue")
	c.fails([]string{"IBEX_ADDR=127.0.0.1:1"}, "cannot reach ibexd", "queue")
	c.fails(nil, "needs a script or a command", "submit", "-N", "1")
	if out := c.must("queue", "--all", "--json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("bad input created jobs: %s", out)
	}
}

func TestTenantIsolation(t *testing.T) {
	c := startDev(t)
	alice := "IBEX_TOKEN=" + strings.TrimSpace(c.must("tenant", "create", "alice"))
	bob := "IBEX_TOKEN=" + strings.TrimSpace(c.must("tenant", "create", "bob"))
	out, _, code := c.ibexEnv([]string{alice}, "submit", "-N", "2", "-t", "10m", "--", "sleep", "300")
	if code != 0 {
		t.Fatal(out)
	}
	id := jobID(t, out)
	c.waitState(id, "running")
	c.fails([]string{bob}, "not found", "show", id)
	c.fails([]string{bob}, "not found", "cancel", id)
	c.fails([]string{bob}, "not found", "logs", id)
	c.fails([]string{bob}, "admin", "drain", "node001", "--reason", "mine now")
	c.fails([]string{bob}, "admin", "tenant", "create", "eve")
	if q, _, _ := c.ibexEnv([]string{bob}, "queue", "--all"); strings.Contains(q, "alice") {
		t.Fatalf("bob sees alice's jobs:\n%s", q)
	}
	nodes, _, _ := c.ibexEnv([]string{bob}, "nodes")
	if strings.Contains(nodes, "alice") || !strings.Contains(nodes, "(other)") {
		t.Fatalf("bob's node view leaks or hides too much:\n%s", nodes)
	}
	if j := c.job(id); j.State != "running" || j.Tenant != "alice" {
		t.Fatalf("after bob's attempts: %+v", j)
	}
	if _, _, code := c.ibexEnv([]string{alice}, "cancel", id); code != 0 {
		t.Fatal("alice cannot cancel her own job")
	}
	c.waitState(id, "cancelled")
}

func TestDrainUndrain(t *testing.T) {
	c := startDev(t, "--leaves", "1", "--nodes-per-leaf", "2")
	c.must("drain", "node001", "--reason", "bad DIMM")
	c.fails(nil, "reason", "drain", "node002")
	id := jobID(t, c.must("submit", "-N", "2", "-t", "1m", "--", "true"))
	if out := c.must("nodes"); !strings.Contains(out, "drained") || !strings.Contains(out, "bad DIMM") {
		t.Fatalf("nodes:\n%s", out)
	}
	if j := c.job(id); j.State != "pending" {
		t.Fatalf("job ran on a drained node: %+v", j)
	}
	c.must("undrain", "node001")
	c.waitState(id, "completed")
}

// TestSwitchesPlacement: --switches=1 keeps a job on one leaf even when
// that means waiting, and bad forms are refused, under the default
// policy and under ibexd --policy ibex-slowdown.
func TestSwitchesPlacement(t *testing.T) {
	for _, policy := range []string{"ibex", "ibex-slowdown"} {
		t.Run(policy, func(t *testing.T) { testSwitchesPlacement(t, policy) })
	}
}

func testSwitchesPlacement(t *testing.T, policy string) {
	c := startDev(t, "--fabric", "off", "--leaves", "2", "--nodes-per-leaf", "4", "--policy", policy)
	// Leave one free node on each leaf: two free, but not on one leaf.
	a := strings.Fields(c.must("alloc", "-N", "3", "-t", "1h"))[1]
	c.must("alloc", "-N", "3", "-t", "1h")
	id := strings.Fields(c.must("alloc", "--no-wait", "-N", "2", "-t", "1h", "--switches", "1@1h"))[1]
	time.Sleep(time.Second)
	if j := c.job(id); j.State != "pending" {
		t.Fatalf("--switches 1@1h job with no leaf of 2 free nodes did not wait: %+v (leaves %v)", j, leavesOf(c, j.Nodes))
	}
	c.must("release", a)
	j := c.waitState(id, "running")
	if l := leavesOf(c, j.Nodes); len(l) != 1 {
		t.Fatalf("--switches 1 job spans leaves %v", l)
	}
	c.fails(nil, "--switches", "submit", "-N", "1", "--switches", "0", "--", "true")
	c.fails(nil, "--switches", "submit", "-N", "1", "--switches", "2@soon", "--", "true")
}

func leavesOf(c *cluster, nodes []string) map[string]bool {
	out := map[string]bool{}
	for _, n := range c.nodes() {
		for _, x := range nodes {
			if n.Name == x {
				out[n.Leaf] = true
			}
		}
	}
	return out
}

// TestFeatureConstraints: labelled nodes are the only ones a constrained
// job may get; asking for more than exist is refused at once.
func TestFeatureConstraints(t *testing.T) {
	c := startDev(t, "--fabric", "off")
	c.must("nodes", "label", "node030", "gpu,a100")
	c.must("nodes", "label", "node031", "gpu,a100")
	c.must("nodes", "label", "node002", "gpu")
	c.fails(nil, "the cluster has 2", "submit", "-N", "3", "-C", "gpu,a100", "--", "true")
	c.fails(nil, "feature", "nodes", "label", "node001", "bad label!")
	id := jobID(t, c.must("submit", "-N", "2", "-C", "a100", "-t", "1m", "--", "true"))
	j := c.waitState(id, "completed")
	if strings.Join(j.Nodes, ",") != "node030,node031" {
		t.Fatalf("a100 job ran on %v", j.Nodes)
	}
	if out := c.must("nodes"); !strings.Contains(out, "a100,gpu") {
		t.Fatalf("nodes lack the labels:\n%s", out)
	}
}
