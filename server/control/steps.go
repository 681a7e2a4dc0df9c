package control

import (
	"sync"
)

// steps runs the job controller's per-job and per-node work (launch,
// watch, cleaning) in the background, so that a pass never waits for one
// job or one node.
//
// Why: each step may wait — for an agent's answer (Executor.Clean waits
// up to its CleanWait for the stop's evidence) or for its own raft write
// to be committed. Done in series in the pass, a pass over N cleaning
// nodes and M ended jobs waited N+M times in a row, and a pass that waited
// for all of them side by side was still as slow as its slowest agent:
// every node's turnaround, not the CPU, bounded the end-to-end rate
// (bench/agentpath). In the background the waits overlap, a slow node
// holds up nobody else, and raft commits the concurrent Applies in a few
// log appends (hashicorp/raft batches what is queued when the leader
// writes), so the StartJob, FinishJob and NodeCleaned of many jobs share
// disk syncs.
//
// A step has a key (its job or node); a key in flight is skipped by later
// passes until its step returns, so no job or node is handled twice at
// once, and a pass that finds a key busy leaves it to the pass that the
// step's end triggers (done). wait lets the loop end only once its steps
// did: a deposed leader's steps never outlive its loop.
type steps struct {
	sem  chan struct{}
	done chan struct{} // a step ended: run a pass (buffered, 1)
	wg   sync.WaitGroup

	mu     sync.Mutex
	flying map[stepKey]bool
	// next is the follow-up of a key in flight: it runs once that key's
	// step ended (follow).
	next map[stepKey]func()
}

// stepKey names what one step works on: a job (node empty) or a node.
type stepKey struct {
	job  uint64
	node string
}

// maxSteps bounds the steps in flight at once. A node's cleaning holds
// its step while it waits for each agent result (cleanchain.go), so the
// bound is above the nodes a leader cleans at once, not the cores: at 64,
// 64 cleaning nodes waiting on their agents would hold up every launch.
const maxSteps = 1024

func newSteps() *steps {
	return &steps{sem: make(chan struct{}, maxSteps), done: make(chan struct{}, 1), flying: map[stepKey]bool{}, next: map[stepKey]func(){}}
}

// start runs f for k in the background unless a step for k is in flight
// or maxSteps are; it reports whether f was started.
func (s *steps) start(k stepKey, f func()) bool {
	s.mu.Lock()
	if s.flying[k] {
		s.mu.Unlock()
		return false
	}
	select {
	case s.sem <- struct{}{}:
	default:
		s.mu.Unlock()
		return false
	}
	s.flying[k] = true
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer func() {
			s.mu.Lock()
			delete(s.flying, k)
			next := s.next[k]
			delete(s.next, k)
			s.mu.Unlock()
			<-s.sem
			if next != nil {
				s.start(k, next) // before Done: wait cannot miss it
			}
			select {
			case s.done <- struct{}{}:
			default:
			}
			s.wg.Done()
		}()
		f()
	}()
	return true
}

// follow runs f as k's step: now if no step for k is in flight, else as
// soon as that step ended, in place of any follow-up asked for before. It
// reports whether f was started or queued (false: maxSteps are in flight,
// and the passes take it).
//
// Why: an event that comes while its key is busy must not be lost. An
// agent's report that a tiny job ended often arrives while the job's
// launch step still waits for its StartJob commit, or while a pass's
// watch of it reads the statuses from just before; dropped, it left the
// job to the next pass, up to minPass later (bench/agentpath's "job
// started -> job ended"). f reads the state it needs when it runs.
func (s *steps) follow(k stepKey, f func()) bool {
	s.mu.Lock()
	if s.flying[k] {
		s.next[k] = f
		s.mu.Unlock()
		return true
	}
	s.mu.Unlock()
	// The step may have ended just now: start (which re-checks) either
	// runs f or finds a new step in flight, which a pass started and
	// which reads the state after this event anyway.
	return s.start(k, f)
}

// busy reports whether a step for k is in flight.
func (s *steps) busy(k stepKey) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flying[k]
}

// wait waits for every step in flight.
func (s *steps) wait() { s.wg.Wait() }
