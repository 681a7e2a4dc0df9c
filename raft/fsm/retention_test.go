package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// finished runs a one-node job on node from submission to a clean node,
// ending at end.
func finished(t *testing.T, f *FSM, tenant, node, req string, end time.Time) uint64 {
	t.Helper()
	j := model.Job{Tenant: tenant, NumNodes: 1, TimeLimit: time.Hour, Argv: []string{"true"}, RequestID: req}
	id := must(t, f.Apply(&SubmitJob{Job: j, Time: end.Add(-time.Minute)})).(uint64)
	must(t, f.Apply(&Allocate{JobID: id, Nodes: []string{node}, Time: end.Add(-time.Minute)}))
	must(t, f.Apply(&StartJob{JobID: id, Time: end.Add(-time.Minute)}))
	zero := 0
	must(t, f.Apply(&FinishJob{JobID: id, State: model.JobCompleted, ExitCode: &zero, Time: end}))
	must(t, f.Apply(&NodeCleaned{Node: node, JobID: id, Evidence: "clean after " + fmt.Sprint(id), Time: end.Add(time.Second)}))
	return id
}

func expire(t *testing.T, f *FSM, c *ExpireRecords) *Expired {
	t.Helper()
	return must(t, f.Apply(c)).(*Expired)
}

func ids(js []*model.Job) []uint64 {
	var out []uint64
	for _, j := range js {
		out = append(out, j.ID)
	}
	return out
}

// TestExpireRemovesOnlyOldFinishedJobs: finished jobs that ended before the
// cut-off leave the state (oldest first, with their request-id records);
// pending, running and recent jobs, the partition-key cool-down and the job
// id counter stay.
func TestExpireRemovesOnlyOldFinishedJobs(t *testing.T) {
	f := harness(t, 4)
	old1 := finished(t, f, "alice", "node001", "r-old1", t0.Add(2*time.Hour))
	old2 := finished(t, f, "bob", "node002", "", t0.Add(time.Hour))
	// Cancelled while pending, behind another pending job in the queue.
	pend := must(t, f.Apply(&SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 4, TimeLimit: time.Minute, Argv: []string{"x"}}, Time: t0})).(uint64)
	gone := must(t, f.Apply(&SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Minute, Argv: []string{"x"}, RequestID: "r-gone"}, Time: t0})).(uint64)
	must(t, f.Apply(&CancelJob{JobID: gone, By: "alice", Time: t0.Add(time.Minute)}))
	// A job with a partition key, finished long ago, whose key cools down.
	keyed := submit(t, f, "bob", 1)
	must(t, f.Apply(&Allocate{JobID: keyed, Nodes: []string{"node003"}, PKey: 0x10, Time: t0}))
	must(t, f.Apply(&CancelJob{JobID: keyed, By: "bob", Time: t0.Add(3 * time.Hour)}))
	recent := finished(t, f, "alice", "node004", "r-recent", t0.Add(30*time.Hour))
	running := submit(t, f, "bob", 1)
	must(t, f.Apply(&Allocate{JobID: running, Nodes: []string{"node001"}, Time: t0}))
	must(t, f.Apply(&StartJob{JobID: running, Time: t0}))

	before := t0.Add(24 * time.Hour)
	if !f.View().ExpiryDue(before) {
		t.Fatal("nothing due")
	}
	e := expire(t, f, &ExpireRecords{Before: before})
	if got, want := fmt.Sprint(ids(e.Jobs)), fmt.Sprint([]uint64{gone, old2, old1, keyed}); got != want {
		t.Fatalf("expired %s, want %s (oldest end first)", got, want)
	}
	if e.Seq != 1 || e.More {
		t.Fatalf("seq %d more %v", e.Seq, e.More)
	}
	s := f.View()
	for _, id := range []uint64{pend, recent, running} {
		if s.Jobs[id] == nil {
			t.Fatalf("job %d removed", id)
		}
	}
	if len(s.Jobs) != 3 {
		t.Fatalf("%d jobs left", len(s.Jobs))
	}
	if _, ok := s.Requests["alice/r-old1"]; ok {
		t.Fatal("request id of an expired job kept")
	}
	if _, ok := s.Requests["alice/r-gone"]; ok {
		t.Fatal("request id of an expired job kept")
	}
	if s.Requests["alice/r-recent"] != recent {
		t.Fatal("request id of a live job removed")
	}
	if s.Expiry.Seq != 1 || s.Expiry.Jobs != 4 || !s.Expiry.Before.Equal(before) {
		t.Fatalf("expiry mark %+v", s.Expiry)
	}
	checkWorkIndex(t, f)
	if w := f.Work(10); len(w.Pending) != 1 || w.Pending[0].ID != pend {
		t.Fatalf("pending queue after expiry: %v", w.Pending)
	}
	// The cool-down of the expired job's key still holds...
	other := submit(t, f, "alice", 1)
	if r := f.Apply(&Allocate{JobID: other, Nodes: []string{"node002"}, PKey: 0x10, PKeyCooldown: time.Hour, Time: t0.Add(3*time.Hour + time.Minute)}); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("key of an expired job reused while cooling down: %v", r.Err)
	}
	// ...ids are never reused, and a live request id still deduplicates.
	if id := submit(t, f, "alice", 1); id <= other {
		t.Fatalf("new job id %d", id)
	}
	again := must(t, f.Apply(&SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Hour, Argv: []string{"true"}, RequestID: "r-recent"}})).(uint64)
	if again != recent {
		t.Fatalf("retry of a live request created job %d", again)
	}
	// Nothing more is due: the command changes nothing and archives nothing.
	h := f.View().Hash()
	if f.View().ExpiryDue(before) {
		t.Fatal("still due")
	}
	if e := expire(t, f, &ExpireRecords{Before: before}); e.Seq != 0 || len(e.Jobs)+len(e.Ledger) != 0 {
		t.Fatalf("second expiry removed %+v", e)
	}
	if f.View().Hash() != h {
		t.Fatal("an empty expiry changed the state")
	}
}

