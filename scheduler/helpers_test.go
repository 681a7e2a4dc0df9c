package scheduler

import (
	"fmt"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// t0 is the virtual "now" of policy tests.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// at is t0 plus minutes.
func at(min float64) time.Time { return t0.Add(time.Duration(min * float64(time.Minute))) }

// occ builds an occupancy of t with every host free except the named ones.
func occWith(t *Tree, busy ...string) *occupancy {
	o := newOccupancy(t)
	for h := range t.hostNames {
		o.set(int32(h), true)
	}
	for _, b := range busy {
		o.set(t.hostIdx[b], false)
	}
	return o
}

// busyRange marks hosts node<from>..node<to> (as named by SyntheticTree
// with width w) busy.
func busyRange(t *Tree, o *occupancy, w, from, to int) {
	for i := from; i <= to; i++ {
		o.set(t.hostIdx[fmt.Sprintf("node%0*d", w, i)], false)
	}
}

func mustTree(tb testing.TB, hosts, leaf, pod int) *Tree {
	tb.Helper()
	t, err := SyntheticTree(hosts, leaf, pod)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

func names(t *Tree, hs []int32) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = t.hostNames[h]
	}
	return out
}

// leavesOf names the distinct leaves of the hosts, in order.
func leavesOf(t *Tree, hs []int32) []string {
	var out []string
	for _, h := range hs {
		l := t.groups[t.hostGroup[h]].name
		if len(out) == 0 || out[len(out)-1] != l {
			out = append(out, l)
		}
	}
	return out
}

// nodesOf gives model nodes for every host of t, ready.
func nodesOf(t *Tree) []*model.Node {
	var out []*model.Node
	for h, name := range t.hostNames {
		out = append(out, &model.Node{Name: name, Leaf: t.groups[t.hostGroup[h]].name, State: model.NodeReady})
	}
	return out
}

// job is a pending job submitted at minute sub.
func job(id uint64, tenant string, nodes int, wall time.Duration, sub float64) *model.Job {
	return &model.Job{ID: id, Tenant: tenant, NumNodes: nodes, TimeLimit: wall, State: model.JobPending, SubmitTime: at(sub)}
}

// run makes a job running on the named nodes since minute start and marks
// the nodes allocated.
func run(nodes []*model.Node, id uint64, tenant string, wall time.Duration, start float64, hosts ...string) *model.Job {
	j := &model.Job{ID: id, Tenant: tenant, NumNodes: len(hosts), TimeLimit: wall, State: model.JobRunning, StartTime: at(start), Nodes: hosts}
	for _, n := range nodes {
		for _, h := range hosts {
			if n.Name == h {
				n.State, n.JobID = model.NodeAllocated, id
			}
		}
	}
	return j
}

func started(p Plan) map[uint64][]string {
	out := map[uint64][]string{}
	for _, a := range p.Start {
		out[a.JobID] = a.Nodes
	}
	return out
}

func startedIDs(p Plan) []uint64 {
	var out []uint64
	for _, a := range p.Start {
		out = append(out, a.JobID)
	}
	return out
}
