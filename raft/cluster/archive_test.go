package cluster

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/archive"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

var t0 = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)

// runJobs runs n one-node jobs to the end on node n1, the i-th ending at
// start+i minutes, through raft.
func runJobs(t *testing.T, c *Cluster, start time.Time, n int) []uint64 {
	t.Helper()
	ctx := context.Background()
	var ids []uint64
	for i := 0; i < n; i++ {
		end := start.Add(time.Duration(i) * time.Minute)
		v, err := c.Apply(ctx, &fsm.SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Hour, Argv: []string{"true"}}, Time: end})
		if err != nil {
			t.Fatal(err)
		}
		id := v.(uint64)
		for _, cmd := range []fsm.Command{
			&fsm.Allocate{JobID: id, Nodes: []string{"n1"}, Time: end},
			&fsm.StartJob{JobID: id, Time: end},
			&fsm.FinishJob{JobID: id, State: model.JobCompleted, Time: end},
			&fsm.NodeCleaned{Node: "n1", JobID: id, Evidence: "ok", Time: end},
		} {
			if _, err := c.Apply(ctx, cmd); err != nil {
				t.Fatal(err)
			}
		}
		ids = append(ids, id)
	}
	return ids
}

// TestExpiryReachesTheArchive: expired records go to the archive through
// raft; after a restart raft re-applies the expiry that followed the last
// snapshot and the archive takes it as the replay it is.
func TestExpiryReachesTheArchive(t *testing.T) {
	dir := t.TempDir()
	openBoth := func() (*Cluster, *fsm.FSM, *archive.Archive) {
		a, err := archive.Open(filepath.Join(dir, "archive"))
		if err != nil {
			t.Fatal(err)
		}
		f := fsm.New()
		c, err := Open(Config{NodeID: "s1", DataDir: filepath.Join(dir, "raft"), Bootstrap: true, SnapshotThreshold: 1 << 20, Archive: a}, f)
		if err != nil {
			t.Fatal(err)
		}
		for !c.IsLeader() {
			time.Sleep(10 * time.Millisecond)
		}
		return c, f, a
	}
	ctx := context.Background()
	c, f, a := openBoth()
	if _, err := c.Apply(ctx, &fsm.RegisterNodes{Nodes: []fsm.NodeSpec{{Name: "n1"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Apply(ctx, &fsm.CreateTenant{Tenant: model.Tenant{Name: "alice", TokenHash: "h"}}); err != nil {
		t.Fatal(err)
	}
	first := runJobs(t, c, t0, 3)
	v, err := c.Apply(ctx, &fsm.ExpireRecords{Before: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if e := v.(*fsm.Expired); e.Seq != 1 || len(e.Jobs) != 3 || len(e.Ledger) != 2 {
		t.Fatalf("expired %+v", e)
	}
	if err := c.Snapshot(); err != nil {
		t.Fatal(err)
	}
	second := runJobs(t, c, t0.Add(2*time.Hour), 2)
	if _, err := c.Apply(ctx, &fsm.ExpireRecords{Before: t0.Add(3 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for _, id := range append(first, second...) {
		if f.View().Jobs[id] != nil {
			t.Fatalf("job %d still live", id)
		}
		if j, err := a.Job(id); err != nil || j.ID != id || j.State != model.JobCompleted {
			t.Fatalf("job %d in the archive: %v", id, err)
		}
	}
	want := a.Stats()
	c.Shutdown()
	a.Close()

	c, f, a = openBoth()
	defer a.Close()
	defer c.Shutdown()
	if err := c.Barrier(ctx); err != nil {
		t.Fatal(err)
	}
	if got := a.Stats(); got != want || want.Jobs != 5 || want.LastSeq != 2 || len(a.Gaps()) != 0 {
		t.Fatalf("archive after restart %+v, before %+v, gaps %v", got, want, a.Gaps())
	}
	if f.ExpiryMark().Seq != 2 || len(f.View().Jobs) != 0 {
		t.Fatalf("state after restart: %+v, %d jobs", f.ExpiryMark(), len(f.View().Jobs))
	}
}

// TestSnapshotAheadOfTheArchiveIsAGap: a server that catches up from a
// snapshot never sees the expiries inside it; its archive says so.
func TestSnapshotAheadOfTheArchiveIsAGap(t *testing.T) {
	src := fsm.New()
	for _, cmd := range []fsm.Command{
		&fsm.RegisterNodes{Nodes: []fsm.NodeSpec{{Name: "n1"}}},
		&fsm.CreateTenant{Tenant: model.Tenant{Name: "alice", TokenHash: "h"}},
		&fsm.SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Hour, Argv: []string{"x"}}, Time: t0},
		&fsm.CancelJob{JobID: 1, By: "alice", Time: t0},
		&fsm.ExpireRecords{Before: t0.Add(time.Hour)},
	} {
		if r := src.Apply(cmd); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	var buf bytes.Buffer
	if err := fsm.WriteSnapshot(&buf, src.SnapshotState()); err != nil {
		t.Fatal(err)
	}
	a, err := archive.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ad := adapter(fsm.New(), Config{Archive: a, Logger: hclog.NewNullLogger()})
	if err := ad.Restore(io.NopCloser(&buf)); err != nil {
		t.Fatal(err)
	}
	if g := a.Gaps(); len(g) != 1 || g[0].From != 1 || g[0].To != 1 || !g[0].Before.Equal(t0.Add(time.Hour)) {
		t.Fatalf("gaps %+v", g)
	}
}
