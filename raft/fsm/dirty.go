package fsm

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"sort"

	"github.com/ibex-hpc/ibex/model"
)

// What changed since Work's last share. A share (workshare.go) is one
// nodes generation's copies of every node and active job; before, every
// entry that moved one node cost a fresh copy of all of them at the next
// Work (about 50 ms on a 100,000-node fabric, at every allocation, start,
// end and cleaning). Now the FSM notes, entry by entry, which nodes and
// jobs each command may have changed, and Work copies only those again,
// sharing the previous share's copies of the rest (they are read-only, so
// two shares can hold the same copy).
//
// What a command may change is its footprint: the nodes and jobs it names,
// and around each of them, before and after it is applied, the job a named
// node holds and the nodes a named job holds (endJob moves all of a job's
// nodes to cleaning; Allocate of an array task makes a new job on the
// named nodes). Only the commands listed in footprint are tracked, those
// of the leader's per-job cycle, and each was read for what it writes;
// any other command (and any new one, until it is listed) marks
// everything changed, so Work copies all as before: a command that is
// missing from the list costs time, never correctness.
//
// The bookkeeping is off the replicated state: not in the snapshot or the
// hash, and a follower that never calls Work only pays for a bounded set
// (past maxChanges it gives up and marks everything).
//
// With CheckSharedViews on (tests), every share built from changes is
// compared with the state, and a difference panics naming the node or job
// and the commands applied since the last share.

// changeSet is what changed since the share of generation base.
type changeSet struct {
	base  uint64 // the share generation the changes are counted from
	all   bool   // everything may have changed: the next share copies all
	nodes map[string]struct{}
	jobs  map[uint64]struct{}
	cmds  []string // with CheckSharedViews: the commands behind the changes
}

// maxChanges bounds a change set; past it (or a quarter of the nodes, if
// more) a full copy is as cheap, and a follower's set stops growing.
const maxChanges = 4096

// markAll marks everything changed and drops the detail.
func (c *changeSet) markAll() {
	c.all, c.nodes, c.jobs = true, nil, nil
}

// startEntry readies the change set for an entry applied on top of the
// share of generation shareGen (0: none), gen being the nodes generation
// before the entry. A share built since the last entry starts the count
// afresh. Write lock held.
func (s *State) startEntry(shareGen, gen uint64) {
	c := s.idx.changes
	if c == nil || c.base == shareGen {
		return
	}
	*c = changeSet{base: shareGen}
	if shareGen == 0 || shareGen != gen {
		c.all = true // no share of this generation: nothing to build on
	}
}

// footprint reports what cmd names: nodes and jobs whose closure (noteNode,
// noteJob) covers everything its handler may change, and whether cmd is
// tracked at all. A Batch is tracked as its commands, each on its own
// (State.apply sees them one by one).
func footprint(cmd Command) (nodes []string, jobs []uint64, tracked bool) {
	switch c := cmd.(type) {
	case *SubmitJob, *PendingReasons, *Batch:
		return nil, nil, true // pending jobs only; a batch: its commands
	case *Allocate:
		return c.Nodes, []uint64{c.JobID}, true
	case *StartJob:
		return nil, []uint64{c.JobID}, true
	case *FinishJob:
		return nil, []uint64{c.JobID}, true
	case *PartitionReady:
		return nil, []uint64{c.JobID}, true
	case *NodeCleaned:
		return []string{c.Node}, nil, true
	case *StartTask:
		return []string{c.Node}, nil, true
	case *TaskDone:
		return []string{c.Node}, nil, true
	case *JobStopped:
		return []string{c.Node}, []uint64{c.JobID}, true
	case *DrainNode:
		return []string{c.Node}, nil, true
	case *UndrainNode:
		return []string{c.Node}, nil, true
	case *LabelNode:
		return []string{c.Node}, nil, true
	case *NodeDown:
		return []string{c.Node}, nil, true
	case *NodeUp:
		return []string{c.Node}, nil, true
	case *PowerCycle:
		return []string{c.Node}, nil, true
	case *StartHandoutCheck: // before every allocation of an agent node
		return []string{c.Node}, nil, true
	case *HandoutChecked:
		return []string{c.Node}, nil, true
	case *QuarantineNode:
		return []string{c.Node}, nil, true
	case *InterruptTask:
		return []string{c.Node}, nil, true
	}
	return nil, nil, false
}

// noteFootprint adds cmd's footprint, as the state stands now, to the
// change set. Called before and after the handler: what a named job or
// node holds may differ between the two.
func (s *State) noteFootprint(cmd Command) {
	c := s.idx.changes
	if c == nil || c.all {
		return
	}
	nodes, jobs, tracked := footprint(cmd)
	if !tracked {
		c.markAll()
		return
	}
	for _, name := range nodes {
		s.noteNode(c, name)
	}
	for _, id := range jobs {
		s.noteJobNodes(c, id)
	}
	if len(c.nodes)+len(c.jobs) > max(maxChanges, len(s.Nodes)/4) {
		c.markAll()
	}
}

