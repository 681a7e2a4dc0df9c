package fsm

import (
	"fmt"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// freshShare is what Work's share must equal: every node and active job
// copied from the state now, leaving f's own share alone.
func freshShare(f *FSM) *workShare {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.fullShare()
}

// randomCommand picks a job or node command for the state w shows,
// refused ones included, and now and then a batch of them (the leader's
// group commit puts an allocation and its start in one entry).
func randomCommand(rng *rand.Rand, f *FSM, w *Work, step int) Command {
	zero := 0
	node := fmt.Sprintf("node%03d", 1+rng.Intn(len(w.Nodes)))
	anyActive := func() uint64 { return w.Active[rng.Intn(len(w.Active))].ID }
	switch k := rng.Intn(16); {
	case k < 2:
		return &SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1 + rng.Intn(3), TimeLimit: time.Minute, Argv: []string{"true"}}, Time: t0}
	case k == 2 && len(w.Pending) > 0:
		return &PendingReasons{Reasons: map[uint64]string{w.Pending[0].ID: fmt.Sprint("R", step)}}
	case k <= 4 && len(w.Pending) > 0:
		j := w.Pending[rng.Intn(len(w.Pending))]
		var free []string
		for _, n := range w.Nodes {
			if n.Schedulable() && len(free) < j.NumNodes {
				free = append(free, n.Name)
			}
		}
		alloc := &Allocate{JobID: j.ID, Nodes: free, Time: t0}
		if rng.Intn(2) == 0 {
			return &Batch{Commands: []Command{alloc, &StartJob{JobID: j.ID, Time: t0}}}
		}
		return alloc
	case k == 5 && len(w.Active) > 0:
		return &StartJob{JobID: anyActive(), Time: t0.Add(time.Second)}
	case k == 6 && len(w.Active) > 0:
		return &FinishJob{JobID: anyActive(), State: model.JobCompleted, ExitCode: &zero, Time: t0.Add(time.Minute)}
	case k == 7:
		var last uint64
		if n := f.View().Nodes[node]; n != nil {
			last = n.LastJobID
		}
		return &NodeCleaned{Node: node, JobID: last, Evidence: "no processes left", Time: t0}
	case k == 8:
		if n := f.View().Nodes[node]; n != nil && n.Task != nil {
			return &TaskDone{Node: node, TaskID: n.Task.ID, OK: rng.Intn(3) > 0, Evidence: "done", Time: t0}
		}
		return &StartTask{Node: node, Task: model.NodeTask{ID: fmt.Sprint("t", step), Kind: model.TaskFirmware, Started: t0}}
	case k == 9 && len(w.Active) > 0:
		return &PartitionReady{JobID: anyActive(), Time: t0, Origin: Origin{Server: "s1"}}
	case k == 10:
		if rng.Intn(2) == 0 {
			return &DrainNode{Node: node, Reason: "test", By: "admin", Time: t0}
		}
		return &UndrainNode{Node: node, By: "admin", Time: t0}
	case k == 11:
		if rng.Intn(2) == 0 {
			return &NodeDown{Node: node, Reason: "test", Time: t0, Origin: Origin{Server: "s1"}}
		}
		return &NodeUp{Node: node, Time: t0}
	case k == 12:
		return &LabelNode{Node: node, Features: []string{fmt.Sprint("f", rng.Intn(3))}, By: "admin", Time: t0}
	case k == 13:
		switch rng.Intn(3) {
		case 0:
			return &QuarantineNode{Node: node, Reason: "test", Time: t0, Origin: Origin{Server: "s1"}}
		case 1:
			if n := f.View().Nodes[node]; n != nil && n.Task != nil {
				return &InterruptTask{Node: node, TaskID: n.Task.ID, Reason: "timeout", Time: t0, Origin: Origin{Server: "s1"}}
			}
		}
		return &PowerCycle{Node: node, Until: t0.Add(time.Minute), Time: t0}
	case k == 14 && len(w.Pending) > 0:
		return &CancelJob{JobID: w.Pending[0].ID, By: "alice", Time: t0} // untracked: everything is copied
	case k == 15 && rng.Intn(4) == 0:
		return &RegisterNodes{Nodes: []NodeSpec{{Name: fmt.Sprintf("node%03d", 17+rng.Intn(20)), Leaf: "leaf09"}}, Time: t0}
	}
	return &SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Minute, Argv: []string{"true"}}, Time: t0}
}

