package scheduler

import (
	"slices"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// TestImageAffinityIsATieBreakOnly: a job asking for an image goes to
// the hosts that carry it when topology does not care (equal leaves, a
// free host in the same leaf, equally free leaves of a spread), and never
// at topology's expense (the tightest fit still wins).
func TestImageAffinityIsATieBreakOnly(t *testing.T) {
	const img = "alma:8"
	job := func(n int, image string) *model.Job {
		return &model.Job{ID: 1, Tenant: "alice", NumNodes: n, TimeLimit: time.Hour, SubmitTime: t0}
	}
	for _, tc := range []struct {
		name            string
		leaves, perLeaf int
		busy, carry     []int // node indexes (0-based)
		n               int
		want            []string
	}{
		// Two empty leaves: the tightest fit ties; the leaf of the carrier wins, and the carrier in it.
		{"equal leaves", 2, 4, nil, []int{5}, 1, []string{"node006"}},
		// One leaf: its carrier is taken first.
		{"same leaf", 1, 4, nil, []int{2}, 2, []string{"node001", "node003"}},
		// leaf01 has exactly 2 free: the tightest fit beats the carrier on leaf02.
		{"topology first", 2, 4, []int{2, 3}, []int{4, 5}, 2, []string{"node001", "node002"}},
		// Four nodes over three leaves of two: two leaves either way; the carriers' leaf is one of them.
		{"spread", 3, 2, nil, []int{4, 5}, 4, []string{"node001", "node002", "node005", "node006"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, image := range []string{img, ""} {
				nodes := cluster(tc.leaves, tc.perLeaf)
				for _, i := range tc.busy {
					nodes[i].State = model.NodeAllocated
				}
				for _, i := range tc.carry {
					nodes[i].Image = img
				}
				s := Snapshot{Pending: []*model.Job{job(tc.n, image)}, Nodes: nodes}
				if image != "" {
					s.Options = map[uint64]JobOptions{1: {Image: image}}
				}
				plan := Schedule(s, IbexPolicy(), t0)
				if len(plan.Start) != 1 {
					t.Fatalf("image %q: plan %+v", image, plan)
				}
				got := plan.Start[0].Nodes
				if image != "" && !slices.Equal(got, tc.want) {
					t.Errorf("with the image: %v, want %v", got, tc.want)
				}
				if image == "" && tc.name != "topology first" && slices.Equal(got, tc.want) {
					t.Errorf("without the image the plan is the same %v: the case tests nothing", got)
				}
			}
		})
	}
}
