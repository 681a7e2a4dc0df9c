package scheduler

import (
	"cmp"
	"slices"

	"github.com/ibex-hpc/ibex/model"
)

// On a busy cluster the nodes change between most passes (a job started,
// ended or a node finished cleaning), so the NodeCache missed nearly every
// time and each pass loaded all 100,000 nodes again: a third of the pass.
// Yet a pass usually follows one or two commands that touched a handful
// of nodes. When the snapshots promise read-only nodes and jobs
// (Snapshot.NodesReadOnly: a changed node or job is a new pointer, as in
// fsm.Work's shared copies), the cache compares the new lists with the
// ones it loaded, pointer by pointer, and redoes only the nodes whose
// pointer changed and the nodes of the jobs whose pointer changed: what
// each such node had added to the base is taken back and what it adds now
// is put in.
//
// The result is the base a full load gives, but for the order of releases
// at the same instant, which no reader depends on (releases.go); the
// plans are the same (TestNodeDeltaSamePlan). Whatever the update cannot
// redo exactly it refuses before writing anything, and the cache loads
// every node as before: a job holding uplinks changed (a link may have
// two holders), the node list changed length or order, the running jobs
// are not in id order, a name appears twice, or too much changed for an
// update to be cheaper.

// tracking is what a base keeps to update itself.
type tracking struct {
	ok      bool
	nodes   []*model.Node         // Snapshot.Nodes of the base, held so pointers are not reused
	running []*model.Job          // Snapshot.Running of the base, in id order
	byID    map[uint64]*model.Job // running by id
	part    []nodePart            // by index in nodes: what the node added
	// jobNodes are the indices of the nodes (in the tree) naming each job.
	jobNodes map[uint64][]int32
	images   int    // nodes in the tree with an image
	mark     []bool // by host: seen while loading, redone while updating
	// run is the nodes of the job being noted, flushed into jobNodes when
	// the job changes: one map access per run of a job's nodes.
	run   []int32
	runID uint64
}

func newTracking(t *Tree, s *Snapshot, byID map[uint64]*model.Job) *tracking {
	tr := &tracking{ok: idOrdered(s.Running), nodes: s.Nodes, running: s.Running, byID: byID,
		part: make([]nodePart, len(s.Nodes)), jobNodes: map[uint64][]int32{}, mark: make([]bool, len(t.hostNames))}
	return tr
}

// idOrdered reports whether jobs are in strictly increasing id order.
func idOrdered(jobs []*model.Job) bool {
	for i := 1; i < len(jobs); i++ {
		if jobs[i].ID <= jobs[i-1].ID {
			return false
		}
	}
	return true
}

// note records what node i, host h, added to the base.
func (tr *tracking) note(i int, h int32, n *model.Node, p nodePart) {
	if tr.mark[h] {
		tr.ok = false // two nodes on one host: their parts cannot be told apart
	}
	tr.mark[h] = true
	tr.part[i] = p
	if n.Image != "" {
		tr.images++
	}
	if n.JobID != tr.runID {
		tr.flush()
		tr.runID = n.JobID
	}
	if n.JobID != 0 {
		tr.run = append(tr.run, int32(i))
	}
}

// done ends the loading.
func (tr *tracking) done() {
	tr.flush()
	tr.run = nil
	clear(tr.mark)
}

func (tr *tracking) flush() {
	if len(tr.run) > 0 {
		tr.jobNodes[tr.runID] = append(tr.jobNodes[tr.runID], tr.run...)
		tr.run = tr.run[:0]
	}
}

// jobChange is a running job added, removed (now nil) or replaced.
type jobChange struct {
	id  uint64
	now *model.Job
}

