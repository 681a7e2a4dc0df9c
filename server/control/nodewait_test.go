package control

import (
	"sync"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// commitStore is a state that commits by hand: each commit changes it
// and closes the channel Changed returned, like the FSM.
type commitStore struct {
	mu      sync.RWMutex
	st      *fsm.State
	changed chan struct{}
}

func (s *commitStore) Changed() <-chan struct{} {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.changed
}

func (s *commitStore) Read(fn func(*fsm.State)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	fn(s.st)
}

func (s *commitStore) commit(f func(*fsm.State)) {
	s.mu.Lock()
	f(s.st)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

func woken(x *nodeWaiter) bool {
	select {
	case <-x.ch:
		return true
	case <-time.After(200 * time.Millisecond):
		return false
	}
}

// A commit wakes only the waiters whose node moved; the loop ends once no
// waiter is left.
func TestNodeWaitsWakeOnlyTheMovedNode(t *testing.T) {
	st := fsm.NewState()
	st.Nodes["a"] = &model.Node{Name: "a", State: model.NodeCleaning, LedgerSeq: 1}
	st.Nodes["b"] = &model.Node{Name: "b", State: model.NodeCleaning, LedgerSeq: 1}
	s := &commitStore{st: st, changed: make(chan struct{})}
	var w nodeWaits
	xa := w.add(s, "a", progressMark(st.Nodes["a"]))
	xb := w.add(s, "b", progressMark(st.Nodes["b"]))

	s.commit(func(st *fsm.State) { st.Nodes["b"].LedgerSeq = 2 })
	if !woken(xb) {
		t.Fatal("b moved and its waiter was not woken")
	}
	select {
	case <-xa.ch:
		t.Fatal("a did not move and its waiter was woken")
	default:
	}
	s.commit(func(st *fsm.State) { delete(st.Nodes, "a") })
	if !woken(xa) {
		t.Fatal("a is gone and its waiter was not woken")
	}
	// Both woken waiters were removed by the loop: it ends at the next
	// commit, and a new waiter starts it again.
	s.commit(func(*fsm.State) {})
	deadline := time.Now().Add(5 * time.Second)
	for {
		w.mu.Lock()
		running := w.running
		w.mu.Unlock()
		if !running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the loop still runs with no waiter left")
		}
		time.Sleep(time.Millisecond)
	}
	xb2 := w.add(s, "b", progressMark(s.st.Nodes["b"]))
	s.commit(func(st *fsm.State) { st.Nodes["b"].State = model.NodeReady })
	if !woken(xb2) {
		t.Fatal("a waiter added after the loop ended was not woken")
	}
	w.remove(xb2)
}
