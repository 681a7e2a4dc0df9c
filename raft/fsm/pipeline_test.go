package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/pipeline"
)

func submitJob(t *testing.T, f *FSM, j model.Job) uint64 {
	t.Helper()
	if j.Tenant == "" {
		j.Tenant = "alice"
	}
	j.NumNodes, j.TimeLimit = max(j.NumNodes, 1), time.Minute
	if j.Script == "" && len(j.Argv) == 0 {
		j.Argv = []string{"true"}
	}
	return must(t, f.Apply(&SubmitJob{Job: j, Time: t0})).(uint64)
}

// run takes job id through allocate, start and finish with st.
func run(t *testing.T, f *FSM, id uint64, node string, st model.JobState) {
	t.Helper()
	must(t, f.Apply(&Allocate{JobID: id, Nodes: []string{node}, Time: t0}))
	must(t, f.Apply(&StartJob{JobID: id, Time: t0}))
	finish(t, f, id, st)
}

func finish(t *testing.T, f *FSM, id uint64, st model.JobState) {
	t.Helper()
	code := 0
	if st != model.JobCompleted {
		code = 1
	}
	must(t, f.Apply(&FinishJob{JobID: id, State: st, ExitCode: &code, Time: t0.Add(time.Minute)}))
}

func blocked(f *FSM, id uint64) string {
	w := f.Work(100)
	return w.Blocked[id]
}

func TestDependencies(t *testing.T) {
	f := harness(t, 8)
	a := submitJob(t, f, model.Job{})
	b := submitJob(t, f, model.Job{})
	ok := submitJob(t, f, model.Job{Depend: []model.Dependency{{Type: model.DepAfterOK, JobID: a}, {Type: model.DepAfterOK, JobID: b}}})
	notok := submitJob(t, f, model.Job{Depend: []model.Dependency{{Type: model.DepAfterNotOK, JobID: b}}})
	anyd := submitJob(t, f, model.Job{Depend: []model.Dependency{{Type: model.DepAfterAny, JobID: b}}})
	after := submitJob(t, f, model.Job{Depend: []model.Dependency{{Type: model.DepAfter, JobID: a}}})
	for _, id := range []uint64{ok, notok, anyd, after} {
		if why := blocked(f, id); why != pipeline.ReasonDependency {
			t.Fatalf("job %d before its targets ran: %q", id, why)
		}
		// The state machine refuses a plan the pass should not have made.
		if r := f.Apply(&Allocate{JobID: id, Nodes: []string{"node008"}, Time: t0}); !errors.Is(r.Err, ErrConflict) {
			t.Fatalf("job %d allocated before its dependencies: %v", id, r.Err)
		}
	}
	must(t, f.Apply(&Allocate{JobID: a, Nodes: []string{"node001"}, Time: t0}))
	must(t, f.Apply(&StartJob{JobID: a, Time: t0}))
	if blocked(f, after) != "" {
		t.Fatal("after: not met when its target started")
	}
	finish(t, f, a, model.JobCompleted)
	if why := blocked(f, ok); why != pipeline.ReasonDependency {
		t.Fatalf("afterok with one of two targets done: %q", why)
	}
	run(t, f, b, "node002", model.JobFailed)
	if why := blocked(f, ok); why != pipeline.ReasonNeverMet {
		t.Fatalf("afterok after a failed target: %q", why)
	}
	if blocked(f, notok) != "" || blocked(f, anyd) != "" {
		t.Fatalf("afternotok/afterany after a failed target: %q %q", blocked(f, notok), blocked(f, anyd))
	}
	// A never-satisfied job stays pending (Slurm's default), and can be
	// cancelled.
	if j := f.View().Jobs[ok]; j.State != model.JobPending {
		t.Fatalf("job with an unmeetable dependency: %s", j.State)
	}
	must(t, f.Apply(&CancelJob{JobID: ok, By: "alice", Time: t0}))
}

func TestDependencyOnlyOnOwnJobs(t *testing.T) {
	f := harness(t, 4)
	bobs := submitJob(t, f, model.Job{Tenant: "bob"})
	for _, d := range []model.Dependency{{Type: model.DepAfterOK, JobID: bobs}, {Type: model.DepAfterOK, JobID: 99},
		{Type: model.DepAfterAny, JobID: bobs + 1, Final: model.JobCompleted}} {
		before := f.View().Hash()
		r := f.Apply(&SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Minute, Argv: []string{"x"}, Depend: []model.Dependency{d}}, Time: t0})
		if !errors.Is(r.Err, ErrNotFound) {
			t.Fatalf("dependency %+v: %v, want not found", d, r.Err)
		}
		if f.View().Hash() != before {
			t.Fatalf("a refused submit changed the state")
		}
	}
}

