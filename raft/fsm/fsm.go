package fsm

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// FSM applies commands to a State under a lock. It is safe for concurrent
// readers; Apply is called by one goroutine (raft's).
type FSM struct {
	mu    sync.RWMutex
	state *State
	// changed is closed and replaced on every apply, so controllers can wait
	// for "something changed" without polling.
	changed chan struct{}
	// nodesGen changes whenever nodes or active jobs may have (nodesgen.go).
	nodesGen uint64
	// share is Work's copies of the nodes generation (workshare.go).
	share atomic.Pointer[workShare]
	wit   shareWitness // CheckSharedViews only
	// pending is Work's kept copies of pending jobs (pendingcopies.go).
	pending pendingCopies
}

// New returns an FSM with an empty state.
func New() *FSM {
	f := &FSM{state: NewState(), changed: make(chan struct{}), nodesGen: nextNodesGen()}
	f.state.idx.changes = &changeSet{all: true} // dirty.go
	return f
}

// Result is what Apply returns for one entry: a value or an error.
type Result struct {
	Value any
	Err   error
}

// ApplyEntry decodes and applies one log entry at index. A decode failure
// means replicas would diverge, so it panics, as Nomad's FSM does.
func (f *FSM) ApplyEntry(index uint64, data []byte) Result {
	cmd, err := Decode(data)
	if err != nil {
		panic(fmt.Sprintf("fsm: entry %d: %v", index, err))
	}
	f.mu.Lock()
	if checkShares.Load() {
		f.verifyShares(true) // workshare.go
	}
	var shareGen uint64
	if sh := f.share.Load(); sh != nil {
		shareGen = sh.gen
	}
	f.state.startEntry(shareGen, f.nodesGen) // dirty.go
	f.pending.forget(f.state, cmd)           // pendingcopies.go
	v, err := f.state.apply(cmd)
	f.state.keepNodeOrder() // nodeorder.go
	if !nodeNeutral(cmd) {
		f.nodesGen = nextNodesGen() // nodesgen.go
	}
	f.state.Index = index
	ch := f.changed
	f.changed = make(chan struct{})
	f.mu.Unlock()
	close(ch)
	return Result{Value: v, Err: err}
}

// Apply applies a command directly, without raft: for tests and tools.
func (f *FSM) Apply(cmd Command) Result {
	b, err := Encode(cmd)
	if err != nil {
		return Result{Err: err}
	}
	f.mu.RLock()
	next := f.state.Index + 1
	f.mu.RUnlock()
	return f.ApplyEntry(next, b)
}

// View returns a deep copy of the state, safe to read without locks.
func (f *FSM) View() *State {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state.Clone()
}

// Read runs fn with the live state under the read lock. fn must not keep
// references or modify anything.
func (f *FSM) Read(fn func(*State)) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	fn(f.state)
}

// Changed returns a channel closed at the next apply.
func (f *FSM) Changed() <-chan struct{} {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.changed
}

// SnapshotState copies the state for a snapshot. The copy is cheap relative
// to encoding (WriteSnapshot, snapshot.go), which happens later, off
// raft's apply path.
func (f *FSM) SnapshotState() *State { return f.View() }

// Restore replaces the state with a snapshot's contents.
func (f *FSM) Restore(r io.Reader) error {
	s, err := readSnapshot(r) // snapshot.go: format 2, or JSON
	if err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	if s.Jobs == nil || s.Nodes == nil || s.Tenants == nil {
		return fmt.Errorf("restore snapshot: missing tables")
	}
	if s.Servers == nil {
		s.Servers = map[string]*model.Server{}
	}
	if s.PKeyReleased == nil {
		s.PKeyReleased = map[uint16]time.Time{}
	}
	if s.JoinTokens == nil {
		s.JoinTokens = map[string]JoinToken{}
	}
	if s.Revoked == nil {
		s.Revoked = map[string]string{}
	}
	if s.Images == nil {
		s.Images = map[string]model.Image{}
	}
	if s.Ledger == nil {
		s.Ledger = map[string][]model.LedgerEntry{}
	}
	if s.Requests == nil {
		s.Requests = map[string]uint64{}
	}
	s.rebuildIndexes()
	s.idx.changes = &changeSet{all: true} // dirty.go
	f.mu.Lock()
	f.state = s
	f.nodesGen = nextNodesGen()
	f.pending.reset()
	ch := f.changed
	f.changed = make(chan struct{})
	f.mu.Unlock()
	close(ch)
	return nil
}
