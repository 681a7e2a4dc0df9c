package fsm

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// TestImportReplacesNodeSet: a simulated cluster of node001-004 imports a
// fabric with node003-006, node006 classified infrastructure. node001 is
// drained with the reason, node002 (busy) too and finishes its job first,
// node005 and node006 are added, and the cluster size a job may ask for
// is 3 (node003-005): the gone nodes and the unlabelled infrastructure
// node do not count. A later import that has node001 again returns it.
func TestImportReplacesNodeSet(t *testing.T) {
	f := harness(t, 4)
	id := submit(t, f, "alice", 1)
	must(t, f.Apply(&Allocate{JobID: id, Nodes: []string{"node002"}, Time: t0}))
	hosts := []NodeSpec{{Name: "node003", Leaf: "l1"}, {Name: "node004", Leaf: "l1"}, {Name: "node005", Leaf: "l2"}, {Name: "node006", Leaf: "l2"}}
	infra := []InfraHost{{Name: "node006", Why: "1 HCA port on the fabric, compute nodes have 8"}}
	changes := f.View().ImportChanges(hosts, infra)
	for k, want := range map[string][]string{"added": {"node005", "node006"}, "drained": {"node001"}, "draining": {"node002"}, "infrastructure": {"node006"}} {
		if !slices.Equal(changes[k], want) {
			t.Errorf("dry run %s = %v, want %v", k, changes[k], want)
		}
	}
	must(t, f.Apply(&ImportTopology{Text: "dump", Hosts: hosts, Infra: infra, Replace: true, Time: t0}))
	s := f.View()
	for name, want := range map[string]string{"node001": "drained", "node002": "draining", "node003": "ready", "node005": "ready", "node006": "infra"} {
		if got := s.Nodes[name].DisplayState(); got != want {
			t.Errorf("%s is %s, want %s", name, got, want)
		}
	}
	if n := s.Nodes["node001"]; n.DrainBy != importActor || !strings.Contains(n.DrainNote, "not in the fabric imported") {
		t.Fatalf("node001 drained by %q: %q", n.DrainBy, n.DrainNote)
	}
	if s.ClusterSize() != 3 {
		t.Fatalf("cluster size %d, want 3", s.ClusterSize())
	}
	if r := f.Apply(&SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 4, TimeLimit: time.Minute, Argv: []string{"true"}}, Time: t0}); !errors.Is(r.Err, ErrInvalid) || !strings.Contains(r.Err.Error(), "cluster has 3") {
		t.Fatalf("4 nodes on a 3-node cluster: %v", r.Err)
	}
	// The infrastructure node: never for a job without features.
	j := submit(t, f, "alice", 1)
	if r := f.Apply(&Allocate{JobID: j, Nodes: []string{"node006"}, Time: t0}); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("infrastructure node allocated: %v", r.Err)
	}
	// Labelled, it counts, and goes to jobs that ask for its labels only.
	must(t, f.Apply(&LabelNode{Node: "node006", Features: []string{"login"}}))
	if size := f.View().ClusterSize(); size != 4 {
		t.Fatalf("cluster size with node006 labelled: %d", size)
	}
	if r := f.Apply(&Allocate{JobID: j, Nodes: []string{"node006"}, Time: t0}); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("labelled infrastructure node given to a job without features: %v", r.Err)
	}
	lj := must(t, f.Apply(&SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Minute, Argv: []string{"true"}, Features: []string{"login"}}, Time: t0})).(uint64)
	must(t, f.Apply(&Allocate{JobID: lj, Nodes: []string{"node006"}, Time: t0}))
	// An admin drain is the admin's: a later import does not undo it.
	must(t, f.Apply(&DrainNode{Node: "node003", Reason: "bad DIMM", By: "root", Time: t0}))
	must(t, f.Apply(&ImportTopology{Text: "dump2", Hosts: append(hosts, NodeSpec{Name: "node001", Leaf: "l1"}), Replace: true, Time: t0.Add(time.Hour)}))
	s = f.View()
	if n := s.Nodes["node001"]; n.Drained {
		t.Fatalf("node001 back in the fabric but still drained: %q", n.DrainNote)
	}
	if n := s.Nodes["node003"]; !n.Drained || n.DrainNote != "bad DIMM" {
		t.Fatalf("node003's admin drain lost: %+v", n)
	}
	if n := s.Nodes["node006"]; n.Infra != "" {
		t.Fatalf("node006 still infrastructure after an import that says compute: %q", n.Infra)
	}
}