func TestSingleton(t *testing.T) {
	f := harness(t, 8)
	single := []model.Dependency{{Type: model.DepSingleton}}
	a := submitJob(t, f, model.Job{Name: "etl", Depend: single})
	b := submitJob(t, f, model.Job{Name: "etl", Depend: single})
	other := submitJob(t, f, model.Job{Name: "etl", Tenant: "bob", Depend: single})
	w := f.Work(100)
	if w.Blocked[a] != "" || w.Blocked[b] != pipeline.ReasonDependency || w.Blocked[other] != "" {
		t.Fatalf("one singleton per tenant and name per pass: %v", w.Blocked)
	}
	must(t, f.Apply(&Allocate{JobID: a, Nodes: []string{"node001"}, Time: t0}))
	if r := f.Apply(&Allocate{JobID: b, Nodes: []string{"node002"}, Time: t0}); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("second singleton allocated while the first holds nodes: %v", r.Err)
	}
	must(t, f.Apply(&Allocate{JobID: other, Nodes: []string{"node003"}, Time: t0}))
	must(t, f.Apply(&StartJob{JobID: a, Time: t0}))
	finish(t, f, a, model.JobCompleted)
	must(t, f.Apply(&Allocate{JobID: b, Nodes: []string{"node004"}, Time: t0}))
}

func TestHoldAndBegin(t *testing.T) {
	f := harness(t, 4)
	h := submitJob(t, f, model.Job{Held: true})
	b := submitJob(t, f, model.Job{BeginTime: t0.Add(time.Hour)})
	if why := blocked(f, h); why != pipeline.ReasonHeld {
		t.Fatalf("held: %q", why)
	}
	if r := f.View().Jobs[h].Reason; r != pipeline.ReasonHeld {
		t.Fatalf("a held job's reason at submit is %q, want %q without waiting for a pass", r, pipeline.ReasonHeld)
	}
	if r := f.Apply(&ReleaseHold{JobID: h, By: "bob"}); !errors.Is(r.Err, ErrNotFound) {
		t.Fatalf("bob released alice's job: %v", r.Err)
	}
	must(t, f.Apply(&ReleaseHold{JobID: h, By: "alice", RequestID: "r1"}))
	must(t, f.Apply(&ReleaseHold{JobID: h, By: "alice", RequestID: "r1"})) // its retry
	if r := f.Apply(&ReleaseHold{JobID: h, By: "alice", RequestID: "r2"}); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("second release: %v", r.Err)
	}
	if why := blocked(f, h); why != "" {
		t.Fatalf("released: %q", why)
	}
	if r := f.View().Jobs[h].Reason; r != "" {
		t.Fatalf("a released job's reason is still %q", r)
	}
	if r := f.Apply(&Allocate{JobID: b, Nodes: []string{"node001"}, Time: t0}); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("allocated before its begin time: %v", r.Err)
	}
	must(t, f.Apply(&Allocate{JobID: b, Nodes: []string{"node001"}, Time: t0.Add(time.Hour)}))
}

