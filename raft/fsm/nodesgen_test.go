package fsm

import (
	"fmt"
	"math/rand"
	"reflect"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// genMissed reports whether w's nodes or active jobs differ from prev's
// while the nodes generation says they are the same.
func genMissed(prev, w *Work) bool {
	same := reflect.DeepEqual(prev.Nodes, w.Nodes) && reflect.DeepEqual(prev.Active, w.Active)
	return !same && prev.NodesGen == w.NodesGen
}

// uncachedWork is Work from fresh copies of the state, never a share made
// for an earlier call (workshare.go): what the generation rule is checked
// against.
func uncachedWork(f *FSM, depth int) *Work {
	f.share.Store(nil)
	return f.Work(depth)
}

// TestNodesGenFollowsNodes walks an FSM through random job and node
// commands (submissions, reasons, allocations, starts, finishes,
// cleanings, cancels, drains, labels, nodes going down and up, new
// nodes), refused ones included, and checks after every entry that the
// nodes generation changed whenever Work's nodes or active jobs did, and
// that submissions and reasons left it alone (what makes the scheduler's
// node cache hit on a busy queue).
func TestNodesGenFollowsNodes(t *testing.T) {
	zero := 0
	for seed := range int64(10) {
		rng := rand.New(rand.NewSource(seed))
		f := harness(t, 16)
		prev := uncachedWork(f, 1000)
		kept := 0
		for step := range 400 {
			w0 := f.Work(1000)
			node := fmt.Sprintf("node%03d", 1+rng.Intn(len(w0.Nodes)))
			var cmd Command
			switch k := rng.Intn(12); {
			case k < 3:
				cmd = &SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1 + rng.Intn(3), TimeLimit: time.Minute, Argv: []string{"true"}}, Time: t0}
			case k == 3 && len(w0.Pending) > 0:
				cmd = &PendingReasons{Reasons: map[uint64]string{w0.Pending[0].ID: fmt.Sprint("R", step)}}
			case k == 4 && len(w0.Pending) > 0:
				j := w0.Pending[rng.Intn(len(w0.Pending))]
				var free []string
				for _, n := range w0.Nodes {
					if n.Schedulable() && len(free) < j.NumNodes {
						free = append(free, n.Name)
					}
				}
				cmd = &Allocate{JobID: j.ID, Nodes: free, Time: t0}
			case k == 5 && len(w0.Active) > 0:
				cmd = &StartJob{JobID: w0.Active[rng.Intn(len(w0.Active))].ID, Time: t0.Add(time.Second)}
			case k == 6 && len(w0.Active) > 0:
				cmd = &FinishJob{JobID: w0.Active[rng.Intn(len(w0.Active))].ID, State: model.JobCompleted, ExitCode: &zero, Time: t0.Add(time.Minute)}
			case k == 7:
				var last uint64
				if n := f.View().Nodes[node]; n != nil {
					last = n.LastJobID
				}
				cmd = &NodeCleaned{Node: node, JobID: last, Evidence: "no processes left", Time: t0}
			case k == 8 && len(w0.Pending) > 0:
				cmd = &CancelJob{JobID: w0.Pending[0].ID, By: "alice", Time: t0}
			case k == 9:
				if rng.Intn(2) == 0 {
					cmd = &DrainNode{Node: node, Reason: "test", By: "admin", Time: t0}
				} else {
					cmd = &UndrainNode{Node: node, By: "admin", Time: t0}
				}
			case k == 10:
				if rng.Intn(2) == 0 {
					cmd = &NodeDown{Node: node, Reason: "test", Time: t0}
				} else {
					cmd = &NodeUp{Node: node, Time: t0}
				}
			default:
				if rng.Intn(3) == 0 {
					cmd = &RegisterNodes{Nodes: []NodeSpec{{Name: fmt.Sprintf("node%03d", 17+rng.Intn(20)), Leaf: "leaf09"}}, Time: t0}
				} else {
					cmd = &LabelNode{Node: node, Features: []string{fmt.Sprint("f", rng.Intn(3))}, Time: t0}
				}
			}
			f.Apply(cmd) // refused commands too
			shared := f.Work(1000)
			w := uncachedWork(f, 1000)
			if !reflect.DeepEqual(shared.Nodes, w.Nodes) || !reflect.DeepEqual(shared.Active, w.Active) {
				t.Fatalf("seed %d step %d: after %T Work shared nodes or active jobs that differ from the state's", seed, step, cmd)
			}
			if genMissed(prev, w) {
				t.Fatalf("seed %d step %d: %T changed the nodes or active jobs but not the nodes generation", seed, step, cmd)
			}
			if nodeNeutral(cmd) {
				if w.NodesGen != prev.NodesGen {
					t.Fatalf("seed %d step %d: %T changed the nodes generation", seed, step, cmd)
				}
				kept++
			}
			prev = w
		}
		if kept == 0 {
			t.Fatalf("seed %d: no entry kept the generation", seed)
		}
	}
}

// TestNodesGenCheckSeesAMiss: genMissed, the check above, catches a
// change under an unchanged generation (as if an entry that changes nodes
// were listed as neutral), and Restore and a new FSM draw new values.
func TestNodesGenCheckSeesAMiss(t *testing.T) {
	f := harness(t, 4)
	before := f.Work(10)
	id := submit(t, f, "alice", 1)
	if w := f.Work(10); w.NodesGen != before.NodesGen {
		t.Fatal("a submission changed the nodes generation")
	}
	must(t, f.Apply(&Allocate{JobID: id, Nodes: []string{"node001"}, Time: t0}))
	after := f.Work(10)
	if after.NodesGen == before.NodesGen {
		t.Fatal("an allocation kept the nodes generation")
	}
	stale := *after
	stale.NodesGen = before.NodesGen
	if !genMissed(before, &stale) {
		t.Fatal("genMissed did not see nodes that changed under one generation")
	}
	if g := New().Work(1).NodesGen; g == after.NodesGen || g == 0 {
		t.Fatalf("a new FSM has generation %d", g)
	}
}