// TestExpireLedgerKeepsWhatLiveViewsNeed: old entries go, except each
// step's latest entry and the open custody cycle after the last "cleaned".
func TestExpireLedgerKeepsWhatLiveViewsNeed(t *testing.T) {
	f := harness(t, 2)
	enrolled(t, f, "node001") // enroll entry at t0; the node is cleaning
	at := t0
	task := 0
	step := func(kind model.TaskKind, ok bool) {
		at = at.Add(time.Minute)
		task++
		id := fmt.Sprintf("%s-%d", kind, task)
		must(t, f.Apply(&StartTask{Node: "node001", Task: model.NodeTask{ID: id, Kind: kind}}))
		must(t, f.Apply(&TaskDone{Node: "node001", TaskID: id, OK: ok, Evidence: "{}", Time: at}))
	}
	clean := func() {
		step("erase", true)
		step("firmware", true)
		at = at.Add(time.Minute)
		must(t, f.Apply(&NodeCleaned{Node: "node001", JobID: f.View().Nodes["node001"].LastJobID, Evidence: "ok", Time: at}))
	}
	clean() // erase, firmware, cleaned
	for i := 0; i < 3; i++ {
		id := submit(t, f, "alice", 1)
		must(t, f.Apply(&Allocate{JobID: id, Nodes: []string{"node001"}, Time: at}))
		must(t, f.Apply(&CancelJob{JobID: id, By: "alice", Time: at}))
		clean()
	}
	// An open cycle: erase fails twice, then the node is quarantined.
	id := submit(t, f, "alice", 1)
	must(t, f.Apply(&Allocate{JobID: id, Nodes: []string{"node001"}, Time: at}))
	must(t, f.Apply(&CancelJob{JobID: id, By: "alice", Time: at}))
	step("erase", false)
	step("erase", false)
	must(t, f.Apply(&QuarantineNode{Node: "node001", Reason: "erase failed", Time: at.Add(time.Minute)}))
	full := f.View().Ledger["node001"]
	// 1 enroll + 4 cycles of 3 + 2 failed erases + quarantine.
	if len(full) != 16 {
		t.Fatalf("%d ledger entries", len(full))
	}

	e := expire(t, f, &ExpireRecords{Before: at.Add(time.Hour)})
	left := f.View().Ledger["node001"]
	var steps []string
	for _, x := range left {
		steps = append(steps, fmt.Sprintf("%s/%v", x.Step, x.OK))
	}
	// Kept: enroll (its step's only entry), the last cycle's firmware
	// and cleaned (latest of their steps), and the open cycle.
	want := "[enroll/true firmware/true cleaned/true erase/false erase/false quarantine/true]"
	if fmt.Sprint(steps) != want {
		t.Fatalf("ledger after expiry %v, want %s", steps, want)
	}
	if len(e.Ledger) != len(full)-len(left) {
		t.Fatalf("%d entries returned, %d removed", len(e.Ledger), len(full)-len(left))
	}
	for i := 1; i < len(e.Ledger); i++ {
		if e.Ledger[i].Entry.Time.Before(e.Ledger[i-1].Entry.Time) || e.Ledger[i].Node != "node001" {
			t.Fatalf("returned entries out of order: %+v", e.Ledger)
		}
	}
	// The first erase (the oldest entry after enroll) went to the archive.
	if e.Ledger[0].Entry.Step != "erase" || !e.Ledger[0].Entry.Time.Equal(full[1].Time) {
		t.Fatalf("first expired entry %+v", e.Ledger[0])
	}
	// The archive and the state together still form one unbroken chain.
	all := slices.Clone(left)
	for _, x := range e.Ledger {
		all = append(all, x.Entry)
	}
	slices.SortFunc(all, func(a, b model.LedgerEntry) int { return int(a.Seq) - int(b.Seq) })
	if n, err := model.VerifyChain(all); err != nil || n != len(full) {
		t.Fatalf("chain across the archive: %d verified, %v", n, err)
	}
	if _, err := model.VerifyChain(left); err == nil {
		t.Fatal("the state's remaining entries alone verified, though expiry left gaps")
	}
	// Recent entries are not touched.
	g := harness(t, 2)
	enrolled(t, g, "node001")
	if g.View().ExpiryDue(t0.Add(time.Hour)) {
		t.Fatal("a lone entry is due")
	}
}

