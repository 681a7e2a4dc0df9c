package fsm

import (
	"bytes"
	"fmt"
	"math/rand"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/scheduler"
)

// cacheWalkCommand is randomCommand widened to the pipeline (arrays,
// holds, dependencies, releases, task cancels), stop records and
// batches that mix tracked and untracked commands.
func cacheWalkCommand(rng *rand.Rand, f *FSM, w *Work, step int) Command {
	zero, one := 0, 1
	st := f.View()
	node := fmt.Sprintf("node%03d", 1+rng.Intn(len(w.Nodes)))
	var pending, active []*model.Job
	for _, j := range st.Jobs {
		switch {
		case j.State == model.JobPending:
			pending = append(pending, j)
		case j.State.Active():
			active = append(active, j)
		}
	}
	pick := func(js []*model.Job) *model.Job { // by id: the view's map order is random
		if len(js) == 0 {
			return nil
		}
		ids := make([]uint64, 0, len(js))
		for _, j := range js {
			ids = append(ids, j.ID)
		}
		slices.Sort(ids)
		return st.Jobs[ids[rng.Intn(len(ids))]]
	}
	alloc := func(j *model.Job) *Allocate {
		var free []string
		for _, n := range w.Nodes {
			if sn := st.Nodes[n.Name]; sn.Schedulable() && hasAll(sn.Features, j.Features) && len(free) < j.NumNodes {
				free = append(free, n.Name)
			}
		}
		return &Allocate{JobID: j.ID, Nodes: free, Time: t0}
	}
	one1 := func() Command {
		switch k := rng.Intn(24); {
		case k < 2:
			return &SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1 + rng.Intn(2), TimeLimit: time.Minute, Argv: []string{"true"}}, Time: t0}
		case k == 2:
			return &SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Minute, Argv: []string{"true"}, Held: true}, Time: t0}
		case k == 3:
			return &SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Minute, Argv: []string{"true"},
				ArrayPending: model.IndexSet{{Lo: 0, Hi: 1 + rng.Intn(4)}}, ArrayThrottle: rng.Intn(3)}, Time: t0}
		case k == 4:
			if j := pick(append(append([]*model.Job(nil), pending...), active...)); j != nil {
				return &SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Minute, Argv: []string{"true"},
					Depend: []model.Dependency{{Type: model.DepAfterOK, JobID: j.ID}}}, Time: t0}
			}
		case k == 5:
			if j := pick(pending); j != nil {
				return &PendingReasons{Reasons: map[uint64]string{j.ID: fmt.Sprint("R", step)}}
			}
		case k <= 8:
			if j := pick(pending); j != nil {
				return alloc(j)
			}
		case k == 9:
			if j := pick(active); j != nil {
				return &StartJob{JobID: j.ID, Time: t0.Add(time.Second)}
			}
		case k == 10:
			if j := pick(active); j != nil {
				return &FinishJob{JobID: j.ID, State: model.JobCompleted, ExitCode: []*int{&zero, &one}[rng.Intn(2)], Time: t0.Add(time.Minute)}
			}
		case k == 11:
			if j := pick(pending); j != nil {
				return &ReleaseHold{JobID: j.ID, By: "alice"}
			}
		case k == 12:
			if j := pick(pending); j != nil && j.ArrayRecord() && len(j.ArrayPending) > 0 {
				return &CancelArrayTask{JobID: j.ID, Task: j.ArrayPending.Min(), By: "alice", Time: t0}
			}
			if j := pick(append(pending, active...)); j != nil {
				return &CancelJob{JobID: j.ID, By: "alice", Time: t0}
			}
		case k == 13:
			n := st.Nodes[node]
			return &NodeCleaned{Node: node, JobID: n.LastJobID, Evidence: "no processes left", Time: t0}
		case k == 14:
			if n := st.Nodes[node]; n.Task != nil {
				return &TaskDone{Node: node, TaskID: n.Task.ID, OK: rng.Intn(3) > 0, Evidence: "done", Time: t0}
			}
			return &StartTask{Node: node, Task: model.NodeTask{ID: fmt.Sprint("t", step), Kind: model.TaskFirmware, Started: t0}}
		case k == 15:
			if j := pick(active); j != nil {
				return &PartitionReady{JobID: j.ID, PKey: j.PKey, Time: t0, Origin: Origin{Server: "s1"}}
			}
		case k == 16:
			if rng.Intn(2) == 0 {
				return &DrainNode{Node: node, Reason: "test", By: "admin", Time: t0}
			}
			return &UndrainNode{Node: node, By: "admin", Time: t0}
		case k == 17:
			if rng.Intn(2) == 0 {
				return &NodeDown{Node: node, Reason: "test", Time: t0, Origin: Origin{Server: "s1"}}
			}
			return &NodeUp{Node: node, Time: t0}
		case k == 18:
			return &LabelNode{Node: node, Features: []string{fmt.Sprint("f", rng.Intn(2))}, By: "admin", Time: t0}
		case k == 19:
			return &QuarantineNode{Node: node, Reason: "test", Time: t0, Origin: Origin{Server: "s1"}}
		case k == 20:
			n := st.Nodes[node]
			return &JobStopped{Node: node, JobID: n.LastJobID, Evidence: "stopped", Time: t0, Origin: Origin{Server: "s1"}}
		case k == 21:
			return &PowerCycle{Node: node, Until: t0.Add(time.Minute), Time: t0}
		case k == 22:
			return &SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Minute, Argv: []string{"true"},
				Features: []string{"f0"}}, Time: t0}
		}
		return &SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Minute, Argv: []string{"true"}}, Time: t0}
	}
	if rng.Intn(4) == 0 {
		var b Batch
		for range 2 + rng.Intn(4) {
			b.Commands = append(b.Commands, one1())
		}
		return &b
	}
	return one1()
}

