package topotree

import (
	"strings"
	"time"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/scheduler"
)

var now = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func snapshotAllFree(tr *scheduler.Tree) scheduler.Snapshot {
	s := scheduler.Snapshot{Tree: tr}
	for _, h := range tr.Hosts() {
		l, _ := tr.Leaf(h)
		s.Nodes = append(s.Nodes, &model.Node{Name: h, Leaf: tr.LeafName(l), State: model.NodeReady})
	}
	return s
}

func pending(id uint64, n int) []*model.Job {
	return []*model.Job{{ID: id, Tenant: "t", NumNodes: n, TimeLimit: time.Hour, State: model.JobPending, SubmitTime: now}}
}

// samePod: generated host names do not say their pod, but their numbers
// do: 32 single-HCA hosts per pod (8 leaves of 4).
func samePod(hosts []string) bool {
	pod := -1
	for _, h := range hosts {
		var n int
		for _, c := range strings.TrimPrefix(h, "node") {
			n = n*10 + int(c-'0')
		}
		if p := (n - 1) / 32; pod < 0 {
			pod = p
		} else if p != pod {
			return false
		}
	}
	return true
}
