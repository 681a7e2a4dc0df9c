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
// tree. It is never modified after loadNodes: each pass copies what it
// changes.
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
// plus sorting the releases.
func loadNodes(t *Tree, s *Snapshot) *nodeBase {
	// Most busy hosts' jobs have started: room for all of them at once
	// rather than growing the list through 50,000 appends.
	b := &nodeBase{occ: newOccupancy(t), fixed: make([]release, 0, len(s.Nodes))}
	running := make(map[uint64]*model.Job, len(s.Running))
	for _, j := range s.Running {
		running[j.ID] = j
		b.holdLinks(t, j)
	}
	var (
		lastID uint64
		last   *model.Job
	)
	for i, n := range s.Nodes {
		// Callers usually list nodes in tree order: skip the map then.
		h := int32(i)
		if i >= len(t.hostNames) || t.hostNames[i] != n.Name {
			var ok bool
			if h, ok = t.hostIdx[n.Name]; !ok {
				continue
			}
		}
		if n.Image != "" { // image.go
			if b.images == nil {
				b.images = make([]string, len(t.hostNames))
			}
			b.images[h] = n.Image
		}
		switch {
		case n.Schedulable():
			b.occ.set(h, true)
		case n.Drained || n.State == model.NodeDown || n.State == model.NodeReady:
			// not coming back by itself (ready but not schedulable: an
			// infrastructure node nobody labelled)
		case n.State == model.NodeAllocated:
			// A job's nodes usually come one after another: look the
			// job up once per run of them.
			if n.JobID != lastID || last == nil {
				lastID, last = n.JobID, running[n.JobID]
			}
			if last == nil {
				b.unknown++
				continue
			}
			b.addRelease(last, h)
		default: // cleaning: back within seconds
			b.atNow = append(b.atNow, h)
		}
	}
	scratch := radixByAt(b.fixed, nil) // releasesort.go
	radixByAt(b.fromNow, scratch)
	return b
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
func (b *nodeBase) newPass(t *Tree, p Policy, now time.Time, owned bool) *pass {
	occ := b.occ
	if !owned {
		occ = occ.clone()
	}
	ps := &pass{t: t, p: p, now: now, occ: occ, images: b.images, unknown: b.unknown}
	n := len(b.atNow) + len(b.fixed) + len(b.fromNow) + len(b.odd)
	rel := make([]release, 0, n+n/4)
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
// the same Snapshot.NodesVersion and Tree. The zero value is ready to use;
// it is safe for concurrent passes. Its memory is one occupancy and one
// release list: a few MB at 100,000 nodes.
type NodeCache struct {
	mu      sync.Mutex
	tree    *Tree
	version uint64
	base    *nodeBase
	hits    uint64
	misses  uint64
}

// Stats returns how many passes reused the cached base and how many built
// one.
func (c *NodeCache) Stats() (hits, misses uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.misses
}

// pass starts s's pass on t, from the cached base when s's version and t
// are the cached ones. A nil cache, or a zero version, always loads.
func (c *NodeCache) pass(t *Tree, s *Snapshot, p Policy, now time.Time) *pass {
	if c == nil || s.NodesVersion == 0 {
		return loadNodes(t, s).newPass(t, p, now, true)
	}
	c.mu.Lock()
	b := c.base
	if b == nil || c.version != s.NodesVersion || c.tree != t {
		c.misses++
		b = loadNodes(t, s)
		c.base, c.version, c.tree = b, s.NodesVersion, t
	} else {
		c.hits++
	}
	c.mu.Unlock()
	return b.newPass(t, p, now, false)
}
