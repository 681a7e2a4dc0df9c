package fsm

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

func submitIsolated(t *testing.T, f *FSM, n int) uint64 {
	t.Helper()
	return must(t, f.Apply(&SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: n, TimeLimit: time.Minute, Argv: []string{"true"}, Isolation: IsolationLinks}, Time: t0})).(uint64)
}

// Two plans made from the same view cannot both get a cable; links are
// refused on jobs that did not ask for isolation and off the job's leaves;
// a finished job's links are free again.
func TestLinksNeverDoublyHeldByTheFSM(t *testing.T) {
	f := harness(t, 32) // leaf01..leaf04, 8 nodes each
	a := submitIsolated(t, f, 2)
	b := submitIsolated(t, f, 2)
	plain := submit(t, f, "bob", 2)
	must(t, f.Apply(&Allocate{JobID: a, Nodes: []string{"node001", "node009"}, Links: []string{"leaf02>spine01", "leaf01>spine01"}, Time: t0}))
	if got := f.View().Jobs[a].Links; !slices.Equal(got, []string{"leaf01>spine01", "leaf02>spine01"}) {
		t.Fatalf("job %d holds %v", a, got)
	}
	before := f.View().Hash()
	for _, bad := range []*Allocate{
		{JobID: b, Nodes: []string{"node002", "node010"}, Links: []string{"leaf01>spine01", "leaf02>spine02"}}, // leaf01>spine01 held by a
		{JobID: b, Nodes: []string{"node002", "node010"}, Links: []string{"leaf03>spine02", "leaf02>spine02"}}, // leaf03 is not b's
		{JobID: b, Nodes: []string{"node002", "node010"}, Links: []string{"leaf01>spine02", "leaf01>spine02"}}, // twice
		{JobID: b, Nodes: []string{"node002", "node010"}, Links: []string{"leaf01"}},                           // not LEAF>SPINE
		{JobID: plain, Nodes: []string{"node003", "node011"}, Links: []string{"leaf01>spine03", "leaf02>spine03"}},
	} {
		if r := f.Apply(bad); r.Err == nil {
			t.Errorf("plan %+v accepted", bad)
		}
	}
	if f.View().Hash() != before {
		t.Fatal("a rejected plan changed the state")
	}
	must(t, f.Apply(&Allocate{JobID: b, Nodes: []string{"node002", "node010"}, Links: []string{"leaf01>spine02", "leaf02>spine02"}, Time: t0}))
	zero := 0
	must(t, f.Apply(&FinishJob{JobID: a, State: model.JobCompleted, ExitCode: &zero, Time: t0.Add(time.Minute)}))
	c := submitIsolated(t, f, 2)
	must(t, f.Apply(&Allocate{JobID: c, Nodes: []string{"node003", "node011"}, Links: []string{"leaf01>spine01", "leaf02>spine01"}, Time: t0}))

	if r := f.Apply(&SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 2, TimeLimit: time.Minute, Argv: []string{"true"}, Isolation: "spines"}, Time: t0}); !errors.Is(r.Err, ErrInvalid) {
		t.Fatalf("unknown isolation accepted: %v", r.Err)
	}
}

// Held links survive a snapshot: a restored server's scheduler sees the
// same cables held, and keeps refusing them.
func TestHeldLinksSurviveSnapshot(t *testing.T) {
	f := harness(t, 16)
	a := submitIsolated(t, f, 2)
	must(t, f.Apply(&Allocate{JobID: a, Nodes: []string{"node001", "node009"}, Links: []string{"leaf01>spine01", "leaf02>spine01"}, Time: t0}))
	var buf bytes.Buffer
	if err := WriteSnapshot(&buf, f.SnapshotState()); err != nil {
		t.Fatal(err)
	}
	g := New()
	if err := g.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if g.View().Hash() != f.View().Hash() {
		t.Fatal("restored state differs")
	}
	w := g.Work(10)
	if len(w.Active) != 1 || !slices.Equal(w.Active[0].Links, []string{"leaf01>spine01", "leaf02>spine01"}) {
		t.Fatalf("restored active jobs: %+v", w.Active)
	}
	b := must(t, g.Apply(&SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 2, TimeLimit: time.Minute, Argv: []string{"true"}, Isolation: IsolationLinks}, Time: t0})).(uint64)
	if r := g.Apply(&Allocate{JobID: b, Nodes: []string{"node002", "node010"}, Links: []string{"leaf01>spine01", "leaf02>spine01"}}); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("restored state let a second job take held links: %v", r.Err)
	}
}
