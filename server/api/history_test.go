package api

import (
	"cmp"
	"context"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// listArchive is an archive of jobs held in a slice, in (end, id) order.
type listArchive struct{ jobs []*model.Job }

func (a *listArchive) Job(context.Context, uint64, error) (*pb.Job, error) { return nil, nil }
func (a *listArchive) Ledger(string) []*pb.LedgerEntry                     { return nil }
func (a *listArchive) Warning() string                                     { return "" }
func (a *listArchive) Jobs(from, to, afterEnd time.Time, afterID uint64, limit int) ([]*model.Job, time.Time, uint64, error) {
	var out []*model.Job
	for _, j := range a.jobs {
		if (!from.IsZero() && j.EndTime.Before(from)) || (!to.IsZero() && !j.EndTime.Before(to)) {
			continue
		}
		if afterID != 0 && cmp.Or(j.EndTime.Compare(afterEnd), cmp.Compare(j.ID, afterID)) <= 0 {
			continue
		}
		if len(out) == limit {
			last := out[len(out)-1]
			return out, last.EndTime, last.ID, nil
		}
		out = append(out, j)
	}
	return out, time.Time{}, 0, nil
}

// TestHistoryMergesStateAndArchive: finished jobs come from the live state
// and the archive, merged in end-time order across pages; a tenant sees
// only its own; usage sums node-hours per tenant.
func TestHistoryMergesStateAndArchive(t *testing.T) {
	h := newAPIHarness(t, topology.FatTree{Spines: 1, Leaves: 1, NodesPerLeaf: 4})
	t0 := h.store.Now()
	arch := &listArchive{}
	for i, tenant := range []string{"alice", "bob", "alice"} { // ids 1001.. ended at t0-3h, -2h, -1h
		end := t0.Add(time.Duration(i-3) * time.Hour)
		arch.jobs = append(arch.jobs, &model.Job{ID: uint64(1001 + i), Tenant: tenant, NumNodes: 2, Nodes: []string{"node001", "node002"},
			State: model.JobCompleted, StartTime: end.Add(-30 * time.Minute), EndTime: end})
	}
	h.api.cfg.Archive = arch
	ctx := context.Background()
	for i, tenant := range []string{"bob", "alice"} { // live, ended at t0+1m, t0+2m
		id := h.apply(t, &fsm.SubmitJob{Job: model.Job{Tenant: tenant, NumNodes: 1, TimeLimit: time.Hour, Argv: []string{"true"}}, Time: t0}).(uint64)
		h.apply(t, &fsm.Allocate{JobID: id, Nodes: []string{"node00" + string(rune('3'+i))}, Time: t0})
		h.apply(t, &fsm.StartJob{JobID: id, Time: t0})
		zero := 0
		h.apply(t, &fsm.FinishJob{JobID: id, State: model.JobCompleted, ExitCode: &zero, Time: t0.Add(time.Duration(i+1) * time.Minute)})
	}
	_ = ctx
	var ids []uint64
	req := &pb.HistoryRequest{PageSize: 2, Since: timestamppb.New(t0.Add(-24 * time.Hour))}
	for pages := 0; ; pages++ {
		resp, err := h.jobs.History(h.adminCtx(), req)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range resp.Jobs {
			ids = append(ids, j.Id)
		}
		if resp.NextCursor == "" {
			break
		}
		if pages > 5 {
			t.Fatal("history does not end")
		}
		req.Cursor = resp.NextCursor
	}
	if want := []uint64{1001, 1002, 1003, 1, 2}; !slices.Equal(ids, want) {
		t.Fatalf("admin history %v, want %v (end-time order across state and archive)", ids, want)
	}
	resp, err := h.jobs.History(h.ctx(), &pb.HistoryRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range resp.Jobs {
		if j.Tenant != "alice" {
			t.Fatalf("alice sees %s's job %d", j.Tenant, j.Id)
		}
	}
	if len(resp.Jobs) != 3 {
		t.Fatalf("alice sees %d jobs, want 3", len(resp.Jobs))
	}
	if _, err := h.jobs.History(h.ctx(), &pb.HistoryRequest{Tenant: "bob"}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("alice asking for bob's history: %v", err)
	}
	if _, err := h.jobs.History(h.ctx(), &pb.HistoryRequest{Cursor: "garbage"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad cursor: %v", err)
	}
	u, err := h.jobs.Usage(h.adminCtx(), &pb.UsageRequest{})
	if err != nil || len(u.Tenants) != 2 {
		t.Fatalf("usage: %v, %v", u, err)
	}
	if a := u.Tenants[0]; a.Tenant != "alice" || a.Jobs != 3 || a.Completed != 3 || a.NodeHours < 2-1e-9 || a.NodeHours > 2+2.0/60+1e-9 {
		t.Fatalf("alice's usage %+v: want 3 jobs, 2 archived × 2 nodes × 0.5 h + 2 min", a)
	}
}
