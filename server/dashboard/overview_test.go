package dashboard

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

func decode(t *testing.T, body []byte) *Overview {
	t.Helper()
	var ov Overview
	if err := json.Unmarshal(body, &ov); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return &ov
}

func TestSmallClusterListsEveryNode(t *testing.T) {
	src := newFake(topology.DefaultFatTree, admin)
	src.update(func(st *fsm.State) { run(st, submit(st, "admin", "hello", 4), nodeNames(1, 4)...) })
	w := get(t, newHandler(src, Options{Switches: func() Switches { return Switches{Spines: topology.DefaultFatTree.SpineNames()} }}), "/api/v1/overview", "tok-admin")
	ov := decode(t, w.Body.Bytes())
	if ov.Aggregated || len(ov.Nodes) != 32 || len(ov.Fabric.Leaves) != 4 || len(ov.Fabric.Spines) != 2 {
		t.Fatalf("aggregated=%v nodes=%d leaves=%d spines=%v", ov.Aggregated, len(ov.Nodes), len(ov.Fabric.Leaves), ov.Fabric.Spines)
	}
	if ov.Counts.Nodes["allocated"] != 4 || ov.Counts.Nodes["ready"] != 28 || ov.Counts.Jobs["running"] != 1 {
		t.Errorf("counts %+v", ov.Counts)
	}
	if l := ov.Fabric.Leaves[0]; !l.Expanded || l.Nodes != 8 || l.States["allocated"] != 4 || l.Tenants["admin"] != 4 {
		t.Errorf("leaf01 %+v", l)
	}
	// No link health yet: an empty list, never null, so clients can iterate.
	if !strings.Contains(w.Body.String(), `"links":[]`) {
		t.Errorf("links not an empty list: %s", w.Body)
	}
}

// At 4,000 nodes the overview must stay small enough to re-read a few
// times a second: leaves are summarised, job lists capped, and only the
// leaves the operator opened are listed node by node.
func TestLargeClusterOverviewIsAggregatedAndSmall(t *testing.T) {
	tree := topology.FatTree{Spines: 8, Leaves: 125, NodesPerLeaf: 32}
	src := newFake(tree, admin, alice)
	hosts := tree.Hosts()
	src.update(func(st *fsm.State) {
		// 1,000 three-node jobs fill 3,000 nodes; 500 more wait.
		for i := 0; i < 1000; i++ {
			owner := "admin"
			if i%2 == 1 {
				owner = "alice"
			}
			id := submit(st, owner, fmt.Sprintf("sweep-%04d", i), 3)
			run(st, id, hosts[3*i].Name, hosts[3*i+1].Name, hosts[3*i+2].Name)
		}
		for i := 0; i < 500; i++ {
			submit(st, "alice", fmt.Sprintf("waiting-%04d", i), 64)
		}
	})
	h := newHandler(src, Options{Switches: func() Switches { return Switches{Spines: tree.SpineNames()} }})

	const bound = 40 << 10 // bytes
	for _, tok := range []string{"tok-admin", "tok-alice"} {
		w := get(t, h, "/api/v1/overview", tok)
		ov := decode(t, w.Body.Bytes())
		t.Logf("%s: 4000-node overview is %d bytes", tok, w.Body.Len())
		if w.Body.Len() > bound {
			t.Errorf("%s: overview is %d bytes, want at most %d", tok, w.Body.Len(), bound)
		}
		if !ov.Aggregated || len(ov.Nodes) != 0 || len(ov.Fabric.Leaves) != 125 {
			t.Fatalf("aggregated=%v nodes=%d leaves=%d", ov.Aggregated, len(ov.Nodes), len(ov.Fabric.Leaves))
		}
		total := 0
		for _, l := range ov.Fabric.Leaves {
			total += l.Nodes
		}
		if total != 4000 || ov.Counts.Nodes["allocated"] != 3000 || ov.Counts.Nodes["ready"] != 1000 {
			t.Errorf("total %d, counts %v", total, ov.Counts.Nodes)
		}
		if ov.Running.Total != 1000 || len(ov.Running.Jobs) != 50 || ov.Queue.Total != 500 || len(ov.Queue.Jobs) != 50 {
			t.Errorf("running %d/%d, queue %d/%d", len(ov.Running.Jobs), ov.Running.Total, len(ov.Queue.Jobs), ov.Queue.Total)
		}
	}

	w := get(t, h, "/api/v1/overview?expand=leaf007,leaf100,nosuchleaf", "tok-admin")
	ov := decode(t, w.Body.Bytes())
	if w.Body.Len() > bound+8<<10 {
		t.Errorf("overview with two leaves open is %d bytes", w.Body.Len())
	}
	leaves := map[string]int{}
	for _, n := range ov.Nodes {
		leaves[n.Leaf]++
	}
	if len(ov.Nodes) != 64 || leaves["leaf007"] != 32 || leaves["leaf100"] != 32 {
		t.Errorf("expanded nodes by leaf: %v", leaves)
	}
	for _, l := range ov.Fabric.Leaves {
		if l.Expanded != (l.Name == "leaf007" || l.Name == "leaf100") {
			t.Errorf("%s expanded=%v", l.Name, l.Expanded)
		}
	}
}

func TestLinksAreReportedWhenMonitored(t *testing.T) {
	src := newFake(topology.DefaultFatTree, admin)
	links := []Link{{From: "spine01", To: "leaf03", Health: "down", Detail: "port 7: no carrier"}, {From: "leaf01", To: "node002", Health: "degraded"}}
	h := newHandler(src, Options{Links: func() []Link { return links }})
	ov := decode(t, get(t, h, "/api/v1/overview", "tok-admin").Body.Bytes())
	if len(ov.Fabric.Links) != 2 || ov.Fabric.Links[0] != links[0] || ov.Fabric.Links[1] != links[1] {
		t.Fatalf("links %+v", ov.Fabric.Links)
	}
}

// An imported fabric need not be a full fat tree: a leaf lists its spines
// when it is not cabled to all of them.
func TestLeafUplinksOnlyWhenPartial(t *testing.T) {
	src := newFake(topology.DefaultFatTree, admin)
	sw := Switches{Spines: []string{"spine01", "spine02"}, Uplinks: map[string][]string{"leaf01": {"spine02"}}}
	w := get(t, newHandler(src, Options{Switches: func() Switches { return sw }}), "/api/v1/overview", "tok-admin")
	ov := decode(t, w.Body.Bytes())
	if got := ov.Fabric.Leaves[0].Uplinks; len(got) != 1 || got[0] != "spine02" {
		t.Errorf("leaf01 uplinks %v", got)
	}
	if strings.Count(w.Body.String(), `"uplinks"`) != 1 {
		t.Errorf("uplinks listed for fully cabled leaves: %s", w.Body)
	}
}
