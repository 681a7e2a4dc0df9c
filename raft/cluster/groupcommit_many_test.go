package cluster

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// A caller's own batch (Jobs.SubmitMany) queues as one unit: it shares
// the entry with the lone commands queued beside it, its commands stay
// together and in its order (consecutive job ids), each with its own
// result (a refused one fails alone), and the caller gets them as
// BatchResults; the lone callers get their own results as before.
func TestGroupCommitCallersBatchIsOneUnit(t *testing.T) {
	c, f := open(t, t.TempDir(), "wal")
	defer c.Shutdown()
	ctx := context.Background()
	if _, err := c.Apply(ctx, &fsm.RegisterNodes{Nodes: []fsm.NodeSpec{{Name: "n1"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Apply(ctx, &fsm.CreateTenant{Tenant: model.Tenant{Name: "alice", TokenHash: "h"}}); err != nil {
		t.Fatal(err)
	}
	var lone []fsm.Command
	for i := range 6 {
		lone = append(lone, submitCmd("alice", fmt.Sprintf("lone%d", i)))
	}
	batch := &fsm.Batch{Commands: []fsm.Command{submitCmd("alice", "b0"), submitCmd("mallory", "b1"), submitCmd("alice", "b2"), submitCmd("alice", "b3")}}
	before := c.raft.LastIndex()
	release := hold(t, c)
	first := applyAll(nil, c, lone[:3])
	waitQueued(t, c, 3)
	mid := applyAll(nil, c, []fsm.Command{batch})
	waitQueued(t, c, 4)
	last := applyAll(nil, c, lone[3:])
	waitQueued(t, c, 7)
	release()
	outs := append(first(), last()...)
	bo := mid()[0]
	if got := c.raft.LastIndex() - before; got != 1 {
		t.Errorf("3 + a batch of 4 + 3 commands took %d raft entries, want 1", got)
	}
	for i, o := range outs {
		if _, ok := o.v.(uint64); o.err != nil || !ok {
			t.Errorf("lone command %d: %v, %v", i, o.v, o.err)
		}
	}
	if bo.err != nil {
		t.Fatal(bo.err)
	}
	br, ok := bo.v.(fsm.BatchResults)
	if !ok || len(br) != 4 {
		t.Fatalf("the batch's caller got %T %v, want 4 BatchResults", bo.v, bo.v)
	}
	if !errors.Is(br[1].Err, fsm.ErrInvalid) && !errors.Is(br[1].Err, fsm.ErrNotFound) {
		t.Errorf("the unknown tenant's submission: %+v", br[1])
	}
	a, b, d := br[0].Value, br[2].Value, br[3].Value
	if br[0].Err != nil || br[2].Err != nil || br[3].Err != nil || b != a.(uint64)+1 || d != a.(uint64)+2 {
		t.Errorf("the batch's accepted submissions: %+v, want consecutive ids in its order", br)
	}
	if n := len(f.View().Jobs); n != 9 {
		t.Errorf("%d jobs, want 9", n)
	}
}

// A batch that cannot travel in a group commit (ExpireRecords is never
// batched) still commits, as its own entry.
func TestGroupCommitUnbatchableBatchGoesAlone(t *testing.T) {
	c, _ := open(t, t.TempDir(), "wal")
	defer c.Shutdown()
	if _, ok := batchEntries(&fsm.Batch{Commands: []fsm.Command{&fsm.ExpireRecords{Limit: 1}}}); ok {
		t.Fatal("a batch holding ExpireRecords was taken for group commit")
	}
	if _, ok := batchEntries(&fsm.Batch{}); ok {
		t.Fatal("an empty batch was taken for group commit")
	}
	if _, err := c.Apply(context.Background(), &fsm.Batch{Commands: []fsm.Command{&fsm.CreateTenant{Tenant: model.Tenant{Name: "bob", TokenHash: "b"}}}}); err != nil {
		t.Fatal(err)
	}
}