// update brings the base from its snapshot to s, redoing the nodes whose
// pointers changed and the nodes of the jobs whose pointers changed. It
// reports false, having written nothing, when it cannot.
func (b *nodeBase) update(t *Tree, s *Snapshot) bool {
	tr := b.track
	if tr == nil || len(s.Nodes) != len(tr.nodes) {
		return false
	}
	limit := max(64, len(s.Nodes)/8) // past it, a load is as cheap
	var changed []int32
	for i, n := range s.Nodes {
		if n == tr.nodes[i] {
			continue
		}
		if n.Name != tr.nodes[i].Name || len(changed) >= limit {
			return false
		}
		changed = append(changed, int32(i))
	}
	jobs, ok := diffJobs(tr.running, s.Running, limit)
	if !ok {
		return false
	}
	// Nothing fails from here on.
	var redo []int32 // node indices, each once
	add := func(i int32) {
		h, ok := hostOf(t, int(i), s.Nodes[i].Name)
		if ok && !tr.mark[h] {
			tr.mark[h] = true
			redo = append(redo, i)
		}
	}
	for _, i := range changed {
		add(i)
		b.moveNode(t, tr, i, s.Nodes[i])
	}
	for _, c := range jobs {
		for _, i := range tr.jobNodes[c.id] {
			add(i)
		}
		if c.now == nil {
			delete(tr.byID, c.id)
		} else {
			tr.byID[c.id] = c.now
		}
	}
	// Take back what the redone nodes added, then add what they add now.
	for _, i := range redo {
		h, _ := hostOf(t, int(i), s.Nodes[i].Name)
		switch tr.part[i] {
		case partFree:
			b.occ.set(h, false)
		case partUnknown:
			b.unknown--
		}
	}
	marked := func(host int32) bool { return host >= 0 && tr.mark[host] }
	b.fixed = slices.DeleteFunc(b.fixed, func(r release) bool { return marked(r.host) })
	b.fromNow = slices.DeleteFunc(b.fromNow, func(r release) bool { return marked(r.host) })
	b.odd = slices.DeleteFunc(b.odd, func(r oddRelease) bool { return marked(r.host) })
	b.atNow = slices.DeleteFunc(b.atNow, marked)
	nf, ng := len(b.fixed), len(b.fromNow)
	for _, i := range redo {
		n := s.Nodes[i]
		h, _ := hostOf(t, int(i), n.Name)
		var job *model.Job
		if n.State == model.NodeAllocated {
			job = tr.byID[n.JobID]
		}
		tr.part[i] = b.addNode(h, n, job)
		tr.mark[h] = false
	}
	b.fixed = mergeTail(b.fixed, nf)
	b.fromNow = mergeTail(b.fromNow, ng)
	tr.nodes, tr.running = s.Nodes, s.Running
	return true
}

// moveNode updates what the tracking and the base keep of node i beyond
// its part: which job names it, and its image (copied on write: passes
// share the base's images).
func (b *nodeBase) moveNode(t *Tree, tr *tracking, i int32, n *model.Node) {
	was := tr.nodes[i]
	h, ok := hostOf(t, int(i), n.Name)
	if !ok {
		return // not in the tree: never noted
	}
	if was.JobID != n.JobID {
		if was.JobID != 0 {
			rest := slices.DeleteFunc(tr.jobNodes[was.JobID], func(k int32) bool { return k == i })
			if len(rest) == 0 {
				delete(tr.jobNodes, was.JobID)
			} else {
				tr.jobNodes[was.JobID] = rest
			}
		}
		if n.JobID != 0 {
			tr.jobNodes[n.JobID] = append(tr.jobNodes[n.JobID], i)
		}
	}
	if was.Image == n.Image {
		return
	}
	tr.images += min(len(n.Image), 1) - min(len(was.Image), 1)
	if tr.images == 0 {
		b.images = nil // as a load leaves it when no node has an image
		return
	}
	if b.images == nil {
		b.images = make([]string, len(t.hostNames))
	} else {
		b.images = slices.Clone(b.images)
	}
	b.images[h] = n.Image
}

// diffJobs lists the jobs added, removed or replaced between two lists in
// id order (was is; now is checked). ok is false when now is not in id
// order, more than limit jobs changed, or a changed job holds uplinks.
func diffJobs(was, now []*model.Job, limit int) (out []jobChange, ok bool) {
	if !idOrdered(now) {
		return nil, false
	}
	note := func(id uint64, old, cur *model.Job) bool {
		if old != nil && len(old.Links) > 0 || cur != nil && len(cur.Links) > 0 || len(out) >= limit {
			return false
		}
		out = append(out, jobChange{id, cur})
		return true
	}
	for len(was) > 0 || len(now) > 0 {
		switch {
		case len(now) == 0 || len(was) > 0 && was[0].ID < now[0].ID:
			if !note(was[0].ID, was[0], nil) {
				return nil, false
			}
			was = was[1:]
		case len(was) == 0 || now[0].ID < was[0].ID:
			if !note(now[0].ID, nil, now[0]) {
				return nil, false
			}
			now = now[1:]
		default:
			if was[0] != now[0] && !note(now[0].ID, was[0], now[0]) {
				return nil, false
			}
			was, now = was[1:], now[1:]
		}
	}
	return out, true
}

// mergeTail sorts rel[k:] and merges it into rel[:k], which is in time
// order (releases.go).
func mergeTail(rel []release, k int) []release {
	if k >= len(rel) {
		return rel
	}
	tail := slices.Clone(rel[k:])
	slices.SortFunc(tail, func(a, b release) int { return cmp.Compare(a.at, b.at) })
	mergeBack(rel, k, tail)
	return rel
}
