package fsm

import "github.com/ibex-hpc/ibex/model"

// HasPending reports whether any job waits in the queue. It reads the
// queue index (whose head may hold ids of jobs that left it, dropped
// lazily), so it costs nothing like a Work copy: the job loop asks it for
// every node whose cleaning ends (server/control/cleanchain.go).
func (s *State) HasPending() bool {
	for _, id := range s.idx.pendingQ {
		if j := s.Jobs[id]; j != nil && j.State == model.JobPending {
			return true
		}
	}
	return false
}
