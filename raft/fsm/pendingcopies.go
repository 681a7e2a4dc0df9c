package fsm

import (
	"fmt"
	"reflect"
	"sync"

	"github.com/ibex-hpc/ibex/model"
)

// Work's copies of pending jobs are kept between calls. The leader's pass
// asks for the head of the queue every time, 10,000 jobs deep on a long
// queue, and copying them all was some 3 ms and 7 MB of garbage a pass,
// while the entries between two passes (submissions, the recorded
// reasons, allocations, node changes) touch few of them. So a copy is
// kept until an entry may have changed its job: the commands listed in
// pendingFootprint name the jobs they may change, and their copies are
// dropped; any other command (and any new one, until it is listed) drops
// them all. A command missing from the list costs copies, never
// correctness. The copies are the callers' in common, so they are
// read-only, like Work's nodes and active jobs.
//
// With CheckSharedViews on, every kept copy Work hands out is compared
// with a fresh one: a difference (a command that changed a pending job
// outside its footprint, or a caller that wrote into a copy) panics.

// pendingCopies are the kept copies by job id. The lock is its own:
// Work holds only the state's read lock.
type pendingCopies struct {
	mu     sync.Mutex
	copies map[uint64]*model.Job
}

// pendingFootprint reports the jobs whose pending copies cmd may make
// stale, applied to s, and whether cmd is listed at all. Each listed
// command's handler was read for what it writes: the node commands write
// nodes and their ledgers only (which read a job's tenant), and a job
// command writes the job it names, plus jobs that are new.
func pendingFootprint(s *State, cmd Command) (jobs []uint64, listed bool) {
	switch c := cmd.(type) {
	case *SubmitJob:
		return []uint64{s.NextJobID}, true // a new job: no copy to drop, but cheap to be sure
	case *PendingReasons:
		for id := range c.Reasons {
			jobs = append(jobs, id)
		}
		return jobs, true
	case *Allocate: // an array task split off the record is a new job
		return []uint64{c.JobID}, true
	case *StartJob:
		return []uint64{c.JobID}, true
	case *PartitionReady:
		return []uint64{c.JobID}, true
	case *DrainNode, *UndrainNode, *LabelNode, *NodeCleaned, *StartHandoutCheck, *HandoutChecked:
		return nil, true
	case *Batch:
		for _, m := range c.Commands {
			ids, ok := pendingFootprint(s, m)
			if !ok {
				return nil, false
			}
			jobs = append(jobs, ids...)
		}
		return jobs, true
	}
	return nil, false
}

// forget drops the copies cmd may make stale, before it is applied.
// Write lock held.
func (p *pendingCopies) forget(s *State, cmd Command) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.copies) == 0 {
		return
	}
	jobs, listed := pendingFootprint(s, cmd)
	if !listed {
		p.copies = nil
		return
	}
	for _, id := range jobs {
		delete(p.copies, id)
	}
}

// reset drops every copy (a restored state).
func (p *pendingCopies) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.copies = nil
}

// copyOf returns the kept copy of pending job j, making it if there is
// none. Read lock held, p.mu held by the caller.
func (p *pendingCopies) copyOf(j *model.Job, check bool) *model.Job {
	if c, ok := p.copies[j.ID]; ok {
		if check && !reflect.DeepEqual(c, pendingCopy(j)) {
			panic(fmt.Sprintf("fsm: Work's kept copy of pending job %d differs from the job: a command changed it outside its footprint (pendingcopies.go: pendingFootprint), or a caller wrote into the read-only copy", j.ID))
		}
		return c
	}
	c := pendingCopy(j) // workshare.go
	if p.copies == nil {
		p.copies = map[uint64]*model.Job{}
	}
	p.copies[j.ID] = c
	return c
}
