package topotree

import (
	"bytes"
	"testing"

	"github.com/ibex-hpc/ibex/fabric/ibnet"
	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/scheduler"
)

// The link model comes from the cables: every leaf-to-spine cable of an
// imported fabric is a link (parallel cables count separately), and an
// isolated job stays in one pod of a three-level fabric.
func TestUplinksFromTheFabric(t *testing.T) {
	cfg := ibnet.FatTreeConfig{Pods: 2, LeavesPerPod: 4, SpinesPerPod: 4, Cores: 4, HostsPerLeaf: 4}
	var buf bytes.Buffer
	if err := ibnet.GenerateFatTree(&buf, cfg); err != nil {
		t.Fatal(err)
	}
	f, err := ibnet.Parse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := FromFabric(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	// 8 leaves, each cabled once to the 4 spines of its pod.
	if tr.NumLinks() != 8*4 {
		t.Fatalf("links %d, want 32", tr.NumLinks())
	}
	// 16 hosts per pod, 4 spines per leaf: a whole pod fits isolated
	// (4 per leaf over its 4 spines), two pods never.
	if got := tr.MaxIsolated(); got != 16 {
		t.Fatalf("max isolated %d, want 16 (one pod)", got)
	}
	plan := scheduler.Schedule(withIsolation(snapshotAllFree(tr), pending(1, 16)), scheduler.EASYPolicy(), now)
	if len(plan.Start) != 1 || tr.PodsSpanned(plan.Start[0].Nodes) != 1 || len(plan.Start[0].Links) != 16 {
		t.Fatalf("isolated 16-node job: %+v", plan.Start)
	}

	ft, err := FromFatTree(topology.FatTree{Spines: 2, Leaves: 4, NodesPerLeaf: 8})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ft.LinkID("leaf03>spine02"); !ok || ft.NumLinks() != 8 || ft.MaxIsolated() != 8 {
		t.Fatalf("dev fat tree: %d links, max isolated %d", ft.NumLinks(), ft.MaxIsolated())
	}
}

// withIsolation queues jobs, link-isolated, in s.
func withIsolation(s scheduler.Snapshot, jobs []*model.Job) scheduler.Snapshot {
	for _, j := range jobs {
		j.Isolation = scheduler.IsolationLinks
	}
	s.Pending = jobs
	return s
}