// noteNode marks a node, the job it holds and that job's nodes.
func (s *State) noteNode(c *changeSet, name string) {
	if c.nodes == nil {
		c.nodes = map[string]struct{}{}
	}
	c.nodes[name] = struct{}{}
	if n := s.Nodes[name]; n != nil && n.JobID != 0 {
		s.noteJobNodes(c, n.JobID)
	}
}

// noteJobNodes marks a job and the nodes it holds.
func (s *State) noteJobNodes(c *changeSet, id uint64) {
	if c.jobs == nil {
		c.jobs = map[uint64]struct{}{}
	}
	c.jobs[id] = struct{}{}
	j := s.Jobs[id]
	if j == nil {
		return
	}
	if c.nodes == nil {
		c.nodes = map[string]struct{}{}
	}
	for _, name := range j.Nodes {
		c.nodes[name] = struct{}{}
	}
}

// applyTracked is State.apply's bracket: the footprint before and after.
func (s *State) applyTracked(cmd Command, h handler) (any, error) {
	if s.idx.changes == nil {
		return h.apply(s, cmd)
	}
	s.noteFootprint(cmd)
	v, err := h.apply(s, cmd)
	s.noteFootprint(cmd)
	if checkShares.Load() && !s.idx.changes.all && len(s.idx.changes.cmds) < 64 {
		s.idx.changes.cmds = append(s.idx.changes.cmds, fmt.Sprintf("%T", cmd))
	}
	return v, err
}

// shareFrom builds the share of generation gen from prev, the share the
// change set counts from: copies of the changed nodes and active jobs,
// prev's copies of the rest. ok is false when it cannot (everything
// changed, nodes were added): the caller copies all. Read lock held.
func (f *FSM) shareFrom(prev *workShare) (sh *workShare, ok bool) {
	s := f.state
	c := s.idx.changes
	order := s.nodesInOrder()
	if prev == nil || c == nil || c.all || c.base != prev.gen || len(order) != len(prev.nodes) {
		return nil, false
	}
	sh = &workShare{gen: f.nodesGen, nodes: slices.Clone(prev.nodes)}
	if len(c.nodes) > 0 {
		chunk := make([]model.Node, len(c.nodes))
		for name := range c.nodes {
			i, found := sort.Find(len(order), func(i int) int { return cmp.Compare(name, order[i].Name) })
			if !found {
				continue // named by a refused command: no such node
			}
			order[i].CloneTo(&chunk[0])
			sh.nodes[i] = &chunk[0]
			chunk = chunk[1:]
		}
	}
	if len(s.idx.active) > 0 { // nil when none, as fullShare gives it
		sh.active = make([]*model.Job, 0, len(s.idx.active))
	}
	for _, j := range prev.active {
		if _, changed := c.jobs[j.ID]; !changed {
			if _, still := s.idx.active[j.ID]; still {
				sh.active = append(sh.active, j)
			}
		}
	}
	kept := len(sh.active)
	for id := range c.jobs {
		if _, active := s.idx.active[id]; active {
			sh.active = append(sh.active, s.Jobs[id].Clone())
		}
	}
	if len(sh.active) > kept {
		fresh := sh.active[kept:]
		slices.SortFunc(fresh, func(a, b *model.Job) int { return cmp.Compare(a.ID, b.ID) })
		merged := make([]*model.Job, 0, len(sh.active))
		old := sh.active[:kept]
		for len(old) > 0 && len(fresh) > 0 {
			if old[0].ID < fresh[0].ID {
				merged, old = append(merged, old[0]), old[1:]
			} else {
				merged, fresh = append(merged, fresh[0]), fresh[1:]
			}
		}
		sh.active = append(append(merged, old...), fresh...)
	}
	if len(sh.active) != len(s.idx.active) {
		return nil, false // an active job that no change names: copy all
	}
	if checkShares.Load() {
		f.checkShareFrom(sh, c)
	}
	return sh, true
}

// checkShareFrom panics if a share built from changes differs from the
// state: a command changed a node or job outside its footprint.
func (f *FSM) checkShareFrom(sh *workShare, c *changeSet) {
	s := f.state
	for i, n := range s.nodesInOrder() {
		var fresh model.Node
		n.CloneTo(&fresh)
		if !reflect.DeepEqual(&fresh, sh.nodes[i]) {
			panic(fmt.Sprintf("fsm: node %s changed outside the footprint of the commands applied since the last share %v (dirty.go: footprint)", n.Name, c.cmds))
		}
	}
	for _, j := range sh.active {
		if !reflect.DeepEqual(s.Jobs[j.ID].Clone(), j) {
			panic(fmt.Sprintf("fsm: active job %d changed outside the footprint of the commands applied since the last share %v (dirty.go: footprint)", j.ID, c.cmds))
		}
	}
}
