package fsm

import (
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/model"
)

// pendingByID indexes a view's pending copies.
func pendingByID(w *Work) map[uint64]*model.Job {
	out := map[uint64]*model.Job{}
	for _, j := range w.Pending {
		out[j.ID] = j
	}
	return out
}

// TestWorkKeepsPendingCopies: a pending job's copy is kept across views
// while the entries between them cannot have changed it (a node drained,
// another job's reason), and a view after an entry that may have (its own
// reason, a release of its hold, a command that is not listed) has a new
// copy with the change.
func TestWorkKeepsPendingCopies(t *testing.T) {
	CheckSharedViews(true) // every kept copy is also compared with the job
	defer CheckSharedViews(false)
	f := harness(t, 4)
	a := submit(t, f, "alice", 1)
	b := submitJob(t, f, model.Job{Held: true})
	w1 := pendingByID(f.Work(10))
	must(t, f.Apply(&DrainNode{Node: "node004", Reason: "test", By: "admin", Time: t0}))
	must(t, f.Apply(&PendingReasons{Reasons: map[uint64]string{b: "Held"}}))
	w2 := pendingByID(f.Work(10))
	if w2[a] != w1[a] {
		t.Fatal("a drain and another job's reason made a new copy of job a")
	}
	if w2[b] == w1[b] || w2[b].Reason != "Held" {
		t.Fatalf("job b's reason changed, its copy is %p (was %p) with reason %q", w2[b], w1[b], w2[b].Reason)
	}
	must(t, f.Apply(&ReleaseHold{JobID: b, By: "alice"}))
	w3 := pendingByID(f.Work(10))
	if w3[b] == w2[b] || w3[b].Held {
		t.Fatal("a release of b's hold (a command not listed) left b's copy held")
	}
	if w3[a] == w2[a] {
		t.Fatal("a command that is not listed kept the copies")
	}
	must(t, f.Apply(&Allocate{JobID: a, Nodes: []string{"node001"}, Time: t0}))
	if _, still := pendingByID(f.Work(10))[a]; still {
		t.Fatal("an allocated job is still pending in the view")
	}
}

// TestKeptPendingCopyCheckedWhenStale: the checker catches a kept copy
// that no longer matches its job, whether a handler changed the job
// outside its command's footprint (simulated by writing into the state)
// or a caller wrote into the read-only copy.
func TestKeptPendingCopyCheckedWhenStale(t *testing.T) {
	CheckSharedViews(true)
	defer CheckSharedViews(false)
	for name, stale := range map[string]func(f *FSM, w *Work, id uint64){
		"state changed unseen": func(f *FSM, _ *Work, id uint64) {
			f.mu.Lock()
			f.state.Jobs[id].NumNodes = 2
			f.mu.Unlock()
		},
		"caller wrote": func(_ *FSM, w *Work, _ uint64) { w.Pending[0].Reason = "mine" },
	} {
		f := harness(t, 4)
		id := submit(t, f, "alice", 1)
		w := f.Work(10)
		stale(f, w, id)
		msg := func() (msg string) {
			defer func() {
				if r := recover(); r != nil {
					msg = r.(string)
				}
			}()
			f.Work(10)
			return ""
		}()
		if !strings.Contains(msg, "kept copy of pending job") {
			t.Errorf("%s: the next Work did not panic naming the kept copy: %q", name, msg)
		}
	}
}