// TestExpireLimitTakesOldestFirst: a limited command removes the oldest
// records and says more are due; repeating it drains the backlog.
func TestExpireLimitTakesOldestFirst(t *testing.T) {
	f := harness(t, 2)
	var want []uint64
	for i := 0; i < 7; i++ {
		want = append(want, finished(t, f, "alice", fmt.Sprintf("node%03d", 1+i%2), "", t0.Add(time.Duration(i)*time.Minute)))
	}
	var got []uint64
	var seq []uint64
	for {
		e := expire(t, f, &ExpireRecords{Before: t0.Add(time.Hour), Limit: 3})
		got = append(got, ids(e.Jobs)...)
		seq = append(seq, e.Seq)
		if len(e.Jobs) > 3 || len(e.Ledger) > 3 {
			t.Fatalf("limit exceeded: %d jobs %d entries", len(e.Jobs), len(e.Ledger))
		}
		if !e.More {
			break
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || fmt.Sprint(seq) != "[1 2 3]" {
		t.Fatalf("expired %v in batches %v, want %v", got, seq, want)
	}
	// Each node keeps its latest "cleaned" entry.
	for _, n := range []string{"node001", "node002"} {
		if l := f.View().Ledger[n]; len(l) != 1 || l[0].Step != "cleaned" {
			t.Fatalf("%s ledger %+v", n, l)
		}
	}
}

// TestExpireIsDeterministic: replicas applying the same commands agree
// (the same hash, the same records in the same order), and the expiry
// mark survives a snapshot.
func TestExpireIsDeterministic(t *testing.T) {
	build := func() *FSM {
		f := harness(t, 8)
		for i := 0; i < 40; i++ {
			finished(t, f, []string{"alice", "bob"}[i%2], fmt.Sprintf("node%03d", 1+i%8), fmt.Sprint("r", i), t0.Add(time.Duration(i%5)*time.Minute))
		}
		return f
	}
	a, b := build(), build()
	ea := expire(t, a, &ExpireRecords{Before: t0.Add(3 * time.Minute), Limit: 10})
	eb := expire(t, b, &ExpireRecords{Before: t0.Add(3 * time.Minute), Limit: 10})
	if fmt.Sprint(ids(ea.Jobs)) != fmt.Sprint(ids(eb.Jobs)) || fmt.Sprint(ea.Ledger) != fmt.Sprint(eb.Ledger) {
		t.Fatal("replicas expired different records")
	}
	if a.View().Hash() != b.View().Hash() {
		t.Fatal("replicas diverged")
	}
	var buf bytes.Buffer
	if err := WriteSnapshot(&buf, a.SnapshotState()); err != nil {
		t.Fatal(err)
	}
	g := New()
	if err := g.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if g.ExpiryMark() != a.ExpiryMark() || g.ExpiryMark().Seq != 1 || g.View().Hash() != a.View().Hash() {
		t.Fatalf("expiry mark after restore %+v, want %+v", g.ExpiryMark(), a.ExpiryMark())
	}
}

func TestExpireValidatesAndRoundTrips(t *testing.T) {
	f := harness(t, 1)
	if r := f.Apply(&ExpireRecords{}); !errors.Is(r.Err, ErrInvalid) {
		t.Fatalf("expiry without a cut-off: %v", r.Err)
	}
	if r := f.Apply(&ExpireRecords{Before: t0, Limit: -1}); !errors.Is(r.Err, ErrInvalid) {
		t.Fatalf("negative limit: %v", r.Err)
	}
	b, err := Encode(&ExpireRecords{Before: t0, Limit: 5})
	if err != nil || !IsExpiry(b) {
		t.Fatalf("encode: %v", err)
	}
	c, err := Decode(b)
	if err != nil || !c.(*ExpireRecords).Before.Equal(t0) || c.(*ExpireRecords).Limit != 5 {
		t.Fatalf("decode: %+v %v", c, err)
	}
	if s, _ := Encode(&SubmitJob{}); IsExpiry(s) {
		t.Fatal("a submission is an expiry")
	}
}

func TestOldestKeepsTheSmallest(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	for round := 0; round < 200; round++ {
		n, k := rng.Intn(50), rng.Intn(10)
		o := newOldest(k, func(a, b int) bool { return a < b })
		var all []int
		for i := 0; i < n; i++ {
			x := rng.Intn(1000)*100 + i // distinct
			all = append(all, x)
			o.add(x)
		}
		slices.Sort(all)
		want := all
		if k > 0 && len(all) > k {
			want = all[:k]
		}
		if got := o.sorted(); fmt.Sprint(got) != fmt.Sprint(want) || o.dropped != (k > 0 && n > k) {
			t.Fatalf("n=%d k=%d: got %v dropped %v, want %v", n, k, got, o.dropped, want)
		}
	}
}
