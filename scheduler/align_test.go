package scheduler

import (
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// TestAlignEnds: two leaves of 4. Leaf01's jobs run for another 300
// minutes with two nodes free; leaf02's end in 30 minutes with one free.
// A 4-hour single-node job goes to leaf01 under AlignEnds (it ends before
// that leaf's jobs do, so leaf02 comes back whole at minute 30), and to
// leaf02 by the tightest fit without it; a 20-minute job extends neither
// leaf and takes the tightest fit either way.
func TestAlignEnds(t *testing.T) {
	tr := mustTree(t, 8, 4, 0)
	for _, c := range []struct {
		align bool
		wall  time.Duration
		leaf  string
	}{{true, 4 * time.Hour, "leaf01"}, {false, 4 * time.Hour, "leaf02"}, {true, 20 * time.Minute, "leaf02"}} {
		nodes := nodesOf(tr)
		r1 := run(nodes, 1, "x", 310*time.Minute, -10, "node001", "node002")
		r2 := run(nodes, 2, "x", 40*time.Minute, -10, "node005", "node006", "node007")
		s := Snapshot{Tree: tr, Nodes: nodes, Running: []*model.Job{r1, r2}, Pending: []*model.Job{job(3, "x", 1, c.wall, 0)}}
		pol := EASYPolicy()
		pol.AlignEnds = c.align
		hs := started(Schedule(s, pol, t0))[3]
		if len(hs) != 1 {
			t.Fatalf("align %v wall %v: started on %v", c.align, c.wall, hs)
		}
		if l, _ := tr.Leaf(hs[0]); tr.LeafName(l) != c.leaf {
			t.Errorf("align %v wall %v: on %v (%s), want %s", c.align, c.wall, hs, tr.LeafName(l), c.leaf)
		}
	}
}
