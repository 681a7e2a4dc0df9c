package control

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/pkeypool"
	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/pipeline"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// TestPipelinePass: one pass starts as many array tasks as the throttle
// allows (each its own record, with the array variables in its
// environment), and gives every job that may not start its reason.
func TestPipelinePass(t *testing.T) {
	h := newHarness(t, pkeypool.Pool{}, false)
	now := h.store.Now()
	sub := func(j model.Job) uint64 {
		j.Tenant, j.NumNodes, j.TimeLimit, j.Argv = "alice", 1, time.Hour, []string{"true"}
		return h.apply(&fsm.SubmitJob{Job: j, Time: now}).(uint64)
	}
	arr := sub(model.Job{ArrayPending: model.IndexSet{{Lo: 0, Hi: 9}}, ArrayThrottle: 3})
	dep := sub(model.Job{Depend: []model.Dependency{{Type: model.DepAfterOK, JobID: arr}}})
	held := sub(model.Job{Held: true})
	later := sub(model.Job{BeginTime: now.Add(time.Hour)})
	h.pass() // allocate
	h.pass() // launch
	var tasks []model.Job
	h.store.Read(func(s *fsm.State) {
		for _, j := range s.SortedJobs() {
			if j.ArrayJobID == arr && j.ID != arr {
				tasks = append(tasks, *j)
			}
		}
	})
	if len(tasks) != 3 {
		t.Fatalf("%d tasks started in one pass, want the throttle's 3 (4 nodes free)", len(tasks))
	}
	for i, task := range tasks {
		if task.ArrayTaskID != i || task.State != model.JobRunning {
			t.Fatalf("task %d: %+v", i, task)
		}
	}
	if r := h.job(arr); r.Reason != pipeline.ReasonArrayTaskCap || r.ArrayPending.String() != "3-9" {
		t.Fatalf("array record: reason %q pending %q", r.Reason, r.ArrayPending.String())
	}
	for id, want := range map[uint64]string{dep: pipeline.ReasonDependency, held: pipeline.ReasonHeld, later: pipeline.ReasonBeginTime} {
		if j := h.job(id); j.State != model.JobPending || j.Reason != want {
			t.Errorf("job %d: %s (%q), want pending (%q)", id, j.State, j.Reason, want)
		}
	}
	var env []string
	for _, task := range h.exec.tasks {
		if task.JobID == tasks[1].ID {
			env = task.Extra
		}
	}
	for _, want := range []string{"IBEX_ARRAY_TASK_ID=1", "SLURM_ARRAY_TASK_ID=1", "IBEX_ARRAY_JOB_ID=" + strconv.FormatUint(arr, 10),
		"SLURM_ARRAY_JOB_ID=" + strconv.FormatUint(arr, 10), "IBEX_ARRAY_TASK_COUNT=10", "IBEX_ARRAY_TASK_MIN=0", "SLURM_ARRAY_TASK_MAX=9"} {
		if !slices.Contains(env, want) {
			t.Errorf("task 1's environment lacks %s: %v", want, env)
		}
	}
	// One task ends: the next starts; the begin time passes: that job too.
	h.exec.exit(tasks[0].ID, tasks[0].Nodes[0], 0)
	h.pass()
	h.store.Advance(time.Hour)
	h.pass()
	if j := h.job(later); j.State == model.JobPending && j.Reason == pipeline.ReasonBeginTime {
		t.Fatalf("job past its begin time still waits for it")
	}
	if r := h.job(arr); r.ArrayPending.String() != "4-9" {
		t.Fatalf("after one task ended, pending %q, want task 3 started", r.ArrayPending.String())
	}
}