// TestShareFromChangesMatchesState walks FSMs through random job and node
// commands, calling Work after some entries and not others (so changes
// pile up over several generations), and checks every share Work gives
// against fresh copies of the whole state; and that a share built from
// changes keeps the previous share's copy of every node outside the
// changes: the point of building it so.
func TestShareFromChangesMatchesState(t *testing.T) {
	built, reused := 0, 0
	for seed := range int64(12) {
		rng := rand.New(rand.NewSource(seed))
		f := harness(t, 16)
		w := f.Work(1000)
		for step := range 500 {
			prev := f.share.Load()
			cmd := randomCommand(rng, f, w, step)
			f.Apply(cmd) // refused commands too
			if rng.Intn(3) == 0 {
				continue // no Work for this entry: the changes add up
			}
			w = f.Work(1000)
			want := freshShare(f)
			sh := f.share.Load()
			if !reflect.DeepEqual(sh.nodes, want.nodes) || !reflect.DeepEqual(sh.active, want.active) {
				t.Fatalf("seed %d step %d: after %T Work's share differs from the state", seed, step, cmd)
			}
			if prev == nil || prev == sh || len(prev.nodes) != len(sh.nodes) {
				continue
			}
			same := 0
			for i := range sh.nodes {
				if sh.nodes[i] == prev.nodes[i] {
					same++
				}
			}
			if same > 0 {
				built++
				reused += same
			}
		}
	}
	if built == 0 || reused == 0 {
		t.Fatalf("no share was built from changes (%d shares, %d nodes kept)", built, reused)
	}
	t.Logf("%d shares built from changes, %d node copies kept from the share before", built, reused)
}

// TestShareFromChangesCopiesOnlyTheChanged: a drain on a large table
// copies that one node again; every other node and every active job is
// the previous share's own copy.
func TestShareFromChangesCopiesOnlyTheChanged(t *testing.T) {
	f := harness(t, 200)
	id := submit(t, f, "alice", 3)
	must(t, f.Apply(&Allocate{JobID: id, Nodes: []string{"node010", "node011", "node012"}, Time: t0}))
	before := f.Work(0)
	must(t, f.Apply(&DrainNode{Node: "node100", Reason: "test", By: "admin", Time: t0}))
	after := f.Work(0)
	if after.NodesGen == before.NodesGen {
		t.Fatal("a drain left the nodes generation as it was")
	}
	var copied []string
	for i := range after.Nodes {
		if after.Nodes[i] != before.Nodes[i] {
			copied = append(copied, after.Nodes[i].Name)
		}
	}
	if !reflect.DeepEqual(copied, []string{"node100"}) || !after.Nodes[99].Drained {
		t.Fatalf("copied again: %v (want only node100, drained)", copied)
	}
	if len(after.Active) != 1 || after.Active[0] != before.Active[0] {
		t.Fatalf("the active job was copied again: %v", after.Active)
	}
	// Ending the job copies its three nodes and drops it.
	must(t, f.Apply(&FinishJob{JobID: id, State: model.JobCompleted, Time: t0}))
	ended := f.Work(0)
	copied = nil
	for i := range ended.Nodes {
		if ended.Nodes[i] != after.Nodes[i] {
			copied = append(copied, ended.Nodes[i].Name)
		}
	}
	if !reflect.DeepEqual(copied, []string{"node010", "node011", "node012"}) || len(ended.Active) != 0 {
		t.Fatalf("after the job ended: copied %v, %d active", copied, len(ended.Active))
	}
}

// TestShareFromChangesCheckerSeesAMiss: with CheckSharedViews on, a
// node changed outside every footprint (here written behind the FSM's
// back, as a handler with a wrong footprint would) makes the next Work
// panic, naming the node.
func TestShareFromChangesCheckerSeesAMiss(t *testing.T) {
	CheckSharedViews(true)
	defer CheckSharedViews(false)
	f := harness(t, 8)
	f.Work(0)
	f.mu.Lock()
	f.state.Nodes["node003"].Features = []string{"sneaked"}
	f.mu.Unlock()
	must(t, f.Apply(&DrainNode{Node: "node005", Reason: "test", By: "admin", Time: t0}))
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(fmt.Sprint(r), "node003") || !strings.Contains(fmt.Sprint(r), "DrainNode") {
			t.Fatalf("panic %v, want one naming node003 and the DrainNode", r)
		}
	}()
	f.Work(0)
}

// TestFootprintUntrackedCopiesAll: a command footprint does not list
// copies every node again, as before there were footprints.
func TestFootprintUntrackedCopiesAll(t *testing.T) {
	f := harness(t, 20)
	before := f.Work(0)
	must(t, f.Apply(&DeregisterServer{ID: "nobody"}))
	after := f.Work(0)
	for i := range after.Nodes {
		if after.Nodes[i] == before.Nodes[i] {
			t.Fatalf("node %s kept its copy after an untracked command", after.Nodes[i].Name)
		}
	}
	if _, _, tracked := footprint(&DeregisterServer{}); tracked {
		t.Fatal("DeregisterServer is tracked; pick another untracked command for this test")
	}
}
