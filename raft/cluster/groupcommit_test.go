package cluster

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// hold takes every in-flight slot of c's group commit, so applies queue
// up; the returned function gives the slots back. Tests use it to decide
// exactly which commands share an entry, without depending on timing.
func hold(t *testing.T, c *Cluster) (release func()) {
	t.Helper()
	for range cap(c.group.slots) {
		<-c.group.slots
	}
	return func() {
		for range cap(c.group.slots) {
			c.group.slots <- struct{}{}
		}
	}
}

// waitQueued waits until n applies wait in c's group-commit queue.
func waitQueued(t *testing.T, c *Cluster, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c.group.mu.Lock()
		q := len(c.group.queue)
		c.group.mu.Unlock()
		if q == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d applies queued, want %d", q, n)
		}
		time.Sleep(time.Millisecond)
	}
}

type outcome struct {
	v   any
	err error
}

// applyAll starts one Apply per command and returns a function that waits
// for all of them.
func applyAll(ctxs []context.Context, c *Cluster, cmds []fsm.Command) func() []outcome {
	out := make([]outcome, len(cmds))
	var wg sync.WaitGroup
	for i, cmd := range cmds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			if ctxs != nil && ctxs[i] != nil {
				ctx = ctxs[i]
			}
			v, err := c.Apply(ctx, cmd)
			out[i] = outcome{v, err}
		}()
	}
	return func() []outcome { wg.Wait(); return out }
}

func submitCmd(tenant, req string) fsm.Command {
	return &fsm.SubmitJob{Job: model.Job{Tenant: tenant, NumNodes: 1, TimeLimit: time.Minute, Argv: []string{"true"}, RequestID: req}}
}