func TestArraySplitsAsTasksStart(t *testing.T) {
	f := harness(t, 8)
	arr := submitJob(t, f, model.Job{Name: "sweep", ArrayPending: model.IndexSet{{Lo: 1, Hi: 5}}, ArrayThrottle: 2})
	s := f.View()
	if len(s.Jobs) != 1 || s.Jobs[arr].ArrayJobID != arr || s.Jobs[arr].ArrayCount != 5 {
		t.Fatalf("an array of 5 is one record at submit: %d records, %+v", len(s.Jobs), s.Jobs[arr])
	}
	if w := f.Work(100); w.ArrayRoom[arr] != 2 {
		t.Fatalf("room with %%2 and nothing running: %d", w.ArrayRoom[arr])
	}
	must(t, f.Apply(&Allocate{JobID: arr, Nodes: []string{"node001"}, Time: t0}))
	must(t, f.Apply(&Allocate{JobID: arr, Nodes: []string{"node002"}, Time: t0}))
	if r := f.Apply(&Allocate{JobID: arr, Nodes: []string{"node003"}, Time: t0}); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("a third task started under %%2: %v", r.Err)
	}
	if why := blocked(f, arr); why != pipeline.ReasonArrayTaskCap {
		t.Fatalf("reason at the throttle: %q", why)
	}
	s = f.View()
	rec := s.Jobs[arr]
	if rec.DisplayID() != fmt.Sprintf("%d_[3-5%%2]", arr) || rec.State != model.JobPending {
		t.Fatalf("array record: %s %s", rec.DisplayID(), rec.State)
	}
	t1, t2 := s.Jobs[arr+1], s.Jobs[arr+2]
	if t1.ArrayTaskID != 1 || t2.ArrayTaskID != 2 || t1.State != model.JobScheduled || t1.DisplayID() != fmt.Sprintf("%d_1", arr) {
		t.Fatalf("split tasks: %+v %+v", t1, t2)
	}
	must(t, f.Apply(&StartJob{JobID: t1.ID, Time: t0}))
	finish(t, f, t1.ID, model.JobCompleted)
	// Task 4 is cancelled while pending: a record of its own.
	v := must(t, f.Apply(&CancelArrayTask{JobID: arr, Task: 4, By: "alice", Time: t0})).(uint64)
	if c := f.View().Jobs[v]; c.State != model.JobCancelled || c.ArrayTaskID != 4 {
		t.Fatalf("cancelled pending task: %+v", c)
	}
	if r := f.Apply(&CancelArrayTask{JobID: arr, Task: 9, By: "alice", Time: t0}); !errors.Is(r.Err, ErrNotFound) {
		t.Fatalf("cancel of a task the array lacks: %v", r.Err)
	}
	must(t, f.Apply(&Allocate{JobID: arr, Nodes: []string{"node003"}, Time: t0}))
	must(t, f.Apply(&StartJob{JobID: t2.ID, Time: t0}))
	finish(t, f, t2.ID, model.JobCompleted)
	// 5 was the last index: the array's record becomes task 5.
	must(t, f.Apply(&Allocate{JobID: arr, Nodes: []string{"node004"}, Time: t0}))
	s = f.View()
	if rec := s.Jobs[arr]; rec.ArrayTaskID != 5 || len(rec.ArrayPending) != 0 || rec.State != model.JobScheduled || len(s.Jobs) != 5 {
		t.Fatalf("last task keeps the record: %+v (%d records)", rec, len(s.Jobs))
	}
	checkWorkIndex(t, f)
	// The whole array, by its id: the running tasks end, the outcome is
	// recorded on the record.
	must(t, f.Apply(&CancelJob{JobID: arr, By: "alice", RequestID: "all", Time: t0}))
	s = f.View()
	for id, j := range s.Jobs {
		if !j.State.Terminal() {
			t.Fatalf("job %d still %s after cancelling the array", id, j.State)
		}
	}
	if rec := s.Jobs[arr]; !rec.ArrayDone || rec.ArrayFailed != 3 {
		t.Fatalf("array outcome: done %v failed %d", rec.ArrayDone, rec.ArrayFailed)
	}
	must(t, f.Apply(&CancelJob{JobID: arr, By: "alice", RequestID: "all", Time: t0})) // a retry
	if r := f.Apply(&CancelJob{JobID: arr, By: "alice", RequestID: "other", Time: t0}); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("cancel of an ended array: %v", r.Err)
	}
}

// A dependency on an array waits for every task; when the array and its
// target records expire into the archive, the dependents keep the answer.
func TestArrayDependencyAndExpiry(t *testing.T) {
	f := harness(t, 8)
	arr := submitJob(t, f, model.Job{ArrayPending: model.IndexSet{{Lo: 0, Hi: 1}}})
	dep := submitJob(t, f, model.Job{Depend: []model.Dependency{{Type: model.DepAfterOK, JobID: arr}}})
	must(t, f.Apply(&Allocate{JobID: arr, Nodes: []string{"node001"}, Time: t0}))
	task0 := f.View().Jobs[arr].ID + 2 // ids: arr, dep, then the split task
	if f.View().Jobs[task0].ArrayTaskID != 0 {
		t.Fatalf("task 0 is job %d: %+v", task0, f.View().Jobs[task0])
	}
	must(t, f.Apply(&StartJob{JobID: task0, Time: t0}))
	finish(t, f, task0, model.JobCompleted)
	if why := blocked(f, dep); why != pipeline.ReasonDependency {
		t.Fatalf("one task of two done: %q", why)
	}
	// Retention may not take task 0 while the array runs.
	must(t, f.Apply(&ExpireRecords{Before: t0.Add(time.Hour)}))
	if f.View().Jobs[task0] == nil {
		t.Fatal("a task of an unfinished array expired")
	}
	run(t, f, arr, "node002", model.JobCompleted)
	if why := blocked(f, dep); why != "" {
		t.Fatalf("every task completed: %q", why)
	}
	held := submitJob(t, f, model.Job{Held: true, Depend: []model.Dependency{{Type: model.DepAfterOK, JobID: arr}, {Type: model.DepAfterNotOK, JobID: task0}}})
	r := must(t, f.Apply(&ExpireRecords{Before: t0.Add(time.Hour)})).(*Expired)
	if len(r.Jobs) != 2 {
		t.Fatalf("expired %d jobs, want the array's 2", len(r.Jobs))
	}
	s := f.View()
	if d := s.Jobs[held].Depend; d[0].Final != model.JobCompleted || d[1].Final != model.JobCompleted {
		t.Fatalf("dependencies after their targets expired: %+v", d)
	}
	must(t, f.Apply(&ReleaseHold{JobID: held, By: "alice"}))
	if why := blocked(f, held); why != pipeline.ReasonNeverMet {
		t.Fatalf("afternotok on an archived completed job: %q", why)
	}
	// A new submission may name archived jobs when the server found them.
	submitJob(t, f, model.Job{Depend: []model.Dependency{{Type: model.DepAfterOK, JobID: arr, Final: model.JobCompleted}}})
	checkWorkIndex(t, f) // and a restored copy rebuilds the array index
}

