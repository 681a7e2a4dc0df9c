package scheduler

import (
	"math"
	"sync"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// Loading 100,000 nodes into a pass (which are free, which come back
// when, which image each carries) was a third of a pass, and on a busy
// queue most passes see the same nodes: new submissions change neither
// the nodes nor the jobs holding them. So the loading is split in two: a
// nodeBase, which depends only on the nodes, the running jobs and the
// tree, and a per-pass part that applies the clock and the policy to it
// (releases are clamped to now, jobs not started yet count from now). A
// NodeCache keeps the last base under the snapshot's NodesVersion; the
// version is the caller's promise that equal versions mean equal nodes
// and running jobs (the FSM's nodes generation). Without a cache or a
// version, every pass builds its own base the same way, so a pass gives
// the same plan with and without the cache (TestNodeCacheSamePlan).

// nodeBase is what a pass derives from the nodes, the running jobs and the
// tree. A pass copies what it changes (newPass); only a NodeCache updates
// a base in place (nodedelta.go), under its lock, and passes share nothing
// an update writes.
type nodeBase struct {
	occ     *occupancy // free hosts and held uplinks
	images  []string   // each host's verified image, nil when none has one
	unknown int        // allocated hosts whose job is not in Snapshot.Running
	// The releases, by how the clock applies to them, each in time order
	// (a negative host is an uplink, as in pass.rel):
	fixed   []release // at: a started job's deadline; back at max(at, now)
	fromNow []release // at: the time limit of a job not started; back at now+at
	atNow   []int32   // cleaning hosts: back now
	// odd are started jobs' deadlines outside Unix nanoseconds' range,
	// which the pass converts as newPass always did.
	odd []oddRelease
	// track is what an update needs (nodedelta.go); nil when the base
	// cannot be updated, only loaded again.
	track *tracking
}

type oddRelease struct {
	at   time.Time
	host int32
}

// Unix nanoseconds' range, as time.Time.
var (
	minNano = time.Unix(0, math.MinInt64)
	maxNano = time.Unix(0, math.MaxInt64)
)

// loadNodes builds the base of s's nodes on t: O(nodes + running jobs),
// plus sorting the releases. With track, it also keeps what an update
// needs to take each node's part back (nodedelta.go).
func loadNodes(t *Tree, s *Snapshot, track bool) *nodeBase {
	// Most busy hosts' jobs have started: room for all of them at once
	// rather than growing the list through 50,000 appends.
	b := &nodeBase{occ: newOccupancy(t), fixed: make([]release, 0, len(s.Nodes))}
	running := make(map[uint64]*model.Job, len(s.Running))
	for _, j := range s.Running {
		running[j.ID] = j
		b.holdLinks(t, j)
	}
	var tr *tracking
	if track {
		tr = newTracking(t, s, running)
	}
	var (
		lastID uint64
		last   *model.Job
	)
	for i, n := range s.Nodes {
		// Callers usually list nodes in tree order: skip the map then.
		h, ok := hostOf(t, i, n.Name)
		if !ok {
			continue
		}
		if n.Image != "" { // image.go
			if b.images == nil {
				b.images = make([]string, len(t.hostNames))
			}
			b.images[h] = n.Image
		}
		var job *model.Job
		if n.State == model.NodeAllocated {
			// A job's nodes usually come one after another: look the
			// job up once per run of them.
			if n.JobID != lastID || last == nil {
				lastID, last = n.JobID, running[n.JobID]
			}
			job = last
		}
		k := b.addNode(h, n, job)
		if tr != nil {
			tr.note(i, h, n, k)
		}
	}
	scratch := radixByAt(b.fixed, nil) // releasesort.go
	radixByAt(b.fromNow, scratch)
	if tr != nil {
		tr.done()
		if tr.ok {
			b.track = tr
		}
	}
	return b
}

// hostOf is the tree host of s.Nodes[i], named name; ok is false when the
// tree does not know it. Callers usually list nodes in tree order, which
// skips the map.
func hostOf(t *Tree, i int, name string) (h int32, ok bool) {
	if i < len(t.hostNames) && t.hostNames[i] == name {
		return int32(i), true
	}
	h, ok = t.hostIdx[name]
	return h, ok
}

// nodePart is what a node added to a base, so that an update can take it
// back (nodedelta.go).
type nodePart uint8

const (
	partNone     nodePart = iota // not coming back by itself
	partFree                     // free: set in the occupancy
	partUnknown                  // allocated to a job not in Running: counted in unknown
	partReleased                 // allocated: at most one entry in fixed, fromNow or odd
	partCleaning                 // one entry in atNow
)

// addNode adds node n, tree host h, to the base; job is the running job
// it is allocated to, nil when none or not listed.
func (b *nodeBase) addNode(h int32, n *model.Node, job *model.Job) nodePart {
	switch {
	case n.Schedulable():
		b.occ.set(h, true)
		return partFree
	case n.Drained || n.State == model.NodeDown || n.State == model.NodeReady:
		// not coming back by itself (ready but not schedulable: an
		// infrastructure node nobody labelled)
		return partNone
	case n.State == model.NodeAllocated:
		if job == nil {
			b.unknown++
			return partUnknown
		}
		b.addRelease(job, h)
		return partReleased
	default: // cleaning: back within seconds
		b.atNow = append(b.atNow, h)
		return partCleaning
	}
}

// addRelease notes when host (or uplink -1-host) comes back from job j at
// the latest: its start plus its limit, where a job scheduled but not
// started yet counts from now (the pass applies the clock); never for a
// job without a limit.
func (b *nodeBase) addRelease(j *model.Job, host int32) {
	if j.TimeLimit <= 0 {
		return // never, by the estimates
	}
	if j.StartTime.IsZero() {
		b.fromNow = append(b.fromNow, release{int64(j.TimeLimit), host})
		return
	}
	d := j.StartTime.Add(j.TimeLimit)
	if d.Before(minNano) || d.After(maxNano) {
		b.odd = append(b.odd, oddRelease{d, host})
		return
	}
	b.fixed = append(b.fixed, release{d.UnixNano(), host})
}

// holdLinks marks the uplinks a running job holds (model.Job.Links, as the
// FSM recorded them) and when they come back. Names the tree does not know
// (a fabric re-imported since) are ignored: those cables are gone.
func (b *nodeBase) holdLinks(t *Tree, j *model.Job) {
	for _, name := range j.Links {
		id, known := t.links.idx[name]
		if !known {
			continue
		}
		b.occ.lfree[id] = false
		b.addRelease(j, -1-id)
	}
}

// newPass starts a pass at now from the base: the occupancy copied (taken
// over when the base is not kept: owned), the releases put in time order
// with the clock applied, O(nodes).
func (b *nodeBase) newPass(t *Tree, p Policy, now time.Time, owned bool, spare *pass) *pass {
	occ := b.occ
	switch {
	case owned:
	case spare != nil && spare.occ.t == occ.t && len(spare.occ.gfree) == len(occ.gfree):
		occ = occ.cloneInto(spare.occ) // passrecycle.go
	default:
		occ = occ.clone()
	}
	ps := &pass{t: t, p: p, now: now, occ: occ, images: b.images, unknown: b.unknown}
	n := len(b.atNow) + len(b.fixed) + len(b.fromNow) + len(b.odd)
	var rel []release
	if spare != nil && cap(spare.rel) >= n+n/4 {
		rel, ps.relTail = spare.rel[:0], spare.relTail[:0]
	} else {
		rel = make([]release, 0, n+n/4)
	}
	nowNano := now.UnixNano()
	for _, h := range b.atNow {
		rel = append(rel, release{nowNano, h})
	}
	// Merge the started jobs' deadlines (clamped to now, which keeps them
	// in order) with the not-started jobs' now+limit.
	f, g := b.fixed, b.fromNow
	for len(f) > 0 || len(g) > 0 {
		var r release
		if len(g) == 0 || len(f) > 0 && max(f[0].at, nowNano) <= now.Add(time.Duration(g[0].at)).UnixNano() {
			r, f = release{max(f[0].at, nowNano), f[0].host}, f[1:]
		} else {
			r, g = release{now.Add(time.Duration(g[0].at)).UnixNano(), g[0].host}, g[1:]
		}
		rel = append(rel, r)
	}
	for _, o := range b.odd {
		rel = append(rel, release{later(o.at, now).UnixNano(), o.host})
	}
	ps.rel = rel
	// Whatever the values (now+limit can overflow), only a prefix that is
	// in order is taken as sorted: mergeReleases sorts the rest.
	ps.relSorted = sortedPrefix(rel)
	ps.initEnds() // align.go
	return ps
}

// sortedPrefix is the length of rel's longest prefix in time order.
func sortedPrefix(rel []release) int {
	for i := 1; i < len(rel); i++ {
		if rel[i].at < rel[i-1].at {
			return i
		}
	}
	return len(rel)
}

// NodeCache keeps the node loading of the last pass for the next one with
// the same Snapshot.NodesVersion and Tree, and, when the snapshots promise
// read-only nodes and jobs (Snapshot.NodesReadOnly), brings it up to a new
// version by redoing only the nodes and jobs whose pointers changed
// (nodedelta.go). The zero value is ready to use; it is safe for
// concurrent passes. Its memory is one occupancy and one release list, a
// few MB at 100,000 nodes, plus with read-only snapshots the last one's
// node and job lists.
type NodeCache struct {
	mu      sync.Mutex
	tree    *Tree
	version uint64
	base    *nodeBase
	hits    uint64
	updates uint64
	misses  uint64
	// spare is a finished pass whose buffers the next pass reuses
	// (passrecycle.go).
	spare *pass
}

// Stats returns how many passes reused the cached base and how many built
// one.
func (c *NodeCache) Stats() (hits, misses uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.misses
}

// Updates returns how many passes brought the cached base up to a new
// version rather than loading every node (they count as misses too).
func (c *NodeCache) Updates() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.updates
}

// pass starts s's pass on t, from the cached base when s's version and t
// are the cached ones, or from the cached base updated to s when it can
// be. A nil cache, or a zero version, always loads. The pass is made
// under the lock: the next pass's update writes into the base.
func (c *NodeCache) pass(t *Tree, s *Snapshot, p Policy, now time.Time) *pass {
	if c == nil || s.NodesVersion == 0 {
		return loadNodes(t, s, false).newPass(t, p, now, true, nil)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.base
	switch {
	case b != nil && c.version == s.NodesVersion && c.tree == t:
		c.hits++
	case b != nil && c.tree == t && s.NodesReadOnly && b.update(t, s): // nodedelta.go
		c.misses++
		c.updates++
		c.version = s.NodesVersion
	default:
		c.misses++
		b = loadNodes(t, s, s.NodesReadOnly)
		c.base, c.version, c.tree = b, s.NodesVersion, t
	}
	spare := c.spare
	c.spare = nil
	return b.newPass(t, p, now, false, spare)
}
