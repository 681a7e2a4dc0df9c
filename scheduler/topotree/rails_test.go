package topotree

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/ibnet"
	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/scheduler"
)

// superPOD is a DGX SuperPOD-style dump: 2 pods of 2 scalable units of 16
// GPU hosts with 4 rails each; every rail of a pod has its own 2 spines,
// and rails meet only at the 2 cores.
func superPOD(t *testing.T) *scheduler.Tree {
	t.Helper()
	cfg := ibnet.FatTreeConfig{Pods: 2, LeavesPerPod: 8, SpinesPerPod: 2, Cores: 2, RailHostsPerPod: 32, Rails: 4,
		SUsPerPod: 2, RailSpines: true, SwitchPorts: 40}
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
	return tr
}

// TestRailGroupsKeepTheirPod: on a rail-optimised fabric every switch level
// is kept: each SU is a rail group of 4 leaves (one per rail), the two SUs
// of a pod share the pod its rails' spines serve, and the cores join the
// pods. (Attached where their leaves' switches meet, at the cores, the
// rail groups would all have been one pod.)
func TestRailGroupsKeepTheirPod(t *testing.T) {
	tr := superPOD(t)
	if tr.NumHosts() != 64 || tr.NumLeaves() != 4 || tr.Levels() != 3 {
		t.Fatalf("hosts %d, leaf groups %d, levels %d; want 64, 4, 3", tr.NumHosts(), tr.NumLeaves(), tr.Levels())
	}
	if got := fmt.Sprint(tr.PodSizes()); got != "[32 32]" {
		t.Fatalf("pod sizes %s, want [32 32]", got)
	}
	for i := range tr.NumLeaves() {
		if tr.Rails(i) != 4 || tr.LeafSize(i) != 16 {
			t.Fatalf("group %s: %d rails, %d hosts", tr.LeafName(i), tr.Rails(i), tr.LeafSize(i))
		}
	}
	g1, _ := tr.Leaf("gpu0001")
	g2, _ := tr.Leaf("gpu0017") // SU 2 of pod 1
	g3, _ := tr.Leaf("gpu0033") // SU 1 of pod 2
	if tr.PodOf(g1) != tr.PodOf(g2) || tr.PodOf(g1) == tr.PodOf(g3) {
		t.Fatalf("pods: gpu0001 %d, gpu0017 %d, gpu0033 %d", tr.PodOf(g1), tr.PodOf(g2), tr.PodOf(g3))
	}
}

// TestRailPodFilledFirst: with 4 GPU hosts of pod 1 busy, -N 32 has room
// only in pod 2 and must stay there; both pods hold two whole SUs' worth of
// leaf groups, so crossing pods would cost no extra leaf, only the cores.
// -N 40 cannot fit one pod and spans both.
func TestRailPodFilledFirst(t *testing.T) {
	tr := superPOD(t)
	s := snapshotAllFree(tr)
	for _, n := range s.Nodes {
		if n.Name <= "gpu0004" {
			n.State, n.JobID = model.NodeAllocated, 99
		}
	}
	s.Running = []*model.Job{{ID: 99, Tenant: "t", NumNodes: 4, TimeLimit: 24 * time.Hour, State: model.JobRunning, StartTime: now}}
	for _, c := range []struct{ n, pods int }{{32, 1}, {16, 1}, {40, 2}} {
		s.Pending = pending(1, c.n)
		p := scheduler.Schedule(s, scheduler.IbexPolicy(), now)
		if len(p.Start) != 1 {
			t.Fatalf("-N %d did not start: %+v", c.n, p.Reasons)
		}
		hs := p.Start[0].Nodes
		if got := tr.PodsSpanned(hs); got != c.pods {
			t.Fatalf("-N %d on %d pods (%s...), want %d", c.n, got, strings.Join(hs[:4], ","), c.pods)
		}
		if c.pods == 1 && c.n == 32 && hs[0] < "gpu0033" {
			t.Fatalf("-N 32 in pod 1 (%v), which has 28 free", hs[0])
		}
	}
}
