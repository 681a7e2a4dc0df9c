package simnode_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/client"
	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/nodeagent/erase"
	"github.com/ibex-hpc/ibex/nodeagent/simnode"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// TestCustodyThroughRealAgents: with a real server and real agents, the
// first cleaning's entries name who acted — the agent by its certificate
// serial, the leader by its raft server id (which its store stamped into
// the commands) — every entry spans its step (a task from its dispatch to
// its result), and the chain verifies as a reader sees it through the API.
func TestCustodyThroughRealAgents(t *testing.T) {
	c := startSimCluster(t, 2, "")
	c.waitReadyAndConnected(t)
	for _, n := range c.fleet.Nodes {
		d := c.detail(t, n.Name)
		l := client.LedgerFromPB(d.Ledger)
		if got, err := model.VerifyChain(l); err != nil || got != len(l) {
			t.Fatalf("%s: %d of %d entries verified: %v", n.Name, got, len(l), err)
		}
		actors := map[string]string{}
		for _, e := range l {
			if e.Start.IsZero() || e.End.IsZero() || e.End.Before(e.Start) {
				t.Errorf("%s: entry %d (%s) spans %v to %v", n.Name, e.Seq, e.Step, e.Start, e.End)
			}
			actors[e.Step] = e.Actor
		}
		if a := actors["cleaned"]; a != "server ibexd-1" {
			t.Errorf("%s: cleaned by %q, want the leader's server id", n.Name, a)
		}
		for _, step := range []string{"erase", "firmware"} {
			if a := actors[step]; !strings.HasPrefix(a, "agent ") || len(a) <= len("agent ") {
				t.Errorf("%s: %s by %q, want the agent's certificate serial", n.Name, step, a)
			}
		}
		for _, e := range l {
			if e.Step == "erase" && !e.End.After(e.Start) {
				t.Errorf("%s: the erase took no time: %v to %v", n.Name, e.Start, e.End)
			}
		}
	}
}

// stuckEraser is a disk erase that never finishes: it says it started and
// waits until its task is cancelled.
type stuckEraser struct{ started chan struct{} }

func (e *stuckEraser) Erase(ctx context.Context, _ erase.Disk) (erase.Evidence, error) {
	select {
	case e.started <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return erase.Evidence{}, ctx.Err()
}

// TestAgentLostMidEraseIsInterrupted: a real agent is in the middle of
// its node's erase when its certificate is revoked (it can never answer
// now): the erase the leader dispatched is an interrupted ledger entry,
// with the task's start, when it was given up, the leader as actor and
// the agent that had it; and the node gets no new task.
func TestAgentLostMidEraseIsInterrupted(t *testing.T) {
	stuck := &stuckEraser{started: make(chan struct{}, 1)}
	c := startSimClusterWith(t, 1, "", func(f *simnode.Fleet) { f.Nodes[0].Agent.Eraser = stuck })
	node := c.fleet.Nodes[0].Name
	select {
	case <-stuck.started:
	case <-time.After(30 * time.Second):
		t.Fatal("the agent never started its erase")
	}
	d := c.detail(t, node)
	if d.Node.State != "cleaning" || d.Progress == nil || !strings.Contains(d.Progress.Id, "/erase/") {
		t.Fatalf("%s is %s with task %v, want cleaning with its erase running", node, d.Node.State, d.Progress)
	}
	task := d.Progress.Id
	if _, err := c.cl.Fleet.Revoke(c.ctx, &pb.RevokeRequest{Node: node, Reason: "node stolen"}); err != nil {
		t.Fatal(err)
	}
	d = c.detail(t, node)
	l := client.LedgerFromPB(d.Ledger)
	if n, err := model.VerifyChain(l); err != nil || n != len(l) {
		t.Fatalf("%d of %d entries verified: %v", n, len(l), err)
	}
	var lost *model.LedgerEntry
	for i := range l {
		if l[i].Step == model.Interrupted("erase") {
			lost = &l[i]
		}
	}
	if lost == nil {
		t.Fatalf("no interrupted erase: %+v", l)
	}
	if lost.OK || lost.Actor != "server ibexd-1" || !strings.Contains(lost.Evidence, "task "+task+" (agent ") ||
		!strings.Contains(lost.Evidence, "revoked: node stolen") || lost.Start.IsZero() || !lost.End.After(lost.Start) {
		t.Fatalf("interrupted entry: %+v", *lost)
	}
	time.Sleep(300 * time.Millisecond) // a few controller passes (ReconcileEvery 50 ms)
	if d := c.detail(t, node); d.Progress != nil {
		t.Fatalf("a revoked agent's node got task %v", d.Progress)
	}
}
