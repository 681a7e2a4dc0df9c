package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

var t0 = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)

// harness builds an FSM with n nodes and tenants "alice" and "bob".
func harness(t testing.TB, n int) *FSM {
	t.Helper()
	f := New()
	var specs []NodeSpec
	for i := 1; i <= n; i++ {
		specs = append(specs, NodeSpec{Name: fmt.Sprintf("node%03d", i), Leaf: fmt.Sprintf("leaf%02d", (i-1)/8+1)})
	}
	must(t, f.Apply(&RegisterNodes{Nodes: specs, Time: t0}))
	must(t, f.Apply(&CreateTenant{Tenant: model.Tenant{Name: "alice", TokenHash: "a"}}))
	must(t, f.Apply(&CreateTenant{Tenant: model.Tenant{Name: "bob", TokenHash: "b"}}))
	return f
}

func must(t testing.TB, r Result) any {
	t.Helper()
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	return r.Value
}

func submit(t *testing.T, f *FSM, tenant string, n int) uint64 {
	t.Helper()
	return must(t, f.Apply(&SubmitJob{Job: model.Job{Tenant: tenant, NumNodes: n, TimeLimit: time.Minute, Argv: []string{"true"}}, Time: t0})).(uint64)
}

func TestJobLifecycle(t *testing.T) {
	f := harness(t, 8)
	id := submit(t, f, "alice", 2)
	must(t, f.Apply(&Allocate{JobID: id, Nodes: []string{"node002", "node001"}, Time: t0}))
	must(t, f.Apply(&StartJob{JobID: id, Time: t0.Add(time.Second)}))
	zero := 0
	must(t, f.Apply(&FinishJob{JobID: id, State: model.JobCompleted, ExitCode: &zero, Time: t0.Add(time.Minute)}))
	s := f.View()
	j := s.Jobs[id]
	if j.State != model.JobCompleted || *j.ExitCode != 0 || j.Nodes[0] != "node001" || !j.EndTime.Equal(t0.Add(time.Minute)) {
		t.Fatalf("job after finish: %+v", j)
	}
	if n := s.Nodes["node001"]; n.State != model.NodeCleaning || n.LastJobID != id {
		t.Fatalf("node after job: %+v (must be cleaning, never straight to ready)", n)
	}
	if r := f.Apply(&NodeCleaned{Node: "node001", JobID: id, Time: t0}); !errors.Is(r.Err, ErrInvalid) {
		t.Fatalf("cleaning without evidence accepted: %v", r.Err)
	}
	must(t, f.Apply(&NodeCleaned{Node: "node001", JobID: id, Evidence: "no processes left", Time: t0}))
	if n := f.View().Nodes["node001"]; n.State != model.NodeReady {
		t.Fatalf("node001 after cleaning: %s", n.State)
	}
}

func TestAllocateRejectsStalePlans(t *testing.T) {
	f := harness(t, 4)
	a := submit(t, f, "alice", 2)
	b := submit(t, f, "bob", 2)
	must(t, f.Apply(&Allocate{JobID: a, Nodes: []string{"node001", "node002"}}))
	before := f.View().Hash()
	for _, bad := range []*Allocate{
		{JobID: b, Nodes: []string{"node002", "node003"}}, // node002 taken
		{JobID: b, Nodes: []string{"node003"}},            // wrong count
		{JobID: b, Nodes: []string{"node003", "node003"}}, // duplicate
		{JobID: b, Nodes: []string{"node003", "nodeXXX"}}, // unknown
		{JobID: a, Nodes: []string{"node003", "node004"}}, // not pending
		{JobID: 99, Nodes: []string{"node003", "node004"}},
	} {
		if r := f.Apply(bad); r.Err == nil {
			t.Errorf("plan %+v accepted", bad)
		}
	}
	if f.View().Hash() != before {
		t.Fatal("a rejected plan changed the state")
	}
}

func TestSubmitValidation(t *testing.T) {
	f := harness(t, 4)
	for name, j := range map[string]model.Job{
		"too many nodes": {Tenant: "alice", NumNodes: 5, TimeLimit: time.Minute, Argv: []string{"x"}},
		"zero nodes":     {Tenant: "alice", NumNodes: 0, TimeLimit: time.Minute, Argv: []string{"x"}},
		"no time":        {Tenant: "alice", NumNodes: 1, Argv: []string{"x"}},
		"no tenant":      {Tenant: "mallory", NumNodes: 1, TimeLimit: time.Minute, Argv: []string{"x"}},
		"nothing to run": {Tenant: "alice", NumNodes: 1, TimeLimit: time.Minute},
		"alloc+script":   {Tenant: "alice", NumNodes: 1, TimeLimit: time.Minute, Interactive: true, Script: "x"},
	} {
		if r := f.Apply(&SubmitJob{Job: j}); !errors.Is(r.Err, ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", name, r.Err)
		}
	}
}

