package topotree

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/ibnet"
	"github.com/ibex-hpc/ibex/fabric/route"
	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/scheduler"
)

// TestSchedulerCablesRouteOnThreeLevels joins the scheduler to routing on
// generated three-level fabrics (imported dumps): isolated jobs placed by
// the scheduler (several per pass, sharing no cable) have their cables
// found on the routing model of the same dump by switch GUID
// (SwitchGUIDs), and the tables computed for them keep every job's flows
// on its cables, keep every route minimum-hop, and violate nothing
// whenever Compute reports no conflict.
func TestSchedulerCablesRouteOnThreeLevels(t *testing.T) {
	started, traced := 0, 0
	for seed := uint64(0); seed < 12; seed++ {
		rng := rand.New(rand.NewPCG(seed, 3))
		cfg := ibnet.FatTreeConfig{Pods: 2 + rng.IntN(2), LeavesPerPod: 3 + rng.IntN(3), SpinesPerPod: 4, Cores: 4 * (1 + rng.IntN(2)), HostsPerLeaf: 2 + rng.IntN(3)}
		var buf bytes.Buffer
		if err := ibnet.GenerateFatTree(&buf, cfg); err != nil {
			t.Fatal(err)
		}
		nf, err := ibnet.Parse(&buf)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := FromFabric(nf, nil)
		if err != nil {
			t.Fatal(err)
		}
		snap := snapshotAllFree(tr)
		var jobs []*model.Job
		for i := 0; i < 8; i++ {
			jobs = append(jobs, &model.Job{ID: uint64(i + 1), Tenant: "t", NumNodes: 2 + rng.IntN(2*cfg.HostsPerLeaf), TimeLimit: time.Hour,
				State: model.JobPending, SubmitTime: now, Isolation: scheduler.IsolationLinks})
		}
		snap.Pending = jobs
		plan := scheduler.Schedule(snap, scheduler.EASYPolicy(), now)
		rf, err := route.FromIBNet(nf)
		if err != nil {
			t.Fatal(err)
		}
		guids := SwitchGUIDs(nf)
		guidOf := func(n string) (uint64, bool) { g, ok := guids[n]; return g, ok }
		var rjobs []route.Job
		for _, a := range plan.Start {
			if len(a.Links) == 0 {
				continue
			}
			started++
			j := route.Job{ID: fmt.Sprint(a.JobID)}
			for _, n := range a.Nodes {
				for _, hca := range nf.Host(n).HCAs {
					j.Ports = append(j.Ports, hca.CA.Ports[hca.Port].GUID)
				}
			}
			for _, l := range a.Links {
				c, err := rf.ResolveLinkBy(l, guidOf)
				if err != nil {
					t.Fatalf("seed %d: %v", seed, err)
				}
				j.Cables = append(j.Cables, c)
			}
			rjobs = append(rjobs, j)
		}
		tb, conflicts, err := route.Compute(rf, rjobs)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		v := route.Check(rf, rjobs, tb)
		for _, x := range v {
			if strings.Contains(x.Problem, "traffic inside isolated job") || strings.Contains(x.Problem, "no route") || strings.Contains(x.Problem, "loop") {
				t.Fatalf("seed %d: %v", seed, x)
			}
		}
		if len(conflicts) == 0 && len(v) > 0 {
			t.Fatalf("seed %d: no conflict reported but %v", seed, v[0])
		}
		for _, s := range rf.Switches {
			if s.Level != 1 {
				continue
			}
			for _, e := range rf.Ends {
				if e.Switch == s {
					continue
				}
				want := 2
				if tr.PodsSpanned([]string{hostOf(nf, e), hostOf(nf, leafHost(rf, nf, s))}) > 1 {
					want = 4
				}
				traced++
				if p := route.Trace(rf, tb, s, e); len(p.Cables) != want {
					t.Fatalf("seed %d: %s -> %s: %d cables, want %d", seed, s.Name, e.Name, len(p.Cables), want)
				}
			}
		}
	}
	if started < 30 || traced < 1000 {
		t.Errorf("only %d isolated jobs with cables started, %d routes traced: the test no longer exercises routing", started, traced)
	}
	t.Logf("%d isolated jobs holding cables routed; %d leaf-to-port routes traced", started, traced)
}

// hostOf is the host whose HCA port e is.
func hostOf(nf *ibnet.Fabric, e *route.End) string {
	for _, h := range nf.Hosts() {
		for _, hca := range h.HCAs {
			if hca.CA.Ports[hca.Port].GUID == e.GUID {
				return h.Name
			}
		}
	}
	return ""
}

// leafHost is some end port on leaf s.
func leafHost(rf *route.Fabric, _ *ibnet.Fabric, s *route.Switch) *route.End {
	for _, e := range rf.Ends {
		if e.Switch == s {
			return e
		}
	}
	return nil
}
