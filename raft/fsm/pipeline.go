package fsm

import (
	"slices"
	"time"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/pipeline"
)

// Pipelines (#15.3): dependencies, job arrays, holds and begin times. The
// rules that say whether a pending job may start are in package pipeline;
// the state implements its Lookup, so Allocate re-checks exactly what the
// scheduling pass decided from (Work.Blocked).
//
// An array is one record while its tasks wait (model.Job.ArrayPending,
// a few ranges however many tasks): each Allocate of the record splits
// off its lowest pending index into a record of its own, and the last
// index keeps the array's record, as Slurm does.

const (
	CmdReleaseHold     CommandType = 15
	CmdCancelArrayTask CommandType = 16
)

// ReleaseHold lets a job submitted with --hold start (its owner or an
// admin).
type ReleaseHold struct {
	JobID     uint64 `json:"job_id"`
	By        string `json:"by"`
	Admin     bool   `json:"admin,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// CancelArrayTask cancels one task of an array: a pending index becomes a
// cancelled record of its own, a task that has its record is cancelled
// like any job. The result is the task's job id.
type CancelArrayTask struct {
	JobID     uint64    `json:"job_id"` // the array's id
	Task      int       `json:"task"`
	By        string    `json:"by"`
	Admin     bool      `json:"admin,omitempty"`
	RequestID string    `json:"request_id,omitempty"`
	Time      time.Time `json:"time"`
}

func (ReleaseHold) Type() CommandType     { return CmdReleaseHold }
func (CancelArrayTask) Type() CommandType { return CmdCancelArrayTask }

func init() {
	registerE(CmdReleaseHold, (*State).releaseHold)
	register(CmdCancelArrayTask, func(s *State, c *CancelArrayTask) (any, error) { return s.cancelArrayTask(c) })
}

// --- pipeline.Lookup over the live state ---

// Job implements pipeline.Lookup.
func (s *State) Job(id uint64) *model.Job { return s.Jobs[id] }

// ArrayTasks implements pipeline.Lookup.
func (s *State) ArrayTasks(id uint64, fn func(*model.Job) bool) {
	for _, tid := range s.idx.arrays[id] {
		if t := s.Jobs[tid]; t != nil && !fn(t) {
			return
		}
	}
}

// Running implements pipeline.Lookup: the active jobs are few (at most
// one per node), so a scan is cheap.
func (s *State) Running(tenant, name string, except uint64) bool {
	for id := range s.idx.active {
		if j := s.Jobs[id]; j != nil && id != except && j.Tenant == tenant && j.Name == name {
			return true
		}
	}
	return false
}

var _ pipeline.Lookup = (*State)(nil)

// arrayActive counts the array's tasks that hold nodes.
func (s *State) arrayActive(id uint64) int {
	n := 0
	s.ArrayTasks(id, func(t *model.Job) bool {
		if t.State.Active() {
			n++
		}
		return true
	})
	return n
}

// checkPipeline is CheckSubmit's part for pipelines: dependencies name
// the tenant's own jobs, live or archived (another tenant's job is "not
// found", as everywhere), and an array is within bounds.
func (s *State) checkPipeline(j *model.Job) error {
	if len(j.Depend) > pipeline.MaxDependencies {
		return errorf(ErrInvalid, "%d dependencies, at most %d", len(j.Depend), pipeline.MaxDependencies)
	}
	for _, d := range j.Depend {
		switch d.Type {
		case model.DepSingleton:
			if d.JobID != 0 {
				return errorf(ErrInvalid, "singleton takes no job id")
			}
			continue
		case model.DepAfter, model.DepAfterAny, model.DepAfterOK, model.DepAfterNotOK:
		default:
			return errorf(ErrInvalid, "%q is not a dependency type", d.Type)
		}
		if t := s.Jobs[d.JobID]; t != nil {
			if t.Tenant != j.Tenant {
				return errorf(ErrNotFound, "dependency on job %d: job %d not found", d.JobID, d.JobID)
			}
			continue
		}
		// Not live: it must have been, and the server must have found it
		// (the tenant's) in the archive with its final state.
		if d.JobID >= s.NextJobID || !d.Final.Terminal() {
			return errorf(ErrNotFound, "dependency on job %d: job %d not found", d.JobID, d.JobID)
		}
	}
	if len(j.ArrayPending) == 0 {
		if j.ArrayThrottle != 0 {
			return errorf(ErrInvalid, "an array throttle without an array")
		}
		return nil
	}
	if j.Interactive {
		return errorf(ErrInvalid, "an allocation cannot be an array: submit a batch job with --array")
	}
	n := j.ArrayPending.Count()
	if n < 1 || n > pipeline.MaxArrayTasks || j.ArrayPending.Min() < 0 || j.ArrayPending.Max() > pipeline.MaxArrayIndex || len(j.ArrayPending) > pipeline.MaxArrayItems {
		return errorf(ErrInvalid, "an array has 1 to %d tasks with indices 0 to %d", pipeline.MaxArrayTasks, pipeline.MaxArrayIndex)
	}
	for k, r := range j.ArrayPending {
		if r.Hi < r.Lo || r.Step < 0 || k > 0 && r.Lo <= j.ArrayPending[k-1].Hi {
			return errorf(ErrInvalid, "array indices must be sorted, disjoint ranges")
		}
	}
	if j.ArrayThrottle < 0 || j.ArrayThrottle > pipeline.MaxArrayTasks {
		return errorf(ErrInvalid, "array throttle %d is outside 0..%d", j.ArrayThrottle, pipeline.MaxArrayTasks)
	}
	return nil
}

// submitPipeline fills the fields the state owns on a new job: array ids
// and summary, and drops a Final the live state already knows better.
func (s *State) submitPipeline(j *model.Job) {
	for i, d := range j.Depend {
		if s.Jobs[d.JobID] != nil {
			j.Depend[i].Final = ""
		}
	}
	j.ArrayJobID, j.ArrayTaskID, j.ArrayDone, j.ArrayFailed = 0, 0, false, 0
	j.ArrayCount, j.ArrayMin, j.ArrayMax = 0, 0, 0
	if len(j.ArrayPending) > 0 {
		j.ArrayJobID = j.ID
		j.ArrayCount, j.ArrayMin, j.ArrayMax = j.ArrayPending.Count(), j.ArrayPending.Min(), j.ArrayPending.Max()
		s.noteArrayTask(j)
	}
}

func (s *State) noteArrayTask(t *model.Job) {
	if s.idx.arrays == nil {
		s.idx.arrays = map[uint64][]uint64{}
	}
	s.idx.arrays[t.ArrayJobID] = append(s.idx.arrays[t.ArrayJobID], t.ID)
}

// allocatable is Allocate's re-check of what the scheduling pass saw:
// no hold, begin time passed, dependencies met, the array's throttle.
func (s *State) allocatable(j *model.Job, now time.Time) error {
	if why := pipeline.Waiting(j, s, now); why != "" {
		return errorf(ErrConflict, "job %d may not start yet: %s", j.ID, why)
	}
	if j.ArrayRecord() && j.ArrayThrottle > 0 && s.arrayActive(j.ID) >= j.ArrayThrottle {
		return errorf(ErrConflict, "array %d already runs %d tasks (its %%%d limit)", j.ID, j.ArrayThrottle, j.ArrayThrottle)
	}
	return nil
}

// splitTask takes the array record's lowest pending index: into a new
// record when more remain, or into the record itself when it was the
// last. It returns the task's record, still pending.
func (s *State) splitTask(j *model.Job, index int) *model.Job {
	if j.ArrayPending.Count() <= 1 {
		j.ArrayTaskID, j.ArrayPending = index, nil
		return j
	}
	t := j.Clone()
	t.ID = s.NextJobID
	s.NextJobID++
	t.ArrayTaskID, t.ArrayPending, t.RequestID, t.Reason = index, nil, "", ""
	j.ArrayPending = j.ArrayPending.Remove(index)
	s.Jobs[t.ID] = t
	s.noteArrayTask(t)
	return t
}

// noteArrayEnd records the whole array's outcome on its record once its
// last task has ended, so a dependency on the array still has its answer
// when the records move to the archive.
func (s *State) noteArrayEnd(j *model.Job) {
	if j.ArrayJobID == 0 {
		return
	}
	rec := s.Jobs[j.ArrayJobID]
	if rec == nil || rec.ArrayDone || rec.State == model.JobPending {
		return
	}
	done, failed := true, 0
	s.ArrayTasks(rec.ID, func(t *model.Job) bool {
		switch {
		case !t.State.Terminal():
			done = false
			return false
		case t.State != model.JobCompleted:
			failed++
		}
		return true
	})
	if done {
		rec.ArrayDone, rec.ArrayFailed = true, failed
	}
}

// cancelWholeArray is CancelJob of an array's id: every unfinished task
// of the array, the pending ones with it. The array's record carries the
// request id when it was among them.
func (s *State) cancelWholeArray(rec *model.Job, c *CancelJob) (model.JobState, error) {
	reason := c.Reason
	if reason == "" {
		reason = "cancelled by " + c.By
	}
	wasLive := !rec.State.Terminal()
	if !s.cancelArray(rec, reason, c.Time) {
		if c.RequestID != "" && rec.EndRequestID == c.RequestID {
			return rec.State, nil // the retry of the call that ended it
		}
		return rec.State, errorf(ErrConflict, "every task of array %d already ended", rec.ID)
	}
	if wasLive {
		rec.EndRequestID = c.RequestID
	}
	return rec.State, nil
}

// cancelArray ends every unfinished record of array rec (the whole array
// by its id). It reports whether there was one.
func (s *State) cancelArray(rec *model.Job, reason string, t time.Time) bool {
	var live []*model.Job
	s.ArrayTasks(rec.ID, func(task *model.Job) bool {
		if !task.State.Terminal() {
			live = append(live, task)
		}
		return true
	})
	// Tasks first, the record last: its end records the array's outcome.
	slices.SortFunc(live, func(a, b *model.Job) int {
		return boolCmp(a.ID == rec.ID, b.ID == rec.ID)
	})
	for _, task := range live {
		s.endJob(task, model.JobCancelled, nil, reason, t)
	}
	return len(live) > 0
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

func (s *State) releaseHold(c *ReleaseHold) error {
	j, ok := s.Jobs[c.JobID]
	if !ok || (!c.Admin && j.Tenant != c.By) {
		return errorf(ErrNotFound, "job %d", c.JobID)
	}
	if c.RequestID != "" && j.ReleaseRequestID == c.RequestID {
		return nil // the retry of the release that committed
	}
	if j.State != model.JobPending {
		return errorf(ErrConflict, "job %d is %s: only a pending job is held", j.ID, j.State)
	}
	if !j.Held {
		return errorf(ErrConflict, "job %d is not held", j.ID)
	}
	j.Held, j.ReleaseRequestID = false, c.RequestID
	if j.Reason == pipeline.ReasonHeld {
		j.Reason = ""
	}
	return nil
}

func (s *State) cancelArrayTask(c *CancelArrayTask) (uint64, error) {
	rec, ok := s.Jobs[c.JobID]
	if !ok || (!c.Admin && rec.Tenant != c.By) || !rec.ArrayRecord() {
		return 0, errorf(ErrNotFound, "array job %d", c.JobID)
	}
	if c.Task < 0 || c.Task > pipeline.MaxArrayIndex {
		return 0, errorf(ErrInvalid, "task index %d is outside 0..%d", c.Task, pipeline.MaxArrayIndex)
	}
	reason := "cancelled by " + c.By
	if rec.State == model.JobPending && rec.ArrayPending.Contains(c.Task) {
		if len(rec.ArrayPending) >= pipeline.MaxArrayRanges && len(rec.ArrayPending.Remove(c.Task)) > len(rec.ArrayPending) {
			return 0, errorf(ErrConflict, "array %d: cancelling task %d would split its pending tasks into more than %d ranges; cancel the whole array (ibex cancel %d)",
				rec.ID, c.Task, pipeline.MaxArrayRanges, rec.ID)
		}
		t := s.splitTask(rec, c.Task)
		s.endJob(t, model.JobCancelled, nil, reason, c.Time)
		t.EndRequestID = c.RequestID
		return t.ID, nil
	}
	var task *model.Job
	s.ArrayTasks(rec.ID, func(t *model.Job) bool {
		if len(t.ArrayPending) == 0 && t.ArrayTaskID == c.Task {
			task = t
			return false
		}
		return true
	})
	if task == nil {
		return 0, errorf(ErrNotFound, "array %d has no task %d", rec.ID, c.Task)
	}
	if task.State.Terminal() {
		if c.RequestID != "" && task.EndRequestID == c.RequestID {
			return task.ID, nil // the retry of the call that ended it
		}
		return task.ID, errorf(ErrConflict, "task %d_%d (job %d) already %s", rec.ID, c.Task, task.ID, task.State)
	}
	s.endJob(task, model.JobCancelled, nil, reason, c.Time)
	task.EndRequestID = c.RequestID
	return task.ID, nil
}

// resolveExpired writes the final state of expiring jobs into the pending
// jobs that depend on them: a job in the archive counts as finished with
// its recorded state.
func (s *State) resolveExpired(gone map[uint64]*model.Job) {
	for _, id := range s.idx.pendingQ {
		j := s.Jobs[id]
		if j == nil || j.State != model.JobPending {
			continue
		}
		for i, d := range j.Depend {
			if t := gone[d.JobID]; t != nil && d.JobID != 0 {
				j.Depend[i].Final = pipeline.FinalOf(t)
			}
		}
	}
}

// pipelineWork computes Work.Blocked and Work.ArrayRoom for the pending
// jobs of one pass: a pure function of the state. Begin times need the
// clock: the pass checks them (pipeline.BeginReason).
func (s *State) pipelineWork(w *Work) {
	w.Blocked, w.ArrayRoom = map[uint64]string{}, map[uint64]int{}
	singles := map[[2]string]bool{}
	memo := pipeline.Memo{}
	for _, j := range w.Pending {
		why := pipeline.BlockedMemo(j, s, memo)
		if why == "" && slices.ContainsFunc(j.Depend, func(d model.Dependency) bool { return d.Type == model.DepSingleton }) {
			// one singleton per tenant and name starts per pass: the
			// first in the queue
			k := [2]string{j.Tenant, j.Name}
			if singles[k] {
				why = pipeline.ReasonDependency
			}
			singles[k] = true
		}
		if why == "" && j.ArrayRecord() {
			room := j.ArrayTasksLeft()
			if j.ArrayThrottle > 0 {
				room = min(room, j.ArrayThrottle-s.arrayActive(j.ID))
			}
			if room <= 0 {
				why = pipeline.ReasonArrayTaskCap
			} else {
				w.ArrayRoom[j.ID] = room
			}
		}
		if why != "" {
			w.Blocked[j.ID] = why
		}
	}
}
