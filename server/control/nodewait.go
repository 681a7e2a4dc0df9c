package control

import (
	"sync"

	"github.com/ibex-hpc/ibex/raft/fsm"
)

// nodeWaits wakes a node's cleaning chain (awaitNode) when that node's
// progress mark moved, from one goroutine that reads the state once per
// commit, instead of every waiting chain waking at every commit.
//
// Why: on 512 simulated nodes ~300-500 chains wait at once, each for its
// own agent's result, and every commit of the cluster (tens per second)
// woke all of them, each to take the FSM's read lock and find its node
// unchanged: ~3,000 goroutine wake-ups a second, the largest single
// source in a scheduler trace of ibexd (bench/agentpath). With ~1,000
// goroutines runnable at a time a wake-up waited ~40 ms for a CPU, and
// every hop of a job's task and report over the agents' streams paid
// that: the "job started -> job ended" phase was 1.2 s, of which the
// job's own run was ~40 ms. Here a commit wakes one goroutine, which
// compares every waiter's mark under one read lock and wakes only the
// chains whose node moved.
type nodeWaits struct {
	mu      sync.Mutex
	waiters map[*nodeWaiter]struct{}
	running bool // the loop runs; it ends when no waiter is left
}

// nodeWaiter is one chain waiting for node name to move from mark m; ch is
// closed when it did (or the node is gone).
type nodeWaiter struct {
	name string
	m    mark
	ch   chan struct{}
}

// nodeStore is what the loop needs of the Store.
type nodeStore interface {
	Changed() <-chan struct{}
	Read(func(*fsm.State))
}

// add registers a waiter for node name at mark m and starts the loop if
// it is not running. The caller checks the node once itself after add (a
// commit before add is not seen by the loop) and removes the waiter when
// it stops waiting.
func (w *nodeWaits) add(st nodeStore, name string, m mark) *nodeWaiter {
	x := &nodeWaiter{name: name, m: m, ch: make(chan struct{})}
	w.mu.Lock()
	if w.waiters == nil {
		w.waiters = map[*nodeWaiter]struct{}{}
	}
	w.waiters[x] = struct{}{}
	start := !w.running
	w.running = true
	w.mu.Unlock()
	if start {
		go w.loop(st)
	}
	return x
}

// remove forgets x (a waiter that stopped waiting, woken or not).
func (w *nodeWaits) remove(x *nodeWaiter) {
	w.mu.Lock()
	delete(w.waiters, x)
	w.mu.Unlock()
}

// loop wakes the waiters whose node moved, at every commit, until none is
// left. The channel is taken before the state is read, so a commit during
// the read is followed by another look.
func (w *nodeWaits) loop(st nodeStore) {
	var ws []*nodeWaiter
	for {
		changed := st.Changed()
		w.mu.Lock()
		if len(w.waiters) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		ws = ws[:0]
		for x := range w.waiters {
			ws = append(ws, x)
		}
		w.mu.Unlock()
		moved := ws[:0:0]
		st.Read(func(s *fsm.State) {
			for _, x := range ws {
				if n := s.Nodes[x.name]; n == nil || progressMark(n) != x.m {
					moved = append(moved, x)
				}
			}
		})
		w.mu.Lock()
		for _, x := range moved {
			if _, ok := w.waiters[x]; ok {
				delete(w.waiters, x)
				close(x.ch)
			}
		}
		w.mu.Unlock()
		clear(ws)
		<-changed
	}
}
