package fsm

import (
	"slices"
	"sort"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// Derived indexes, kept beside the tables so the leader's controllers do
// not scan every job ever submitted on each pass. They are not part of the
// snapshot or the hash: Restore rebuilds them.
type indexes struct {
	// pendingQ holds pending job ids in submission order. Entries of jobs
	// that left pending are skipped lazily and trimmed from the head.
	pendingQ []uint64
	// active holds jobs that own nodes (scheduled or running).
	active map[uint64]struct{}
	// arrays holds each live array's records by array id (pipeline.go).
	arrays map[uint64][]uint64
	// nodes is the node table in name order, nodesAdded the nodes added
	// since it was last brought up to date (nodeorder.go).
	nodes      []*model.Node
	nodesAdded []*model.Node
	// changes is what changed since Work's last share (dirty.go); nil in
	// a state no FSM owns.
	changes *changeSet
}

func (s *State) rebuildIndexes() {
	s.idx = indexes{active: map[uint64]struct{}{}, arrays: map[uint64][]uint64{}, changes: s.idx.changes}
	ids := make([]uint64, 0, len(s.Jobs))
	for id, j := range s.Jobs {
		if j.ArrayJobID != 0 {
			s.idx.arrays[j.ArrayJobID] = append(s.idx.arrays[j.ArrayJobID], id)
		}
		switch {
		case j.State == model.JobPending:
			ids = append(ids, id)
		case j.State.Active():
			s.idx.active[id] = struct{}{}
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	s.idx.pendingQ = ids
	for _, tasks := range s.idx.arrays {
		slices.Sort(tasks)
	}
	s.rebuildNodeOrder() // nodeorder.go
}

func (s *State) cloneIndexes() indexes {
	c := indexes{pendingQ: append([]uint64(nil), s.idx.pendingQ...), active: make(map[uint64]struct{}, len(s.idx.active))}
	for id := range s.idx.active {
		c.active[id] = struct{}{}
	}
	c.arrays = make(map[uint64][]uint64, len(s.idx.arrays))
	for id, tasks := range s.idx.arrays {
		c.arrays[id] = slices.Clone(tasks)
	}
	return c
}

// noteJob updates the indexes after job j changed state.
func (s *State) noteJob(j *model.Job) {
	if s.idx.active == nil {
		s.idx.active = map[uint64]struct{}{}
	}
	if j.State.Active() {
		s.idx.active[j.ID] = struct{}{}
	} else {
		delete(s.idx.active, j.ID)
	}
	for len(s.idx.pendingQ) > 0 {
		head, ok := s.Jobs[s.idx.pendingQ[0]]
		if ok && head.State == model.JobPending {
			break
		}
		s.idx.pendingQ = s.idx.pendingQ[1:]
	}
}

// Work is the slice of the state the leader's controllers act on.
type Work struct {
	// Pending is the head of the queue, at most the depth asked for, in
	// submission order. Read-only: a job's copy is kept for later views
	// until an entry may change the job (pendingcopies.go).
	Pending []*model.Job
	// Active jobs hold nodes (scheduled or running), in id order.
	// Read-only: shared with every other view of the same NodesGen
	// (workshare.go); copy a job before changing it.
	Active []*model.Job
	// Nodes is every node, in name order. Read-only like Active.
	Nodes []*model.Node
	// PKeyReleased is when each partition key was last released.
	PKeyReleased map[uint16]time.Time
	Now          uint64 // raft index the view was taken at

	// Blocked says why pending jobs may not start whatever the nodes:
	// held, dependencies, singleton, an array at its %N limit (pipeline
	// package's reasons). ArrayRoom is how many tasks each unblocked
	// array record may start now.
	Blocked   map[uint64]string
	ArrayRoom map[uint64]int

	// NodesGen is the FSM's nodes generation (nodesgen.go): two views with
	// the same NodesGen have equal Nodes and Active.
	NodesGen uint64
}

// Work copies what the controllers need: cost grows with the queue depth,
// the running jobs and the nodes, not with the job history.
func (f *FSM) Work(depth int) *Work {
	f.mu.RLock()
	defer f.mu.RUnlock()
	s := f.state
	check := checkShares.Load()
	if check {
		f.verifyShares(false) // workshare.go
	}
	w := &Work{Now: s.Index, NodesGen: f.nodesGen, PKeyReleased: make(map[uint16]time.Time, len(s.PKeyReleased))}
	for k, v := range s.PKeyReleased {
		w.PKeyReleased[k] = v
	}
	f.pending.mu.Lock()
	for _, id := range s.idx.pendingQ {
		if len(w.Pending) >= depth {
			break
		}
		if j := s.Jobs[id]; j != nil && j.State == model.JobPending {
			w.Pending = append(w.Pending, f.pending.copyOf(j, check)) // pendingcopies.go
			if check {
				f.witness(j)
			}
		}
	}
	f.pending.mu.Unlock()
	sh := f.sharedWork() // workshare.go: read-only, shared by every caller of this generation
	w.Active, w.Nodes = slices.Clip(sh.active), slices.Clip(sh.nodes)
	s.pipelineWork(w)
	return w
}