// Cancelling single tasks out of an array's ranges is bounded: the record
// stays compact, and the refusal says what to do instead.
func TestCancelTaskKeepsArrayCompact(t *testing.T) {
	f := harness(t, 1)
	arr := submitJob(t, f, model.Job{ArrayPending: model.IndexSet{{Lo: 0, Hi: 9999}}})
	for i := 1; ; i += 2 {
		r := f.Apply(&CancelArrayTask{JobID: arr, Task: i, By: "alice", Time: t0})
		if r.Err != nil {
			var jobs int
			var pending string
			f.Read(func(s *State) { jobs, pending = len(s.Jobs), s.Jobs[arr].ArrayPending.String() })
			if !errors.Is(r.Err, ErrConflict) || jobs != (i+1)/2 || !strings.Contains(pending, fmt.Sprintf(",%d-", i-1)) {
				t.Fatalf("task %d: %v (%d records, pending %.40q...)", i, r.Err, jobs, pending)
			}
			if n := len(f.View().Jobs[arr].ArrayPending); n != pipeline.MaxArrayRanges {
				t.Fatalf("refused at %d ranges, want %d", n, pipeline.MaxArrayRanges)
			}
			break
		}
	}
	// Cancelling at a range's end does not split it: still allowed.
	rec := f.View().Jobs[arr]
	must(t, f.Apply(&CancelArrayTask{JobID: arr, Task: rec.ArrayPending.Max(), By: "alice", Time: t0}))
}

// BenchmarkArrayFootprint compares the replicated state of a 10,000-task
// array at submit (one record) with 10,000 separate jobs, and times one
// Work pass over a queue of arrays with dependents.
func BenchmarkArrayFootprint(b *testing.B) {
	size := func(f *FSM) int {
		var buf bytes.Buffer
		if err := WriteSnapshot(&buf, f.SnapshotState()); err != nil {
			b.Fatal(err)
		}
		return buf.Len()
	}
	base := New()
	mustB(b, base.Apply(&CreateTenant{Tenant: model.Tenant{Name: "alice", TokenHash: "a"}}))
	mustB(b, base.Apply(&RegisterNodes{Nodes: []NodeSpec{{Name: "node001", Leaf: "leaf01"}}, Time: t0}))
	empty := size(base)
	arr := New()
	mustB(b, arr.Apply(&CreateTenant{Tenant: model.Tenant{Name: "alice", TokenHash: "a"}}))
	mustB(b, arr.Apply(&RegisterNodes{Nodes: []NodeSpec{{Name: "node001", Leaf: "leaf01"}}, Time: t0}))
	job := model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Minute, Argv: []string{"./sweep"}}
	a := job
	a.ArrayPending = model.IndexSet{{Lo: 0, Hi: 9999}}
	id := mustB(b, arr.Apply(&SubmitJob{Job: a, Time: t0})).(uint64)
	arrayBytes := size(arr) - empty
	for range 1000 {
		mustB(b, arr.Apply(&SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Minute, Argv: []string{"x"},
			Depend: []model.Dependency{{Type: model.DepAfterOK, JobID: id}}}, Time: t0}))
	}
	for range 9999 {
		mustB(b, base.Apply(&SubmitJob{Job: job, Time: t0}))
	}
	arrBytes, jobsBytes := size(arr)-empty, size(base)-empty
	b.ResetTimer()
	for range b.N {
		w := arr.Work(1000)
		if len(w.Blocked) != 999 {
			b.Fatalf("%d blocked", len(w.Blocked))
		}
	}
	b.ReportMetric(float64(arrayBytes), "array-bytes")
	b.ReportMetric(float64(arrBytes), "array+1000deps-bytes")
	b.ReportMetric(float64(jobsBytes), "10000jobs-bytes")
}

func mustB(b *testing.B, r Result) any {
	b.Helper()
	if r.Err != nil {
		b.Fatal(r.Err)
	}
	return r.Value
}