// TestCachesMatchStateOnAWideWalk: after every Work of a random walk over
// job, pipeline and node commands (batches mixing them, and now and then
// a snapshot restored), Work's nodes, active jobs and pending jobs are
// what fresh copies of the state give, with the shared-view checker on;
// and a scheduler NodeCache fed Work's shared pointers (updated from the
// changed ones) plans exactly as a fresh load of the same view.
func TestCachesMatchStateOnAWideWalk(t *testing.T) {
	CheckSharedViews(true)
	defer CheckSharedViews(false)
	var updates, hits uint64
	for seed := range int64(8) {
		rng := rand.New(rand.NewSource(seed))
		f := harness(t, 12)
		w := f.Work(1000)
		tree := scheduler.TreeFromNodes(w.Nodes)
		cache := &scheduler.NodeCache{}
		var snap []byte
		for step := range 300 {
			if rng.Intn(60) == 0 {
				if snap == nil || rng.Intn(2) == 0 {
					var b bytes.Buffer
					if err := WriteSnapshot(&b, f.View()); err != nil {
						t.Fatal(err)
					}
					snap = b.Bytes()
				} else if err := f.Restore(bytes.NewReader(snap)); err != nil {
					t.Fatal(err)
				}
			}
			cmd := cacheWalkCommand(rng, f, w, step)
			f.Apply(cmd) // refused commands too
			if rng.Intn(3) == 0 {
				continue
			}
			w = f.Work(1000)
			want := freshShare(f)
			if !reflect.DeepEqual(w.Nodes, want.nodes) || !reflect.DeepEqual(w.Active, want.active) {
				t.Fatalf("seed %d step %d: after %T Work's nodes or active jobs differ from the state", seed, step, cmd)
			}
			s := f.View()
			var ids []uint64
			for _, id := range s.idx.pendingQ {
				if j := s.Jobs[id]; j != nil && j.State == model.JobPending {
					ids = append(ids, id)
				}
			}
			if len(ids) != len(w.Pending) {
				t.Fatalf("seed %d step %d: %d pending, Work has %d", seed, step, len(ids), len(w.Pending))
			}
			// The scheduler's node cache, brought up to each generation
			// from the changed pointers, plans as a fresh load does.
			plain := scheduler.Snapshot{Pending: w.Pending, Nodes: w.Nodes, Running: w.Active, Tree: tree}
			cached := plain
			cached.Cache, cached.NodesVersion, cached.NodesReadOnly = cache, w.NodesGen, true
			now := t0.Add(time.Duration(step) * time.Second)
			if got, want := scheduler.Schedule(cached, scheduler.IbexPolicy(), now), scheduler.Schedule(plain, scheduler.IbexPolicy(), now); !reflect.DeepEqual(got, want) {
				t.Fatalf("seed %d step %d: after %T the cached pass plans\n%+v\nand a fresh one\n%+v", seed, step, cmd, got, want)
			}
			for i, j := range w.Pending {
				if fresh := pendingCopy(s.Jobs[ids[i]]); !reflect.DeepEqual(fresh, j) {
					t.Fatalf("seed %d step %d: after %T (%+v) Work's pending job %d is stale:\n got %+v\nwant %+v", seed, step, cmd, cmd, j.ID, j, fresh)
				}
			}
		}
		h, _ := cache.Stats()
		hits += h
		updates += cache.Updates()
	}
	if updates == 0 || hits == 0 {
		t.Fatalf("the node cache was never updated (%d) or hit (%d)", updates, hits)
	}
	t.Logf("node cache: %d hits, %d updates", hits, updates)
}