func TestCancelOnlyOwnJobs(t *testing.T) {
	f := harness(t, 4)
	id := submit(t, f, "alice", 1)
	if r := f.Apply(&CancelJob{JobID: id, By: "bob"}); !errors.Is(r.Err, ErrNotFound) {
		t.Fatalf("bob cancelled alice's job: %v", r.Err)
	}
	must(t, f.Apply(&CancelJob{JobID: id, By: "root", Admin: true}))
	if r := f.Apply(&CancelJob{JobID: id, By: "alice"}); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("second cancel: %v", r.Err)
	}
}

func TestDrain(t *testing.T) {
	f := harness(t, 2)
	must(t, f.Apply(&DrainNode{Node: "node001", Reason: "bad DIMM", By: "admin"}))
	id := submit(t, f, "alice", 1)
	if r := f.Apply(&Allocate{JobID: id, Nodes: []string{"node001"}}); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("allocated a drained node: %v", r.Err)
	}
	must(t, f.Apply(&UndrainNode{Node: "node001"}))
	must(t, f.Apply(&Allocate{JobID: id, Nodes: []string{"node001"}}))
	if r := f.Apply(&DrainNode{Node: "nope", Reason: "x"}); !errors.Is(r.Err, ErrNotFound) {
		t.Fatal(r.Err)
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	f := harness(t, 8)
	for i := 0; i < 5; i++ {
		submit(t, f, "alice", 1+i%3)
	}
	must(t, f.Apply(&Allocate{JobID: 1, Nodes: []string{"node005"}}))
	var buf bytes.Buffer
	if err := WriteSnapshot(&buf, f.SnapshotState()); err != nil {
		t.Fatal(err)
	}
	g := New()
	if err := g.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if f.View().Hash() != g.View().Hash() {
		t.Fatal("restored state differs")
	}
	if err := g.Restore(bytes.NewBufferString("{garbage")); err == nil {
		t.Fatal("garbage snapshot restored")
	}
}

// TestNoNodeInTwoJobs applies random plans, most of them stale or wrong, and
// checks the invariant after each one.
func TestNoNodeInTwoJobs(t *testing.T) {
	f := harness(t, 16)
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 2000; i++ {
		switch rng.Intn(4) {
		case 0:
			submit(t, f, "alice", 1+rng.Intn(4))
		case 1:
			s := f.View()
			if s.NextJobID == 1 {
				continue
			}
			id := uint64(1 + rng.Intn(int(s.NextJobID-1)))
			var nodes []string
			for k := 0; k < 1+rng.Intn(4); k++ {
				nodes = append(nodes, fmt.Sprintf("node%03d", 1+rng.Intn(16)))
			}
			f.Apply(&Allocate{JobID: id, Nodes: nodes})
		case 2:
			s := f.View()
			for _, j := range s.Jobs {
				if j.State.Active() {
					f.Apply(&FinishJob{JobID: j.ID, State: model.JobCompleted})
					break
				}
			}
		case 3:
			for _, n := range f.View().Nodes {
				if n.State == model.NodeCleaning {
					f.Apply(&NodeCleaned{Node: n.Name, JobID: n.LastJobID, Evidence: "ok"})
				}
			}
		}
		checkWorkIndex(t, f)
		owner := map[string]uint64{}
		s := f.View()
		for _, j := range s.Jobs {
			if !j.State.Active() {
				continue
			}
			for _, n := range j.Nodes {
				if o, dup := owner[n]; dup {
					t.Fatalf("step %d: node %s in jobs %d and %d", i, n, o, j.ID)
				}
				owner[n] = j.ID
				if s.Nodes[n].JobID != j.ID {
					t.Fatalf("step %d: node %s says job %d, job %d says node", i, n, s.Nodes[n].JobID, j.ID)
				}
			}
		}
	}
}

func TestDecodeRejectsGarbage(t *testing.T) {
	for _, b := range [][]byte{nil, {0}, {200, '{', '}'}, {byte(CmdSubmitJob), '['}} {
		if _, err := Decode(b); err == nil {
			t.Errorf("Decode(%q) accepted", b)
		}
	}
}

func TestSubmitIsIdempotentPerRequestID(t *testing.T) {
	f := harness(t, 4)
	j := model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Minute, Argv: []string{"x"}, RequestID: "r1"}
	a := must(t, f.Apply(&SubmitJob{Job: j})).(uint64)
	b := must(t, f.Apply(&SubmitJob{Job: j})).(uint64)
	j.Tenant = "bob"
	c := must(t, f.Apply(&SubmitJob{Job: j})).(uint64)
	if a != b || a == c || len(f.View().Jobs) != 2 {
		t.Fatalf("ids %d %d %d, %d jobs", a, b, c, len(f.View().Jobs))
	}
}

