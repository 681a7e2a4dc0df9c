package control

import (
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/pkeypool"
	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// TestJobLifecycle drives one job through the controller pass by pass and
// checks each step against what a user would see.
func TestJobLifecycle(t *testing.T) {
	for _, tc := range []struct {
		name   string
		withSM bool
		// world changes the executor after the job started.
		world      func(h *harness, id uint64, nodes []string)
		advance    time.Duration
		wantState  model.JobState
		wantReason string
		wantKilled bool
	}{
		{name: "exit 0 on every node completes", withSM: true,
			world: func(h *harness, id uint64, nodes []string) {
				for _, n := range nodes {
					h.exec.exit(id, n, 0)
				}
			}, wantState: model.JobCompleted},
		{name: "one non-zero exit fails with the node named", withSM: true,
			world: func(h *harness, id uint64, nodes []string) {
				h.exec.exit(id, nodes[0], 0)
				h.exec.exit(id, nodes[1], 3)
			}, wantState: model.JobFailed, wantReason: "exit code 3 on "},
		{name: "a lost process fails the job and kills the others",
			world: func(h *harness, id uint64, nodes []string) {
				h.exec.set(id, nodes[1], Status{Phase: Lost})
			}, wantState: model.JobFailed, wantReason: "disappeared without an exit status", wantKilled: true},
		{name: "the time limit kills and times out",
			advance: time.Hour, wantState: model.JobTimeout, wantReason: "time limit 1h0m0s reached", wantKilled: true},
		{name: "still running stays running",
			wantState: model.JobRunning},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, pkeypool.Pool{}, tc.withSM)
			id := h.submit("alice", 2, time.Hour)
			h.pass() // allocate (and, with an SM, confirm the partition)
			j := h.job(id)
			if j.State != model.JobScheduled || len(j.Nodes) != 2 {
				t.Fatalf("after one pass: %s on %v, want scheduled on 2 nodes", j.State, j.Nodes)
			}
			if tc.withSM && (j.PKey != pkeypool.DefaultMin || !j.PartitionReady) {
				t.Fatalf("partition: key %#x ready %v, want %#x confirmed", j.PKey, j.PartitionReady, pkeypool.DefaultMin)
			}
			if !tc.withSM && j.PKey != 0 {
				t.Fatalf("no subnet manager, but key %#x", j.PKey)
			}
			h.pass() // launch
			if j = h.job(id); j.State != model.JobRunning {
				t.Fatalf("after launch: %s (%s)", j.State, j.Reason)
			}
			if tc.world != nil {
				tc.world(h, id, j.Nodes)
			}
			h.store.Advance(tc.advance)
			h.pass()
			j = h.job(id)
			if j.State != tc.wantState || !strings.Contains(j.Reason, tc.wantReason) {
				t.Fatalf("job %s (%q), want %s (%q)", j.State, j.Reason, tc.wantState, tc.wantReason)
			}
			if got := len(h.exec.killed) > 0; got != tc.wantKilled {
				t.Fatalf("killed %v, want kills: %v", h.exec.killed, tc.wantKilled)
			}
			if j.State.Terminal() {
				for _, n := range j.Nodes {
					if st := h.node(n).State; st != model.NodeCleaning {
						t.Fatalf("%s is %s after the job ended, want cleaning", n, st)
					}
				}
			}
		})
	}
}

// TestJobWaitsForPartition: no process starts before the subnet manager
// confirmed the job's key on its ports.
func TestJobWaitsForPartition(t *testing.T) {
	h := newHarness(t, pkeypool.Pool{}, true)
	id := h.submit("alice", 1, time.Hour)
	h.loops.jobs.reconcile(t.Context()) // allocate, but the partition loop does not run
	h.loops.jobs.steps.wait()
	h.loops.jobs.reconcile(t.Context())
	h.loops.jobs.steps.wait()
	if j := h.job(id); j.State != model.JobScheduled || len(h.exec.started) != 0 {
		t.Fatalf("job %s, started %v before the partition was confirmed", j.State, h.exec.started)
	}
	h.pass()
	h.pass()
	if j := h.job(id); j.State != model.JobRunning || len(h.exec.started) != 1 {
		t.Fatalf("job %s, started %v after confirmation", j.State, h.exec.started)
	}
}

