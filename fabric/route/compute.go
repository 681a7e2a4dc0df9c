package route

import (
	"cmp"
	"fmt"
	"slices"
)

// NoPath is an LFT entry with no route (OpenSM's OSM_NO_PATH).
const NoPath = 0xff

// LFT is a switch's linear forwarding table: the output port per
// destination LID (index), NoPath where there is none; port 0 is the
// switch itself.
type LFT []uint8

// Tables are the LFTs of a fabric's switches, by switch node GUID.
type Tables map[uint64]LFT

// Port returns the output port of switch sw for lid, or NoPath.
func (t Tables) Port(sw uint64, lid uint16) uint8 {
	l := t[sw]
	if int(lid) >= len(l) {
		return NoPath
	}
	return l[lid]
}

// portKey is one end of a cable: a switch and its port.
type portKey struct {
	sw   uint64
	port int
}

// policy is the isolation state routing enforces.
type policy struct {
	f       *Fabric
	jobs    []Job
	held    map[portKey]int // both ends of every held cable -> job index
	endJob  map[uint64]int  // port GUID -> job index
	leaves  []map[*Switch]bool
	touch   []map[*Switch]bool // switches at either end of the job's cables
	cabled  []bool             // the job holds cables (it spans leaves)
	endRank map[uint64]int
}

func newPolicy(f *Fabric, jobs []Job) (*policy, error) {
	p := &policy{f: f, jobs: jobs, held: map[portKey]int{}, endJob: map[uint64]int{}, endRank: map[uint64]int{}}
	for j, job := range jobs {
		leaves, touch := map[*Switch]bool{}, map[*Switch]bool{}
		perLeaf := map[*Switch][]*End{}
		for _, g := range job.Ports {
			e := f.End(g)
			if e == nil {
				return nil, fmt.Errorf("route: job %s: port 0x%016x is not in the fabric", job.ID, g)
			}
			if o, dup := p.endJob[g]; dup && o != j {
				return nil, fmt.Errorf("route: port 0x%016x is in jobs %s and %s", g, jobs[o].ID, job.ID)
			}
			p.endJob[g] = j
			leaves[e.Switch] = true
			perLeaf[e.Switch] = append(perLeaf[e.Switch], e)
		}
		for _, es := range perLeaf {
			slices.SortFunc(es, func(a, b *End) int { return cmp.Compare(a.GUID, b.GUID) })
			for i, e := range es {
				p.endRank[e.GUID] = i
			}
		}
		for _, c := range job.Cables {
			s := f.Switch(c.Switch)
			if s == nil || c.Port <= 0 || c.Port >= len(s.Ports) || s.Ports[c.Port].Switch == nil {
				return nil, fmt.Errorf("route: job %s: cable %s is not a switch-to-switch cable of the fabric", job.ID, c)
			}
			r := s.Ports[c.Port]
			touch[s], touch[r.Switch] = true, true
			for _, k := range []portKey{{s.GUID, c.Port}, {r.Switch.GUID, r.Port}} {
				if o, dup := p.held[k]; dup && o != j {
					return nil, fmt.Errorf("route: cable %s is held by jobs %s and %s", c, jobs[o].ID, job.ID)
				}
				p.held[k] = j
			}
		}
		p.leaves = append(p.leaves, leaves)
		p.touch = append(p.touch, touch)
		p.cabled = append(p.cabled, len(job.Cables) > 0)
	}
	return p, nil
}

// bad reports whether leaving switch x by port (towards a switch) on the
// way to a destination of job dj (-1: none) breaks isolation: the cable
// is held by another job (rule b); or dj spans leaves and the cable is
// not dj's but leaves a switch dj's own traffic passes (rule a): one of
// dj's leaves, or a switch dj's cables reach (a spine, on a three-level
// fabric also a core). Wherever dj's traffic is, it takes dj's cables
// onwards, so it never leaves them. A switch none of dj's cables reach
// only carries other traffic to dj, so it may use any free cable.
func (p *policy) bad(x *Switch, port, dj int) bool {
	h, held := p.held[portKey{x.GUID, port}]
	if held && h != dj {
		return true
	}
	if dj >= 0 && p.cabled[dj] && !held {
		return p.leaves[dj][x] || p.touch[dj][x]
	}
	return false
}

