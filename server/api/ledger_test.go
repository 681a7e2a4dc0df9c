package api

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ibex-hpc/ibex/client"
	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// fromPB is what a reader verifies: the CLI's conversion.
func fromPB(es []*pb.LedgerEntry) []model.LedgerEntry { return client.LedgerFromPB(es) }

// TestCustodyChain: admin overrides are ledger entries naming the admin;
// the chain verifies through the API; the tenant holding a node reads its
// history since the previous tenancy, with the previous tenant redacted,
// and it still verifies; anyone else is refused.
func TestCustodyChain(t *testing.T) {
	h := newAPIHarness(t, topology.FatTree{Spines: 1, Leaves: 1, NodesPerLeaf: 2})
	ctx := context.Background()
	node := "node001"
	if _, err := h.nodes.Drain(h.adminCtx(), &pb.DrainRequest{Node: node, Reason: "reseat DIMM"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.nodes.Undrain(h.adminCtx(), &pb.UndrainRequest{Node: node}); err != nil {
		t.Fatal(err)
	}
	apply := func(cmd fsm.Command) any {
		v, err := h.store.Apply(ctx, cmd)
		if err != nil {
			t.Fatalf("%T: %v", cmd, err)
		}
		return v
	}
	// Bob's tenancy ends and the node is cleaned; then alice gets it.
	now := h.store.Now()
	bobJob := apply(&fsm.SubmitJob{Job: model.Job{Tenant: "bob", NumNodes: 1, TimeLimit: time.Hour, Argv: []string{"true"}}, Time: now}).(uint64)
	apply(&fsm.Allocate{JobID: bobJob, Nodes: []string{node}, Time: now})
	apply(&fsm.CancelJob{JobID: bobJob, By: "bob", Time: now})
	apply(&fsm.NodeCleaned{Node: node, JobID: bobJob, Evidence: "no process left", Time: now})
	aliceJob := apply(&fsm.SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Hour, Argv: []string{"true"}}, Time: now}).(uint64)
	apply(&fsm.Allocate{JobID: aliceJob, Nodes: []string{node}, Time: now})

	d, err := h.fleet.NodeDetail(h.adminCtx(), &pb.NodeDetailRequest{Node: node})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Ledger) != 3 || d.Ledger[0].Step != "drain" || d.Ledger[0].Actor != "root" || d.Ledger[1].Step != "undrain" || d.Ledger[1].Actor != "root" {
		t.Fatalf("admin view: %v", d.Ledger)
	}
	if d.Ledger[2].Tenant != "bob" {
		t.Fatalf("cleaning after bob's job names tenant %q", d.Ledger[2].Tenant)
	}
	if n, err := model.VerifyChain(fromPB(d.Ledger)); err != nil || n != 3 {
		t.Fatalf("admin chain: %d, %v", n, err)
	}

	v, err := h.fleet.NodeDetail(h.ctx(), &pb.NodeDetailRequest{Node: node})
	if err != nil {
		t.Fatalf("alice, holding %s: %v", node, err)
	}
	if len(v.Ledger) != 1 || v.Ledger[0].Step != "cleaned" || v.Ledger[0].Tenant != model.RedactedTenant {
		t.Fatalf("alice's view: %v", v.Ledger)
	}
	if n, err := model.VerifyChain(fromPB(v.Ledger)); err != nil || n != 1 {
		t.Fatalf("alice's chain: %d, %v", n, err)
	}
	if _, err := h.fleet.NodeDetail(h.ctx(), &pb.NodeDetailRequest{Node: "node002"}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("alice reading a node she does not hold: %v", err)
	}
	// A tampered entry fails verification.
	d.Ledger[1].Evidence = "nothing happened"
	if _, err := model.VerifyChain(fromPB(d.Ledger)); err == nil {
		t.Fatal("tampered entry verified")
	}
}

// TestCustodySpansAndActors: through the API every entry carries its
// start and end (the tenant's view too), the server that committed the
// cleaning and the admin who labelled the node are named, and a moved
// start or end breaks the chain as the reader verifies it.
func TestCustodySpansAndActors(t *testing.T) {
	h := newAPIHarness(t, topology.FatTree{Spines: 1, Leaves: 1, NodesPerLeaf: 2})
	ctx := context.Background()
	node := "node001"
	if _, err := h.nodes.Label(h.adminCtx(), &pb.LabelRequest{Node: node, Features: []string{"gpu"}}); err != nil {
		t.Fatal(err)
	}
	now := h.store.Now()
	apply := func(cmd fsm.Command) any {
		v, err := h.store.Apply(ctx, cmd)
		if err != nil {
			t.Fatalf("%T: %v", cmd, err)
		}
		return v
	}
	bobJob := apply(&fsm.SubmitJob{Job: model.Job{Tenant: "bob", NumNodes: 1, TimeLimit: time.Hour, Argv: []string{"true"}}, Time: now}).(uint64)
	apply(&fsm.Allocate{JobID: bobJob, Nodes: []string{node}, Time: now})
	apply(&fsm.CancelJob{JobID: bobJob, By: "bob", Time: now})
	h.store.Advance(90 * time.Second)
	apply(&fsm.NodeCleaned{Node: node, JobID: bobJob, Evidence: "no process left", Time: h.store.Now()})
	aliceJob := apply(&fsm.SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Hour, Argv: []string{"true"}}, Time: now}).(uint64)
	apply(&fsm.Allocate{JobID: aliceJob, Nodes: []string{node}, Time: h.store.Now()})

	d, err := h.fleet.NodeDetail(h.adminCtx(), &pb.NodeDetailRequest{Node: node})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Ledger) != 2 {
		t.Fatalf("admin view: %v", d.Ledger)
	}
	label, cleaned := d.Ledger[0], d.Ledger[1]
	if label.Step != "label" || label.Actor != "root" || label.Start == nil || !label.Start.AsTime().Equal(now) {
		t.Fatalf("label entry: %v", label)
	}
	if cleaned.Step != "cleaned" || cleaned.Actor != "server s1" || cleaned.Start == nil || cleaned.End == nil ||
		!cleaned.Start.AsTime().Equal(now) || cleaned.End.AsTime().Sub(cleaned.Start.AsTime()) != 90*time.Second {
		t.Fatalf("cleaned entry: %v", cleaned)
	}
	if n, err := model.VerifyChain(fromPB(d.Ledger)); err != nil || n != 2 {
		t.Fatalf("admin chain: %d, %v", n, err)
	}
	v, err := h.fleet.NodeDetail(h.ctx(), &pb.NodeDetailRequest{Node: node})
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Ledger) != 1 || v.Ledger[0].Tenant != model.RedactedTenant || v.Ledger[0].Start == nil || v.Ledger[0].End == nil {
		t.Fatalf("alice's view: %v", v.Ledger)
	}
	if n, err := model.VerifyChain(fromPB(v.Ledger)); err != nil || n != 1 {
		t.Fatalf("alice's chain: %d, %v", n, err)
	}
	d.Ledger[1].Start = timestamppb.New(now.Add(-time.Hour))
	if _, err := model.VerifyChain(fromPB(d.Ledger)); err == nil {
		t.Fatal("a moved start verified")
	}
	d.Ledger[1].Start = nil
	if _, err := model.VerifyChain(fromPB(d.Ledger)); err == nil {
		t.Fatal("a removed start verified")
	}
}
