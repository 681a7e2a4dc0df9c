package model

import (
	"strconv"
	"strings"
)

// Pipelines (#15.3): the job fields for dependencies, arrays, holds and
// begin times live in pipeline.go so that they stay one group.

// Dependency types, as sbatch spells them.
const (
	DepAfter      = "after"      // the target started (or ended without starting)
	DepAfterAny   = "afterany"   // the target ended, however
	DepAfterOK    = "afterok"    // the target completed with exit code 0
	DepAfterNotOK = "afternotok" // the target failed, timed out or was cancelled
	DepSingleton  = "singleton"  // no other job of the tenant with this name is running
)

// Dependency is one condition a pending job waits for. JobID names the
// target (0 for singleton); a target that is an array's record (its
// ArrayJobID is its own ID) means every task of the array.
type Dependency struct {
	Type  string `json:"type"`
	JobID uint64 `json:"job_id,omitempty"`
	// Final is the target's final state once it has left the live state
	// (expired into the archive): "completed" when it, or every task of
	// the array, completed, else the failing state. Set by the server,
	// never by the tenant.
	Final JobState `json:"final,omitempty"`
}

// IndexRange is the array task indices Lo, Lo+Step, ... up to Hi.
type IndexRange struct {
	Lo   int `json:"lo"`
	Hi   int `json:"hi"`
	Step int `json:"step,omitempty"` // 0 means 1
}

func (r IndexRange) step() int {
	if r.Step <= 0 {
		return 1
	}
	return r.Step
}

// Count is how many indices r holds.
func (r IndexRange) Count() int {
	if r.Hi < r.Lo {
		return 0
	}
	return (r.Hi-r.Lo)/r.step() + 1
}

// IndexSet is an array's task indices as sorted, disjoint ranges: an
// array of 10,000 tasks is one range, not 10,000 records.
type IndexSet []IndexRange

// Count is how many indices the set holds.
func (s IndexSet) Count() int {
	n := 0
	for _, r := range s {
		n += r.Count()
	}
	return n
}

// Min and Max are the smallest and largest index (0 for an empty set).
func (s IndexSet) Min() int {
	if len(s) == 0 {
		return 0
	}
	return s[0].Lo
}

func (s IndexSet) Max() int {
	m := 0
	for _, r := range s {
		m = max(m, r.Lo+(r.Count()-1)*r.step())
	}
	return m
}

// Contains reports whether i is in the set.
func (s IndexSet) Contains(i int) bool {
	for _, r := range s {
		if i >= r.Lo && i <= r.Hi && (i-r.Lo)%r.step() == 0 {
			return true
		}
	}
	return false
}

// Remove returns the set without index i (a new slice: s is not changed).
func (s IndexSet) Remove(i int) IndexSet {
	out := make(IndexSet, 0, len(s)+1)
	for _, r := range s {
		if i < r.Lo || i > r.Hi || (i-r.Lo)%r.step() != 0 {
			out = append(out, r)
			continue
		}
		if i > r.Lo {
			out = append(out, IndexRange{Lo: r.Lo, Hi: i - r.step(), Step: r.Step})
		}
		if i+r.step() <= r.Hi {
			out = append(out, IndexRange{Lo: i + r.step(), Hi: r.Hi, Step: r.Step})
		}
	}
	return out
}

// String is the set in sbatch's --array syntax: "3-100", "1,3,5", "0-12:4".
func (s IndexSet) String() string {
	var b strings.Builder
	for k, r := range s {
		if k > 0 {
			b.WriteByte(',')
		}
		last := r.Lo + (r.Count()-1)*r.step()
		b.WriteString(strconv.Itoa(r.Lo))
		if last != r.Lo {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(last))
			if r.step() != 1 {
				b.WriteByte(':')
				b.WriteString(strconv.Itoa(r.step()))
			}
		}
	}
	return b.String()
}

// Clone copies the set.
func (s IndexSet) Clone() IndexSet {
	if s == nil {
		return nil
	}
	return append(IndexSet(nil), s...)
}

// IsArray reports whether the job is an array's pending record or one of
// its tasks.
func (j *Job) IsArray() bool { return j.ArrayJobID != 0 }

// ArrayRecord reports whether j is the record that holds an array's
// pending tasks (and, once they have all started, its last task).
func (j *Job) ArrayRecord() bool { return j.ArrayJobID != 0 && j.ArrayJobID == j.ID }

// ArrayTasksLeft is how many of the array's tasks this record still holds
// (0 once it is one task).
func (j *Job) ArrayTasksLeft() int { return j.ArrayPending.Count() }

// DisplayID is the job's id as the queue shows it: 12, 12_7 for task 7 of
// array 12, 12_[3-100%10] for the tasks still pending.
func (j *Job) DisplayID() string {
	id := strconv.FormatUint(j.ID, 10)
	switch {
	case j.ArrayJobID == 0:
		return id
	case len(j.ArrayPending) > 0:
		s := strconv.FormatUint(j.ArrayJobID, 10) + "_[" + j.ArrayPending.String()
		if j.ArrayThrottle > 0 {
			s += "%" + strconv.Itoa(j.ArrayThrottle)
		}
		return s + "]"
	default:
		return strconv.FormatUint(j.ArrayJobID, 10) + "_" + strconv.Itoa(j.ArrayTaskID)
	}
}