// Compute returns forwarding tables for f under the isolation of jobs
// (see the package comment for the rules and why they isolate), and the
// routes it could not isolate: minimum-hop routes that had to cross a
// held cable because every minimum-hop path does.
func Compute(f *Fabric, jobs []Job) (Tables, []string, error) {
	if err := f.CheckLIDs(); err != nil {
		return nil, nil, err
	}
	p, err := newPolicy(f, jobs)
	if err != nil {
		return nil, nil, err
	}
	n := int(f.MaxLID()) + 1
	t := Tables{}
	for _, s := range f.Switches {
		l := make(LFT, n)
		for i := range l {
			l[i] = NoPath
		}
		l[s.LID] = 0
		t[s.GUID] = l
	}
	var conflicts []string
	r := &router{p: p, t: t, hops: make([]int, len(f.Switches)), cost: make([]int, len(f.Switches))}
	for _, e := range f.Ends {
		dj, ok := p.endJob[e.GUID]
		if !ok {
			dj = -1
		}
		rank := int(e.LID)
		if dj >= 0 {
			rank = p.endRank[e.GUID]
		}
		// With LMC > 0 each LID of the port is routed by the same rules,
		// the i-th one on the plane after the (i-1)-th's: the job's flows
		// get the multipath LMC is for, within the job's cables.
		var bad []*Switch
		for i, lid := range e.LIDs() {
			t[e.Switch.GUID][lid] = uint8(e.SwitchPort)
			for _, c := range r.route(e.Switch, lid, dj, rank+i) {
				if !slices.Contains(bad, c) {
					bad = append(bad, c)
				}
			}
		}
		for _, c := range bad {
			conflicts = append(conflicts, fmt.Sprintf("route to %s (LID %d) from %s crosses a cable held by another isolated job", e.Name, e.LID, c.Name))
		}
	}
	// Switch LIDs are reached by management traffic only (performance
	// counters, vendor MADs); their routes avoid held cables where a
	// minimum-hop path does, but a leaf's only path to a spine is the
	// cable between them, so crossings are not conflicts.
	for _, s := range f.Switches {
		r.route(s, s.LID, -1, int(s.LID))
	}
	return t, conflicts, nil
}

type router struct {
	p *policy
	t Tables
	// scratch, reused per destination, by switch index; hops -1: unseen
	hops, cost  []int
	layer, next []*Switch
	cs          []cand
}

type cand struct {
	port   int
	remote *Switch
	k      int
	cost   int
}

// route fills every switch's entry for lid, whose last switch is target,
// by layers of hop distance from target: each switch takes, among its
// ports to switches one hop closer, those of least cost (violations on
// the way), ordered by plane, and of those the rank-th (mod count). It
// returns the leaf switches (switches with end ports) whose route
// crosses a held cable it should not.
func (r *router) route(target *Switch, lid uint16, dj, rank int) (bad []*Switch) {
	for i := range r.hops {
		r.hops[i] = -1
	}
	r.hops[target.idx], r.cost[target.idx] = 0, 0
	layer := append(r.layer[:0], target)
	for d := 1; len(layer) > 0; d++ {
		next := r.next[:0]
		for _, y := range layer {
			for _, pr := range y.Ports {
				x := pr.Switch
				if x != nil && r.hops[x.idx] < 0 {
					r.hops[x.idx] = d
					next = append(next, x)
				}
			}
		}
		slices.SortFunc(next, func(a, b *Switch) int { return cmp.Compare(a.GUID, b.GUID) })
		for _, x := range next {
			cs := r.cs[:0]
			best := -1
			for port, pr := range x.Ports {
				y := pr.Switch
				if y == nil || r.hops[y.idx] != d-1 {
					continue
				}
				c := r.cost[y.idx]
				if r.p.bad(x, port, dj) {
					c++
				}
				if best >= 0 && c > best {
					continue
				}
				if c < best {
					cs = cs[:0]
				}
				best = c
				cs = append(cs, cand{port: port, remote: y, k: x.planeK[port], cost: c})
			}
			slices.SortFunc(cs, func(a, b cand) int {
				if c := cmp.Compare(a.remote.GUID, b.remote.GUID); c != 0 {
					return c
				}
				return cmp.Compare(a.k, b.k)
			})
			pick := cs[rank%len(cs)]
			r.t[x.GUID][lid] = uint8(pick.port)
			r.cost[x.idx] = best
			if best > 0 && x.ends {
				bad = append(bad, x)
			}
			r.cs = cs
		}
		// layer and next swap their backing arrays.
		r.layer, r.next = next, layer
		layer = next
	}
	return bad
}