// checkWorkIndex compares the derived indexes with a full scan.
func checkWorkIndex(t *testing.T, f *FSM) {
	t.Helper()
	w := f.Work(1 << 30)
	var pending, active []uint64
	for _, j := range f.View().SortedJobs() {
		if j.State == model.JobPending {
			pending = append(pending, j.ID)
		} else if j.State.Active() {
			active = append(active, j.ID)
		}
	}
	var gotP, gotA []uint64
	for _, j := range w.Pending {
		gotP = append(gotP, j.ID)
	}
	for _, j := range w.Active {
		gotA = append(gotA, j.ID)
	}
	if fmt.Sprint(gotP) != fmt.Sprint(pending) || fmt.Sprint(gotA) != fmt.Sprint(active) {
		t.Fatalf("work index: pending %v active %v, scan says %v %v", gotP, gotA, pending, active)
	}
	// A restored copy rebuilds the same indexes.
	var buf bytes.Buffer
	WriteSnapshot(&buf, f.SnapshotState())
	g := New()
	g.Restore(&buf)
	if w2 := g.Work(1 << 30); len(w2.Pending) != len(w.Pending) || len(w2.Active) != len(w.Active) ||
		fmt.Sprint(w2.Blocked, w2.ArrayRoom) != fmt.Sprint(w.Blocked, w.ArrayRoom) {
		t.Fatal("restored indexes differ")
	}
	if fmt.Sprint(g.View().idx.arrays) != fmt.Sprint(f.View().idx.arrays) {
		t.Fatalf("restored array index %v, live %v", g.View().idx.arrays, f.View().idx.arrays)
	}
}

func TestCancelRetryIsIdempotent(t *testing.T) {
	f := harness(t, 2)
	id := submit(t, f, "alice", 1)
	must(t, f.Apply(&CancelJob{JobID: id, By: "alice", RequestID: "c1"}))
	must(t, f.Apply(&CancelJob{JobID: id, By: "alice", RequestID: "c1"}))
	if r := f.Apply(&CancelJob{JobID: id, By: "alice", RequestID: "c2"}); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("a different cancel of an ended job: %v", r.Err)
	}
}

func TestPartitionKeyInvariants(t *testing.T) {
	f := harness(t, 4)
	a := submit(t, f, "alice", 1)
	b := submit(t, f, "bob", 1)
	must(t, f.Apply(&Allocate{JobID: a, Nodes: []string{"node001"}, PKey: 0x10, PKeyCooldown: time.Minute, Time: t0}))
	if r := f.Apply(&Allocate{JobID: b, Nodes: []string{"node002"}, PKey: 0x10, Time: t0}); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("two live jobs with one key: %v", r.Err)
	}
	if r := f.Apply(&Allocate{JobID: b, Nodes: []string{"node002"}, PKey: 0x7fff, Time: t0}); !errors.Is(r.Err, ErrInvalid) {
		t.Fatalf("default key handed out: %v", r.Err)
	}
	if r := f.Apply(&PartitionReady{JobID: a, PKey: 0x11}); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("ready for the wrong key: %v", r.Err)
	}
	must(t, f.Apply(&PartitionReady{JobID: a, PKey: 0x10}))
	must(t, f.Apply(&CancelJob{JobID: a, By: "alice", Time: t0.Add(time.Second)}))
	if n := f.View().Nodes["node001"]; n.LastPKey != 0x10 {
		t.Fatalf("cleaning node does not remember the key to remove: %+v", n)
	}
	// Cooling down: refused 30 s after release, accepted after a minute.
	if r := f.Apply(&Allocate{JobID: b, Nodes: []string{"node002"}, PKey: 0x10, PKeyCooldown: time.Minute, Time: t0.Add(31 * time.Second)}); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("key reused while cooling down: %v", r.Err)
	}
	must(t, f.Apply(&Allocate{JobID: b, Nodes: []string{"node002"}, PKey: 0x10, PKeyCooldown: time.Minute, Time: t0.Add(2 * time.Minute)}))
}

func TestSharedTenantKeys(t *testing.T) {
	f := harness(t, 4)
	a1 := submit(t, f, "alice", 1)
	a2 := submit(t, f, "alice", 1)
	b1 := submit(t, f, "bob", 1)
	must(t, f.Apply(&Allocate{JobID: a1, Nodes: []string{"node001"}, PKey: 0x20, PKeyShared: true}))
	must(t, f.Apply(&Allocate{JobID: a2, Nodes: []string{"node002"}, PKey: 0x20, PKeyShared: true}))
	if r := f.Apply(&Allocate{JobID: b1, Nodes: []string{"node003"}, PKey: 0x20, PKeyShared: true}); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("bob got alice's shared key: %v", r.Err)
	}
}
