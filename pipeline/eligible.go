package pipeline

import (
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// Why a pending job may not start yet, in Slurm's squeue words.
const (
	ReasonHeld         = "JobHeldUser"              // --hold; `ibex release-hold ID`
	ReasonDependency   = "Dependency"               // a dependency (or singleton) is not met yet
	ReasonNeverMet     = "DependencyNeverSatisfied" // a dependency can no longer be met
	ReasonBeginTime    = "BeginTime"                // --begin is in the future
	ReasonArrayTaskCap = "JobArrayTaskLimit"        // the array's %N tasks hold nodes
)

// Lookup is the part of the state the rules read: the replicated state
// implements it (raft/fsm), so the scheduling pass and the state machine's
// re-check read the same thing.
type Lookup interface {
	// Job is the live job with this id, or nil when there is none (never
	// submitted, or expired into the archive).
	Job(id uint64) *model.Job
	// ArrayTasks calls fn with every live record of array id (its
	// pending record included) until fn returns false.
	ArrayTasks(id uint64, fn func(*model.Job) bool)
	// Running reports whether a job of tenant named name other than
	// except holds nodes (scheduled or running).
	Running(tenant, name string, except uint64) bool
}

// Waiting says why pending job j may not start at now, or "" when it may
// as far as its hold, begin time and dependencies go. A job whose
// dependency can never be met stays pending with ReasonNeverMet, as in
// Slurm without kill_invalid_depend: the user sees why, and cancels it.
func Waiting(j *model.Job, l Lookup, now time.Time) string {
	if why := Blocked(j, l); why != "" {
		return why
	}
	return BeginReason(j, now)
}

// Blocked is Waiting without the begin time: what the state alone says
// (the hold and the dependencies).
func Blocked(j *model.Job, l Lookup) string { return BlockedMemo(j, l, nil) }

// Memo remembers the targets one pass has looked at: a whole array's
// outcome costs a look at each of its tasks, and many pending jobs may
// depend on the same array. Use one per state snapshot.
type Memo map[uint64]target

// BlockedMemo is Blocked with a memo (nil: none).
func BlockedMemo(j *model.Job, l Lookup, m Memo) string {
	if j.Held {
		return ReasonHeld
	}
	return dependencies(j, l, m)
}

// BeginReason is ReasonBeginTime while now is before j's begin time.
func BeginReason(j *model.Job, now time.Time) string {
	if !j.BeginTime.IsZero() && now.Before(j.BeginTime) {
		return ReasonBeginTime
	}
	return ""
}

// Dependencies says whether j's dependencies hold: "" when they all do,
// ReasonNeverMet when one can no longer hold, else ReasonDependency.
func Dependencies(j *model.Job, l Lookup) string { return dependencies(j, l, nil) }

func dependencies(j *model.Job, l Lookup, m Memo) string {
	why := ""
	for _, d := range j.Depend {
		switch depOutcome(d, j, l, m) {
		case never:
			return ReasonNeverMet
		case waiting:
			why = ReasonDependency
		}
	}
	return why
}

type outcome int

const (
	met outcome = iota
	waiting
	never
)

// target is what a dependency looks at: whether its job (or every task
// of its array) started and ended, and whether any ended without
// completing.
type target struct {
	started, ended, bad bool
}

func targetOf(d model.Dependency, l Lookup) (target, bool) {
	t := l.Job(d.JobID)
	if t == nil {
		if d.Final == "" {
			return target{}, false
		}
		return target{started: true, ended: true, bad: d.Final != model.JobCompleted}, true
	}
	if !t.ArrayRecord() {
		ended := t.State.Terminal()
		return target{started: t.State != model.JobPending, ended: ended, bad: ended && t.State != model.JobCompleted}, true
	}
	// The whole array: its record is pending while tasks wait to start.
	tg := target{started: t.State != model.JobPending, ended: t.State != model.JobPending}
	l.ArrayTasks(d.JobID, func(task *model.Job) bool {
		if !task.State.Terminal() {
			tg.ended = false
		} else if task.State != model.JobCompleted {
			tg.bad = true
		}
		return true
	})
	return tg, true
}

func depOutcome(d model.Dependency, j *model.Job, l Lookup, m Memo) outcome {
	if d.Type == model.DepSingleton {
		if l.Running(j.Tenant, j.Name, j.ID) {
			return waiting
		}
		return met
	}
	t, ok := m[d.JobID]
	if !ok {
		t, ok = targetOf(d, l)
		if ok && m != nil && l.Job(d.JobID) != nil {
			m[d.JobID] = t
		}
	}
	if !ok {
		return never // unknown target: cannot happen for an accepted job
	}
	switch d.Type {
	case model.DepAfter:
		if t.started || t.ended {
			return met
		}
	case model.DepAfterAny:
		if t.ended {
			return met
		}
	case model.DepAfterOK:
		if t.bad {
			return never
		}
		if t.ended {
			return met
		}
	case model.DepAfterNotOK:
		if t.ended {
			if t.bad {
				return met
			}
			return never
		}
	default:
		return never
	}
	return waiting
}

// FinalOf is what a dependency on job t records when t leaves the live
// state: its final state, or for an array's record the whole array's
// outcome (completed when every task completed).
func FinalOf(t *model.Job) model.JobState {
	if t.ArrayRecord() {
		if t.ArrayDone && t.ArrayFailed == 0 {
			return model.JobCompleted
		}
		return model.JobFailed
	}
	return t.State
}