// TestLaunchFailure: a node that cannot start the process fails the job
// with the node and the error, and nothing is marked running.
func TestLaunchFailure(t *testing.T) {
	h := newHarness(t, pkeypool.Pool{}, false)
	id := h.submit("alice", 4, time.Hour)
	h.exec.failStart["node003"] = errBoom
	h.pass()
	h.pass()
	j := h.job(id)
	if j.State != model.JobFailed || !strings.Contains(j.Reason, "launch on node003: boom") {
		t.Fatalf("job %s (%q), want failed naming node003", j.State, j.Reason)
	}
}

// TestKeyPoolExhausted: with one key, the second tenant's job waits
// instead of sharing or reusing a key; it starts once the key cooled down.
func TestKeyPoolExhausted(t *testing.T) {
	h := newHarness(t, pkeypool.Pool{Min: 0x2000, Max: 0x2000, Cooldown: time.Minute}, true)
	a := h.submit("alice", 1, time.Hour)
	b := h.submit("bob", 1, time.Hour)
	h.pass()
	if ja, jb := h.job(a), h.job(b); ja.PKey != 0x2000 || jb.State != model.JobPending {
		t.Fatalf("a key %#x, b %s: want a on 0x2000 and b pending", ja.PKey, jb.State)
	}
	h.pass()
	h.exec.exit(a, h.job(a).Nodes[0], 0)
	h.pass() // a completes, its key starts cooling
	h.pass()
	if jb := h.job(b); jb.State != model.JobPending {
		t.Fatalf("b %s with key %#x while the only key cools down", jb.State, jb.PKey)
	}
	h.store.Advance(time.Minute)
	h.pass()
	if jb := h.job(b); jb.State != model.JobScheduled || jb.PKey != 0x2000 {
		t.Fatalf("b %s key %#x after the cool-down, want scheduled on 0x2000", jb.State, jb.PKey)
	}
}

// TestKeyPerTenant: one tenant's allocations share a key, another
// tenant's never does.
func TestKeyPerTenant(t *testing.T) {
	h := newHarness(t, pkeypool.Pool{PerTenant: true}, true)
	a1, a2, b := h.submit("alice", 1, time.Hour), h.submit("alice", 1, time.Hour), h.submit("bob", 1, time.Hour)
	h.pass()
	k1, k2, kb := h.job(a1).PKey, h.job(a2).PKey, h.job(b).PKey
	if k1 == 0 || k1 != k2 || kb == k1 || kb == 0 {
		t.Fatalf("keys alice %#x %#x, bob %#x: want alice's shared and bob's apart", k1, k2, kb)
	}
}

// TestNotLeader: a deposed leader's pass commits nothing and does not
// start processes for jobs it cannot record.
func TestNotLeader(t *testing.T) {
	h := newHarness(t, pkeypool.Pool{}, false)
	id := h.submit("alice", 1, time.Hour)
	h.store.Applied()
	h.store.SetLeader(false)
	h.pass()
	if j := h.job(id); j.State != model.JobPending {
		t.Fatalf("a follower's pass moved the job to %s", j.State)
	}
	if got := h.store.Applied(); len(got) != 0 {
		t.Fatalf("a follower committed %d commands", len(got))
	}
}

// TestCleaning: a node without an agent is ready only after the executor
// cleaned it and the last key is observed gone from its ports; a failing
// clean keeps it out of service.
func TestCleaning(t *testing.T) {
	for _, tc := range []struct {
		name      string
		failClean error
		want      model.NodeState
	}{
		{name: "clean and key gone: ready", want: model.NodeReady},
		{name: "clean fails: stays cleaning", failClean: errBoom, want: model.NodeCleaning},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, pkeypool.Pool{}, true)
			id := h.submit("alice", 1, time.Hour)
			h.pass()
			h.pass()
			node := h.job(id).Nodes[0]
			h.exec.exit(id, node, 0)
			h.exec.failClean = tc.failClean
			h.store.Advance(time.Second)
			h.pass() // finish; the partitions loop removes the key and observes it gone
			h.store.Advance(time.Second)
			h.pass() // clean
			n := h.node(node)
			if n.State != tc.want {
				t.Fatalf("%s is %s, want %s", node, n.State, tc.want)
			}
			if tc.want != model.NodeReady {
				return
			}
			var ev string
			h.store.Read(func(st *fsm.State) {
				for _, e := range st.Ledger[node] {
					ev += e.Evidence
				}
			})
			if !strings.Contains(ev, "absent") || !strings.Contains(ev, "no processes left") {
				t.Fatalf("ledger evidence %q: want the executor's and the key's", ev)
			}
		})
	}
}
