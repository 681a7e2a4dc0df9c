package fsm

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/ibex-hpc/ibex/model"
)

// Work's copies of the nodes and of the jobs holding them are shared
// between calls. Seven control loops call Work, some several times a
// second, and each used to deep-copy every node: on a 100,000-node
// fabric that was 60-74 MB and most of a leader pass's CPU (the copying
// and the garbage it left). The nodes generation (nodesgen.go) names the
// nodes and the active jobs: while it stands, a copy made for one call is
// still exact for the next, so Work makes one per generation and hands the
// same one to every caller. A new generation's share copies only the
// nodes and active jobs the entries since the last share may have changed
// and shares the last share's copies of the rest (dirty.go). The copies are the callers' in common, so
// they are read-only: a caller that wants to change a node or an active
// job it got from Work copies it first (model.Node.CloneTo,
// model.Job.Clone). The slices are capacity-clipped, so a caller's append
// reallocates rather than writing into a neighbour's view.
//
// CheckSharedViews turns on a checker for tests: a caller that writes into
// a shared copy makes the next Work or apply panic, naming what changed.

// workShare is one nodes generation's copies.
type workShare struct {
	gen    uint64
	nodes  []*model.Node
	active []*model.Job
}

// sharedWork returns the copies for the current nodes generation, making
// them if the last ones are of an older generation. Read lock held: the
// generation cannot change while it runs, so a share stored here is never
// stored under a generation it does not match. Two callers racing to make
// the same generation's copies both make correct ones; either is kept.
func (f *FSM) sharedWork() *workShare {
	prev := f.share.Load()
	if prev != nil && prev.gen == f.nodesGen {
		return prev
	}
	sh, ok := f.shareFrom(prev) // dirty.go: only what changed since prev
	if !ok {
		sh = f.fullShare()
	}
	if checkShares.Load() {
		f.watch(sh)
	}
	f.share.Store(sh)
	return sh
}

// fullShare copies every node and active job. Read lock held.
func (f *FSM) fullShare() *workShare {
	s := f.state
	sh := &workShare{gen: f.nodesGen, nodes: cloneNodes(s.nodesInOrder())} // nodeorder.go
	if len(s.idx.active) > 0 {
		sh.active = make([]*model.Job, 0, len(s.idx.active))
	}
	for id := range s.idx.active {
		sh.active = append(sh.active, s.Jobs[id].Clone())
	}
	sort.Slice(sh.active, func(i, j int) bool { return sh.active[i].ID < sh.active[j].ID })
	return sh
}

// pendingCopy copies a pending job for Work. The FSM fills Argv, Env,
// Features and Links when it decodes a submission and afterwards only
// ever replaces them whole (SubmitJob deep-copies the command's job; array
// tasks are deep copies of their record), never writes their elements, so
// the copy shares them, capacity-clipped so an append reallocates.
// Everything the FSM does change in place (Depend's recorded finals, an
// array record's pending indices) or that may change later is copied.
// TestPendingCopySharesOnlyImmutableFields keeps the list honest when
// model.Job grows a field.
func pendingCopy(j *model.Job) *model.Job {
	t := *j
	t.Argv, t.Env, t.Features, t.Links = nil, nil, nil, nil
	c := t.Clone()
	c.Argv, c.Env, c.Features, c.Links = slices.Clip(j.Argv), slices.Clip(j.Env), slices.Clip(j.Features), slices.Clip(j.Links)
	return c
}

// checkShares turns the shared-view checker on (CheckSharedViews).
var checkShares atomic.Bool

// CheckSharedViews turns on, for tests, a check that no caller writes into
// Work's shared copies: before every apply and every Work, the nodes and
// active jobs of the latest few shares (a caller may still hold a view of
// a generation that has passed) are compared with private copies made
// with them, and the elements of pending jobs' shared slices with what
// they were when Work handed them out. A difference panics, naming the
// node or job. It copies every node twice per generation and compares
// them all per apply: never turn it on in a server.
func CheckSharedViews(on bool) { checkShares.Store(on) }

// shareWitness is what the checker remembers of the pending jobs' shared
// slices since the last apply.
type shareWitness struct {
	mu     sync.Mutex
	jobs   map[uint64][4][]string
	shares []watched
}

func sharedSlices(j *model.Job) [4][]string {
	return [4][]string{j.Argv, j.Env, j.Features, j.Links}
}

// witness remembers a copy of j's shared slices. Read lock held.
func (f *FSM) witness(j *model.Job) {
	var w [4][]string
	for i, s := range sharedSlices(j) {
		w[i] = slices.Clone(s)
	}
	f.wit.mu.Lock()
	defer f.wit.mu.Unlock()
	if f.wit.jobs == nil {
		f.wit.jobs = map[uint64][4][]string{}
	}
	f.wit.jobs[j.ID] = w
}

// sharesWatched is how many of the latest shares the checker watches:
// callers may still hold views of a generation that has passed.
const sharesWatched = 8

// watched is a share and a private copy of it made when it was made.
type watched struct {
	sh     *workShare
	nodes  []*model.Node
	active []*model.Job
}

// watch remembers a private copy of a new share. Read lock held.
func (f *FSM) watch(sh *workShare) {
	w := watched{sh: sh, nodes: cloneNodes(sh.nodes)}
	for _, j := range sh.active {
		w.active = append(w.active, j.Clone())
	}
	f.wit.mu.Lock()
	defer f.wit.mu.Unlock()
	f.wit.shares = append(f.wit.shares, w)
	if len(f.wit.shares) > sharesWatched {
		f.wit.shares = f.wit.shares[1:]
	}
}

// verifyShares panics if a caller changed a shared copy: one of the latest
// shares, whatever its generation, or a pending job's shared slices. Read
// or write lock held; forget (write lock) also drops the pending jobs'
// witnesses, as an apply may replace the slices they watch.
func (f *FSM) verifyShares(forget bool) {
	f.wit.mu.Lock()
	defer f.wit.mu.Unlock()
	for _, w := range f.wit.shares {
		if len(w.nodes) != len(w.sh.nodes) || len(w.active) != len(w.sh.active) {
			panic("fsm: a caller changed the length of Work's shared nodes or active jobs")
		}
		for i, n := range w.sh.nodes {
			var fresh model.Node
			w.nodes[i].CloneTo(&fresh)
			if !reflect.DeepEqual(&fresh, n) {
				panic(fmt.Sprintf("fsm: a caller changed node %s in Work's shared, read-only view (copy it before changing it)", w.nodes[i].Name))
			}
		}
		for i, j := range w.sh.active {
			if !reflect.DeepEqual(w.active[i].Clone(), j) {
				panic(fmt.Sprintf("fsm: a caller changed active job %d in Work's shared, read-only view (copy it before changing it)", w.active[i].ID))
			}
		}
	}
	for id, w := range f.wit.jobs {
		j := f.state.Jobs[id]
		if j == nil {
			continue
		}
		for i, s := range sharedSlices(j) {
			if !slices.Equal(s, w[i]) {
				panic(fmt.Sprintf("fsm: a caller wrote into pending job %d's Argv, Env, Features or Links, which Work shares with the state", id))
			}
		}
	}
	if forget {
		f.wit.jobs = nil
	}
}
