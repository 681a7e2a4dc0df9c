// Package scheduler decides which pending jobs get which nodes. It is a pure
// function of a read-only snapshot: no raft, no clocks, no I/O. Its output is
// a plan that the FSM re-validates when it commits it, so a plan made from a
// stale snapshot can fail but can never double-allocate a node.
//
// FIFO is the original strict-order leaf packer. Schedule is the general
// pass: a Policy picks the queue order (FCFS or age + fair share), the
// backfill rule (none or EASY) and the placement (topology-aware tightest
// fit over a Tree of any depth, or first fit), and honours advance
// reservations. The clock is a parameter, so the same code runs in ibexd
// and, in virtual time, in the trace simulator (bench/trace).
package scheduler

import (
	"sort"

	"github.com/ibex-hpc/ibex/model"
)

// Snapshot is what the scheduler may look at. FIFO reads only Pending and
// Nodes; Schedule reads the rest too, and every extra field is optional.
type Snapshot struct {
	// Pending jobs in queue order (submission order for FIFO).
	Pending []*model.Job
	// Nodes is every node; only schedulable ones are used.
	Nodes []*model.Node

	// Running is every job holding nodes (scheduled or running). Backfill
	// needs it to know when nodes come back (start + time limit): without
	// it, allocated nodes count as never coming back and a blocked queue
	// stays blocked rather than risk delaying its head.
	Running []*model.Job
	// Tree is the fabric; nil means a leaf/spine tree from Nodes' Leaf
	// fields (TreeFromNodes). Nodes missing from the tree are never placed.
	Tree *Tree
	// Options carries per-job placement wishes by job ID.
	Options map[uint64]JobOptions
	// Reservations are the advance reservations; ended ones are ignored.
	Reservations []Reservation
	// Usage is past (finished) usage for fair share; nil means none.
	Usage *Usage

	// NodesVersion, when not zero, names the content of Nodes and
	// Running: snapshots with the same non-zero NodesVersion must have
	// equal Nodes and Running (fsm.Work.NodesGen is such a version).
	// With Cache set, a pass then reuses what an earlier pass with the
	// same version and Tree derived from them (nodecache.go).
	NodesVersion uint64
	Cache        *NodeCache
	// NodesReadOnly promises that no node or job Nodes and Running point
	// at is ever written (fsm.Work's shared copies are such): a changed
	// node or job comes as a new pointer. With Cache, a pass at a new
	// NodesVersion then redoes only what the changed pointers touch
	// instead of loading every node (nodedelta.go).
	NodesReadOnly bool
}

// Assignment gives one job its nodes.
type Assignment struct {
	JobID uint64
	Nodes []string
	// Links are the uplinks a link-isolated job holds (links.go), to be
	// recorded with the allocation (model.Job.Links); nil otherwise.
	Links []string
}

// FIFO places jobs strictly in queue order: the first job that does not fit
// blocks the ones behind it, so large jobs are never starved. Within a job,
// nodes are packed onto as few leaf switches as possible (see pickNodes).
func FIFO(s Snapshot) []Assignment {
	free := freeByLeaf(s.Nodes)
	var plan []Assignment
	for _, j := range s.Pending {
		nodes := pickNodes(free, j.NumNodes)
		if nodes == nil {
			break
		}
		plan = append(plan, Assignment{JobID: j.ID, Nodes: nodes})
	}
	return plan
}

// leafPool is the free nodes under one leaf switch, in name order.
type leafPool struct {
	leaf  string
	nodes []string
}

func freeByLeaf(nodes []*model.Node) []*leafPool {
	idx := map[string]*leafPool{}
	var pools []*leafPool
	for _, n := range nodes {
		if !n.Schedulable() {
			continue
		}
		p, ok := idx[n.Leaf]
		if !ok {
			p = &leafPool{leaf: n.Leaf}
			idx[n.Leaf] = p
			pools = append(pools, p)
		}
		p.nodes = append(p.nodes, n.Name)
	}
	for _, p := range pools {
		sort.Strings(p.nodes)
	}
	sort.Slice(pools, func(i, j int) bool { return pools[i].leaf < pools[j].leaf })
	return pools
}

// pickNodes takes n nodes out of pools, or returns nil if there are too few.
// If one leaf can hold the job it uses the leaf with the fewest free nodes
// that fits (best fit keeps big free blocks whole); otherwise it spans the
// fewest leaves by taking the fullest ones first.
func pickNodes(pools []*leafPool, n int) []string {
	total := 0
	for _, p := range pools {
		total += len(p.nodes)
	}
	if n <= 0 || n > total {
		return nil
	}
	var best *leafPool
	for _, p := range pools {
		if len(p.nodes) >= n && (best == nil || len(p.nodes) < len(best.nodes)) {
			best = p
		}
	}
	if best != nil {
		return take(best, n)
	}
	order := append([]*leafPool(nil), pools...)
	sort.SliceStable(order, func(i, j int) bool { return len(order[i].nodes) > len(order[j].nodes) })
	var out []string
	for _, p := range order {
		k := min(n-len(out), len(p.nodes))
		out = append(out, take(p, k)...)
		if len(out) == n {
			break
		}
	}
	sort.Strings(out)
	return out
}

func take(p *leafPool, k int) []string {
	out := append([]string(nil), p.nodes[:k]...)
	p.nodes = p.nodes[k:]
	return out
}