// TestImportWithoutReplaceKeepsNodes: without Replace (an import from an
// older server) nothing is drained.
func TestImportWithoutReplaceKeepsNodes(t *testing.T) {
	f := harness(t, 2)
	must(t, f.Apply(&ImportTopology{Text: "dump", Hosts: []NodeSpec{{Name: "node002", Leaf: "l1"}}, Time: t0}))
	if n := node(f, "node001"); n.Drained {
		t.Fatalf("node001 drained by an import that does not replace: %q", n.DrainNote)
	}
}

// TestRealNodeOnInfraHost: a real machine placed on a host the import
// classified as infrastructure is infrastructure too.
func TestRealNodeOnInfraHost(t *testing.T) {
	f := realFSM(t)
	must(t, f.Apply(&ImportTopology{Text: "dump", Places: twoLeaves, Infra: []InfraHost{{Name: "hostB", Why: "name matches --infra"}}, Time: t0}))
	enrollReal(t, f, "login1", 0xb1)
	enrollReal(t, f, "cn1", 0xc1)
	if n := node(f, "login1"); n.Infra != "name matches --infra" || n.Placement.Host != "hostB" {
		t.Fatalf("login1: infra %q on %q", n.Infra, n.Placement.Host)
	}
	if n := node(f, "cn1"); n.Infra != "" {
		t.Fatalf("cn1 infra %q", n.Infra)
	}
}

// TestClusterHasAgreesWithClusterSize: the early-stopping count a
// submission asks for says yes exactly up to ClusterSize, with gone and
// unlabelled infrastructure nodes left out, and a refusal still names the
// full size.
func TestClusterHasAgreesWithClusterSize(t *testing.T) {
	f := harness(t, 6)
	hosts := []NodeSpec{{Name: "node002", Leaf: "l1"}, {Name: "node003", Leaf: "l1"}, {Name: "node004", Leaf: "l1"}, {Name: "node005", Leaf: "l2"}}
	infra := []InfraHost{{Name: "node005", Why: "login host"}}
	must(t, f.Apply(&ImportTopology{Text: "dump", Hosts: hosts, Infra: infra, Replace: true, Time: t0}))
	s := f.View()
	size := s.ClusterSize()
	if size != 3 {
		t.Fatalf("cluster size %d, want 3 (node002-004)", size)
	}
	for want := 0; want <= len(s.Nodes)+1; want++ {
		if got := s.clusterHas(want); got != (want <= size) {
			t.Errorf("clusterHas(%d) = %v with a cluster size of %d", want, got, size)
		}
	}
	r := f.Apply(&SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 4, TimeLimit: time.Minute, Argv: []string{"true"}}, Time: t0})
	if !errors.Is(r.Err, ErrInvalid) || !strings.Contains(r.Err.Error(), "4 nodes requested but the cluster has 3") {
		t.Fatalf("4 nodes on a 3-node cluster: %v", r.Err)
	}
}

// TestFeatureCountRefusal: a job asking for more labelled nodes than exist
// is refused with the full count, one asking for exactly as many passes.
func TestFeatureCountRefusal(t *testing.T) {
	f := harness(t, 4)
	for _, n := range []string{"node001", "node003"} {
		must(t, f.Apply(&LabelNode{Node: n, Features: []string{"bigmem"}}))
	}
	job := model.Job{Tenant: "alice", NumNodes: 3, TimeLimit: time.Minute, Argv: []string{"true"}, Features: []string{"bigmem"}}
	r := f.Apply(&SubmitJob{Job: job, Time: t0})
	if !errors.Is(r.Err, ErrInvalid) || !strings.Contains(r.Err.Error(), "the cluster has 2") {
		t.Fatalf("3 bigmem nodes of 2: %v", r.Err)
	}
	job.NumNodes = 2
	must(t, f.Apply(&SubmitJob{Job: job, Time: t0}))
}
