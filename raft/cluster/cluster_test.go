package cluster

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

func open(t *testing.T, dir string, store string) (*Cluster, *fsm.FSM) {
	t.Helper()
	f := fsm.New()
	c, err := Open(Config{NodeID: "s1", DataDir: dir, Bootstrap: true, SnapshotThreshold: 16, LogStore: store}, f)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for !c.IsLeader() {
		if ctx.Err() != nil {
			t.Fatal("no leader")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return c, f
}

// TestRestartKeepsState commits entries through real raft on disk, forces a
// snapshot, commits more, restarts, and expects the same state hash.
func TestRestartKeepsState(t *testing.T) {
	for _, store := range []string{"wal", "raftwal", "bolt"} {
		t.Run(store, func(t *testing.T) { testRestartKeepsState(t, store) })
	}
}

func testRestartKeepsState(t *testing.T, store string) {
	dir := t.TempDir()
	c, f := open(t, dir, store)
	ctx := context.Background()
	if _, err := c.Apply(ctx, &fsm.RegisterNodes{Nodes: []fsm.NodeSpec{{Name: "n1"}, {Name: "n2"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Apply(ctx, &fsm.CreateTenant{Tenant: model.Tenant{Name: "alice", TokenHash: "h"}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ { // crosses the snapshot threshold
		if _, err := c.Apply(ctx, &fsm.SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Minute, Argv: []string{fmt.Sprint(i)}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Snapshot(); err != nil {
		t.Fatal(err)
	}
	_, err := c.Apply(ctx, &fsm.SubmitJob{Job: model.Job{Tenant: "nobody", NumNodes: 1, TimeLimit: time.Minute, Argv: []string{"x"}}})
	if !errors.Is(err, fsm.ErrInvalid) {
		t.Fatalf("FSM error not passed through raft: %v", err)
	}
	want := f.View().Hash()
	if err := c.Shutdown(); err != nil {
		t.Fatal(err)
	}

	c2, f2 := open(t, dir, store)
	defer c2.Shutdown()
	if err := c2.Barrier(ctx); err != nil {
		t.Fatal(err)
	}
	if got := f2.View().Hash(); got != want {
		t.Fatalf("state after restart differs: %s != %s", got, want)
	}
	if n := len(f2.View().Jobs); n != 40 {
		t.Fatalf("%d jobs after restart, want 40", n)
	}
}

func TestConfigValidate(t *testing.T) {
	if _, err := Open(Config{DataDir: t.TempDir()}, fsm.New()); err == nil {
		t.Fatal("missing node id accepted")
	}
	if _, err := Open(Config{NodeID: "x", DataDir: t.TempDir(), BindAddr: "not an address"}, fsm.New()); err == nil {
		t.Fatal("bad bind address accepted")
	}
	if _, err := Open(Config{NodeID: "x", DataDir: t.TempDir(), LogStore: "sqlite"}, fsm.New()); err == nil {
		t.Fatal("unknown log store accepted")
	}
}

// TestExpiredDeadlineCommitsNothing: hashicorp/raft reads a timeout <= 0
// as "no timeout", so a request whose client already gave up would be
// committed behind its back unless Apply checks the deadline first.
func TestExpiredDeadlineCommitsNothing(t *testing.T) {
	c, f := open(t, t.TempDir(), "wal")
	defer c.Shutdown()
	if _, err := c.Apply(context.Background(), &fsm.CreateTenant{Tenant: model.Tenant{Name: "alice", TokenHash: "h"}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Millisecond))
	defer cancel()
	_, err := c.Apply(ctx, &fsm.SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Minute, Argv: []string{"x"}}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("apply with an expired deadline: err = %v, want DeadlineExceeded", err)
	}
	if err := c.Barrier(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(f.View().Jobs); n != 0 {
		t.Fatalf("%d jobs committed by a request whose deadline had passed", n)
	}
}

// TestDataIsPrivate: a data directory made 0755 by hand is tightened, and
// snapshots (which hold the CA key) are 0600 in 0700 directories, not the
// library's 0644 in 0755.
func TestDataIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c, _ := open(t, dir, "wal")
	defer c.Shutdown()
	if _, err := c.Apply(context.Background(), &fsm.CreateTenant{Tenant: model.Tenant{Name: "alice", TokenHash: "h"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Snapshot(); err != nil {
		t.Fatal(err)
	}
	files := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %v: readable by others", p, perm)
		}
		if strings.Contains(p, "snapshots") && !d.IsDir() {
			files++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatal("no snapshot files written: the test checked nothing")
	}
}

// TestReadIndexAfterRestartSeesTheWholeLog: a server restarted with a log
// to replay answers a linearizable read only once its state holds every
// entry committed before it (raft's applied index alone runs ahead of
// the FSM while the log is replayed).
func TestReadIndexAfterRestartSeesTheWholeLog(t *testing.T) {
	dir := t.TempDir()
	f := fsm.New()
	c, err := Open(Config{NodeID: "s1", DataDir: dir, Bootstrap: true, SnapshotThreshold: 1 << 20, LogStore: "wal"}, f)
	if err != nil {
		t.Fatal(err)
	}
	for !c.IsLeader() {
		time.Sleep(10 * time.Millisecond)
	}
	const n = 2000
	for i := 0; i < n; i++ {
		if _, err := c.Apply(context.Background(), &fsm.CreateTenant{Tenant: model.Tenant{Name: fmt.Sprintf("t%03d", i), TokenHash: fmt.Sprintf("h%03d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Shutdown(); err != nil {
		t.Fatal(err)
	}
	// Reopen and read the moment it leads (open() would give the replay
	// time to finish).
	f2 := fsm.New()
	c2, err := Open(Config{NodeID: "s1", DataDir: dir, Bootstrap: true, SnapshotThreshold: 1 << 20, LogStore: "wal"}, f2)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for !c2.IsLeader() {
		if ctx.Err() != nil {
			t.Fatal("no leader")
		}
		time.Sleep(50 * time.Microsecond)
	}
	if err := c2.ReadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	var got int
	f2.Read(func(st *fsm.State) { got = len(st.Tenants) })
	if got != n {
		t.Fatalf("a read right after the restart saw %d tenants of %d", got, n)
	}
}