// Applies that queue while commits are in flight go out as one entry,
// and every caller gets its own command's answer: an id, its own refusal,
// the id of the submission its request id repeats.
func TestGroupCommitOneEntryOwnResults(t *testing.T) {
	c, f := open(t, t.TempDir(), "wal")
	defer c.Shutdown()
	ctx := context.Background()
	if _, err := c.Apply(ctx, &fsm.RegisterNodes{Nodes: []fsm.NodeSpec{{Name: "n1"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Apply(ctx, &fsm.CreateTenant{Tenant: model.Tenant{Name: "alice", TokenHash: "h"}}); err != nil {
		t.Fatal(err)
	}
	var cmds []fsm.Command
	for i := range 40 {
		switch i % 4 {
		case 0, 1:
			cmds = append(cmds, submitCmd("alice", fmt.Sprintf("r%d", i)))
		case 2:
			cmds = append(cmds, submitCmd("mallory", fmt.Sprintf("r%d", i))) // no such tenant
		case 3:
			cmds = append(cmds, submitCmd("alice", fmt.Sprintf("r%d", i-3))) // a retry of i-3
		}
	}
	before := c.raft.LastIndex()
	release := hold(t, c)
	wait := applyAll(nil, c, cmds)
	waitQueued(t, c, len(cmds))
	release()
	out := wait()
	if got := c.raft.LastIndex() - before; got != 1 {
		t.Errorf("%d commands took %d raft entries, want 1", len(cmds), got)
	}
	ids := map[string]uint64{}
	for i, o := range out {
		req := cmds[i].(*fsm.SubmitJob).Job.RequestID
		switch i % 4 {
		case 0, 1:
			if o.err != nil {
				t.Fatalf("command %d: %v", i, o.err)
			}
			ids[req] = o.v.(uint64)
		case 2:
			if !errors.Is(o.err, fsm.ErrInvalid) && !errors.Is(o.err, fsm.ErrNotFound) {
				t.Errorf("command %d for an unknown tenant: %v, %v", i, o.v, o.err)
			}
		case 3:
			if o.err != nil || o.v != ids[req] {
				t.Errorf("retry of %s: %v, %v; the first got %d", req, o.v, o.err, ids[req])
			}
		}
	}
	if n := len(f.View().Jobs); n != 20 {
		t.Errorf("%d jobs, want 20", n)
	}
}

// A caller that gives up while its command waits in the queue gets its
// context's error and its command is never committed; the others are.
func TestGroupCommitAbandonedCommandNotCommitted(t *testing.T) {
	c, f := open(t, t.TempDir(), "wal")
	defer c.Shutdown()
	release := hold(t, c)
	gone, cancel := context.WithCancel(context.Background())
	wait := applyAll([]context.Context{nil, gone, nil}, c, []fsm.Command{
		&fsm.CreateTenant{Tenant: model.Tenant{Name: "a", TokenHash: "a"}},
		&fsm.CreateTenant{Tenant: model.Tenant{Name: "b", TokenHash: "b"}},
		&fsm.CreateTenant{Tenant: model.Tenant{Name: "c", TokenHash: "c"}},
	})
	waitQueued(t, c, 3)
	cancel()
	release()
	out := wait()
	if out[0].err != nil || out[2].err != nil || !errors.Is(out[1].err, context.Canceled) {
		t.Fatalf("outcomes %+v", out)
	}
	if err := c.Barrier(context.Background()); err != nil {
		t.Fatal(err)
	}
	ts := f.View().Tenants
	if _, ok := ts["b"]; ok || len(ts) != 2 {
		t.Fatalf("tenants %v: the abandoned command was committed", ts)
	}
}

// openThree starts a three-server cluster over TCP and returns it with the
// leader first.
func openThree(t *testing.T, noGroup bool) ([]*Cluster, []*fsm.FSM) {
	t.Helper()
	addrs := freeAddrs(t, 3)
	var peers []Peer
	for i, a := range addrs {
		peers = append(peers, Peer{ID: fmt.Sprintf("s%d", i+1), Addr: a})
	}
	var cs []*Cluster
	var fs []*fsm.FSM
	for i, p := range peers {
		f := fsm.New()
		c, err := Open(Config{NodeID: p.ID, DataDir: filepath.Join(t.TempDir(), p.ID), BindAddr: addrs[i], Bootstrap: true, Peers: peers,
			HeartbeatTimeout: time.Second, ElectionTimeout: time.Second, SnapshotThreshold: 64, TrailingLogs: 16,
			NoGroupCommit: noGroup, Logger: hclog.NewNullLogger()}, f)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Shutdown() })
		cs, fs = append(cs, c), append(fs, f)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		for i, c := range cs {
			if c.IsLeader() {
				cs[0], cs[i] = cs[i], cs[0]
				fs[0], fs[i] = fs[i], fs[0]
				return cs, fs
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no leader")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitSame waits until every FSM holds the leader's state.
func waitSame(t *testing.T, fs []*fsm.FSM) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		want, same := fs[0].View().Hash(), true
		for _, f := range fs[1:] {
			same = same && f.View().Hash() == want
		}
		if same {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("followers never reached the leader's state")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// On three servers: a follower's group commit answers every queued caller
// with the leader's address (the API forwards on that answer); the
// leader's batches replicate and apply on the followers to the same
// state, across snapshots taken while batches stream (the threshold is 64
// entries); and with group commit off the same commands make the same
// jobs.
func TestGroupCommitThreeServers(t *testing.T) {
	run := func(noGroup bool) string {
		cs, fs := openThree(t, noGroup)
		leader, follower := cs[0], cs[1]
		ctx := context.Background()
		if _, err := leader.Apply(ctx, &fsm.RegisterNodes{Nodes: []fsm.NodeSpec{{Name: "n1"}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := leader.Apply(ctx, &fsm.CreateTenant{Tenant: model.Tenant{Name: "alice", TokenHash: "h"}}); err != nil {
			t.Fatal(err)
		}
		var fcmds []fsm.Command
		for i := range 8 {
			fcmds = append(fcmds, submitCmd("alice", fmt.Sprintf("f%d", i)))
		}
		for i, o := range applyAll(nil, follower, fcmds)() {
			var nl *NotLeaderError
			if !errors.As(o.err, &nl) || nl.LeaderAddr != leader.Addr() {
				t.Fatalf("apply %d on a follower: %v, %v; want the leader's address %s", i, o.v, o.err, leader.Addr())
			}
		}
		// Rounds of concurrent submissions, then a snapshot, mid-stream.
		for round := range 6 {
			var cmds []fsm.Command
			for i := range 50 {
				cmds = append(cmds, submitCmd("alice", fmt.Sprintf("r%d-%d", round, i%40)))
			}
			for i, o := range applyAll(nil, leader, cmds)() {
				if o.err != nil {
					t.Fatalf("round %d command %d: %v", round, i, o.err)
				}
			}
			if round == 2 {
				if err := leader.Snapshot(); err != nil {
					t.Fatal(err)
				}
			}
		}
		waitSame(t, fs)
		s := fs[0].View()
		if len(s.Jobs) != 6*40 {
			t.Fatalf("%d jobs, want %d (40 distinct request ids per round)", len(s.Jobs), 6*40)
		}
		// A follower restored from a snapshot of the batched state ends
		// in the same state.
		if err := follower.Snapshot(); err != nil {
			t.Fatal(err)
		}
		// Concurrent callers commit in any order, so job ids differ from
		// run to run; the jobs' request ids may not.
		var reqs []string
		for _, j := range s.Jobs {
			reqs = append(reqs, j.RequestID)
		}
		slices.Sort(reqs)
		return strings.Join(reqs, ",")
	}
	if a, b := run(false), run(true); a != b {
		t.Fatalf("group commit and one entry per command made different jobs:\n%s\n%s", a, b)
	}
}

// Leadership lost while commands wait: every queued caller is told who
// leads now, and the commands committed nowhere.
func TestGroupCommitLeadershipLost(t *testing.T) {
	cs, fs := openThree(t, false)
	leader := cs[0]
	ctx := context.Background()
	if _, err := leader.Apply(ctx, &fsm.CreateTenant{Tenant: model.Tenant{Name: "alice", TokenHash: "h"}}); err != nil {
		t.Fatal(err)
	}
	release := hold(t, leader)
	var cmds []fsm.Command
	for i := range 10 {
		cmds = append(cmds, &fsm.CreateTenant{Tenant: model.Tenant{Name: fmt.Sprintf("t%d", i), TokenHash: "h"}})
	}
	wait := applyAll(nil, leader, cmds)
	waitQueued(t, leader, len(cmds))
	if err := leader.raft.LeadershipTransfer().Error(); err != nil {
		t.Fatal(err)
	}
	release()
	for i, o := range wait() {
		var nl *NotLeaderError
		if !errors.As(o.err, &nl) {
			t.Fatalf("command %d after the leader stepped down: %v, %v", i, o.v, o.err)
		}
	}
	waitSame(t, fs)
	if n := len(fs[0].View().Tenants); n != 1 {
		t.Fatalf("%d tenants, want only alice", n)
	}
}

// Shutdown answers callers still queued instead of leaving them waiting.
func TestGroupCommitShutdownAnswersQueued(t *testing.T) {
	c, _ := open(t, t.TempDir(), "wal")
	release := hold(t, c)
	wait := applyAll(nil, c, []fsm.Command{&fsm.CreateTenant{Tenant: model.Tenant{Name: "a", TokenHash: "a"}}})
	waitQueued(t, c, 1)
	done := make(chan error, 1)
	go func() { done <- c.Shutdown() }()
	out := wait()
	if out[0].err == nil {
		t.Fatal("a command queued at shutdown reported success")
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := c.Apply(context.Background(), &fsm.CreateTenant{Tenant: model.Tenant{Name: "b", TokenHash: "b"}}); err == nil {
		t.Fatal("apply after shutdown succeeded")
	}
}
