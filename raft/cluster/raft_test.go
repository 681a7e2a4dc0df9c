package cluster

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/ibex-hpc/ibex/internal/testutil"
)

// sumFSM folds every command into a running hash, so two FSMs agree only
// if they applied the same commands in the same order.
type sumFSM struct {
	mu      sync.Mutex
	count   uint64
	hash    uint64
	applied uint64 // raft index of the last applied entry
}

func (f *sumFSM) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l.Type == raft.LogCommand {
		h := fnv.New64a()
		binary.Write(h, binary.LittleEndian, f.hash)
		h.Write(l.Data)
		f.hash = h.Sum64()
		f.count++
	}
	f.applied = l.Index
	return f.count
}

func (f *sumFSM) state() (count, hash uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.count, f.hash
}

func (f *sumFSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &sumSnap{f.count, f.hash}, nil
}

func (f *sumFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var s sumSnap
	if err := binary.Read(rc, binary.LittleEndian, &s); err != nil {
		return err
	}
	f.mu.Lock()
	f.count, f.hash = s.Count, s.Hash
	f.mu.Unlock()
	return nil
}

type sumSnap struct{ Count, Hash uint64 }

func (s *sumSnap) Persist(sink raft.SnapshotSink) error {
	if err := binary.Write(sink, binary.LittleEndian, s); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}
func (s *sumSnap) Release() {}

// node is one raft server whose log and stable state live in a log store
// opened by openStore.
type node struct {
	id    raft.ServerID
	kind  string // Config.LogStore
	dir   string
	store logStore
	fsm   *sumFSM
	trans *raft.InmemTransport
	raft  *raft.Raft
}

func raftConfig(id raft.ServerID) *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = id
	// Generous: the machine is shared and -race is slow, and a spurious
	// election mid-apply fails the test.
	c.HeartbeatTimeout = time.Second
	c.ElectionTimeout = time.Second
	c.LeaderLeaseTimeout = 500 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	c.SnapshotInterval = time.Hour // snapshots are taken explicitly
	c.SnapshotThreshold = 1 << 40
	c.TrailingLogs = 100
	c.BatchApplyCh = true
	c.MaxAppendEntries = 64
	c.LogOutput = io.Discard
	return c
}

func startNode(t *testing.T, kind string, id raft.ServerID, dir string, addr raft.ServerAddress) *node {
	t.Helper()
	// Small segments, so compaction removes whole files in the WAL stores.
	store := openStoreT(t, kind, dir, 4<<10)
	snaps, err := raft.NewFileSnapshotStore(dir, 2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	_, trans := raft.NewInmemTransport(addr)
	n := &node{id: id, kind: kind, dir: dir, store: store, fsm: &sumFSM{}, trans: trans}
	n.raft, err = raft.NewRaft(raftConfig(id), n.fsm, store, store, snaps, trans)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *node) stop(t *testing.T) {
	t.Helper()
	if err := n.raft.Shutdown().Error(); err != nil {
		t.Fatal(err)
	}
	n.trans.Close()
	if err := n.store.Close(); err != nil {
		t.Fatal(err)
	}
}

func isMonotonic(s raft.LogStore) bool {
	m, ok := s.(raft.MonotonicLogStore)
	return ok && m.IsMonotonic()
}

// apply submits cmds concurrently (so raft batches them) and waits.
func apply(t *testing.T, r *raft.Raft, from, to int) {
	t.Helper()
	futs := make([]raft.ApplyFuture, 0, to-from+1)
	for i := from; i <= to; i++ {
		futs = append(futs, r.Apply([]byte(fmt.Sprintf("cmd-%d", i)), 10*time.Second))
	}
	for _, f := range futs {
		if err := f.Error(); err != nil {
			t.Fatalf("apply: %v", err)
		}
	}
}

// expectedState is what sumFSM holds after cmd-1..cmd-n.
func expectedState(n int) (uint64, uint64) {
	f := &sumFSM{}
	for i := 1; i <= n; i++ {
		f.Apply(&raft.Log{Type: raft.LogCommand, Data: []byte(fmt.Sprintf("cmd-%d", i))})
	}
	return f.state()
}

// TestRaftSingleNodeRestart runs real raft on each store: applies across two
// snapshots (so the log is compacted), restarts on the same directory and
// expects the same state, the same log range and term, and more applies.
func TestRaftSingleNodeRestart(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) { testRaftSingleNodeRestart(t, sc.name) })
}

func testRaftSingleNodeRestart(t *testing.T, kind string) {
	dir := t.TempDir()
	n := startNode(t, kind, "a", dir, "a")
	conf := raft.Configuration{Servers: []raft.Server{{ID: "a", Address: "a"}}}
	if err := n.raft.BootstrapCluster(conf).Error(); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "leadership", 20*time.Second, func() bool { return n.raft.State() == raft.Leader })

	apply(t, n.raft, 1, 1000)
	if err := n.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	apply(t, n.raft, 1001, 2000)
	if err := n.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	apply(t, n.raft, 2001, 2050) // some entries after the last snapshot

	first, _ := n.store.FirstIndex()
	last, _ := n.store.LastIndex()
	if first <= 1 {
		t.Fatalf("first index %d: the snapshot did not compact the log", first)
	}
	if last-first+1 > 200 {
		t.Fatalf("log holds %d entries after compaction with TrailingLogs=100", last-first+1)
	}
	wantCount, wantHash := expectedState(2050)
	if c, h := n.fsm.state(); c != wantCount || h != wantHash {
		t.Fatalf("before restart: count=%d hash=%x, want %d %x", c, h, wantCount, wantHash)
	}
	term := n.raft.CurrentTerm()
	n.stop(t)

	// Restart on the same directory: snapshot plus the log tail must
	// reproduce the state, and compacted entries must stay gone.
	n = startNode(t, kind, "a", dir, "a")
	defer n.stop(t)
	if f, _ := n.store.FirstIndex(); f != first {
		t.Fatalf("first index %d after restart, want %d", f, first)
	}
	if l, _ := n.store.LastIndex(); l != last {
		t.Fatalf("last index %d after restart, want %d", l, last)
	}
	if got, err := n.store.GetUint64([]byte("CurrentTerm")); err != nil || got != term {
		t.Fatalf("CurrentTerm after restart = %d, %v; want %d", got, err, term)
	}
	testutil.WaitFor(t, "leadership after restart", 20*time.Second, func() bool { return n.raft.State() == raft.Leader })
	if err := n.raft.Barrier(10 * time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	if c, h := n.fsm.state(); c != wantCount || h != wantHash {
		t.Fatalf("after restart: count=%d hash=%x, want %d %x", c, h, wantCount, wantHash)
	}
	apply(t, n.raft, 2051, 2100)
	wantCount, wantHash = expectedState(2100)
	if c, h := n.fsm.state(); c != wantCount || h != wantHash {
		t.Fatalf("after more applies: count=%d hash=%x, want %d %x", c, h, wantCount, wantHash)
	}
}

// TestRaftThreeNodes replicates through three stores of each kind, lets a
// follower fall so far behind that it needs a snapshot (which makes raft
// delete its whole log, the MonotonicLogStore path), and restarts a
// follower.
func TestRaftThreeNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: three raft servers with real fsyncs")
	}
	forEachStore(t, func(t *testing.T, sc storeCase) { testRaftThreeNodes(t, sc.name) })
}

func testRaftThreeNodes(t *testing.T, kind string) {
	ids := []raft.ServerID{"n1", "n2", "n3"}
	var conf raft.Configuration
	for _, id := range ids {
		conf.Servers = append(conf.Servers, raft.Server{ID: id, Address: raft.ServerAddress(id)})
	}
	nodes := map[raft.ServerID]*node{}
	connect := func(n *node) {
		for _, o := range nodes {
			if o != n {
				n.trans.Connect(raft.ServerAddress(o.id), o.trans)
				o.trans.Connect(raft.ServerAddress(n.id), n.trans)
			}
		}
	}
	disconnect := func(n *node) {
		for _, o := range nodes {
			if o != n {
				n.trans.Disconnect(raft.ServerAddress(o.id))
				o.trans.Disconnect(raft.ServerAddress(n.id))
			}
		}
	}
	for _, id := range ids {
		nodes[id] = startNode(t, kind, id, t.TempDir(), raft.ServerAddress(id))
	}
	for _, n := range nodes {
		connect(n)
	}
	defer func() {
		for _, n := range nodes {
			n.stop(t)
		}
	}()
	if err := nodes["n1"].raft.BootstrapCluster(conf).Error(); err != nil {
		t.Fatal(err)
	}
	leader := func() *node {
		var l *node
		testutil.WaitFor(t, "a leader", 20*time.Second, func() bool {
			for _, n := range nodes {
				if n.raft.State() == raft.Leader {
					l = n
					return true
				}
			}
			return false
		})
		return l
	}
	converged := func(count int) {
		t.Helper()
		wc, wh := expectedState(count)
		testutil.WaitFor(t, fmt.Sprintf("all FSMs at %d commands", count), 20*time.Second, func() bool {
			for _, n := range nodes {
				if c, h := n.fsm.state(); c != wc || h != wh {
					return false
				}
			}
			return true
		})
	}

	l := leader()
	apply(t, l.raft, 1, 500)
	converged(500)

	// Cut a follower off, move the leader far ahead and compact past it.
	var lagger *node
	for _, n := range nodes {
		if n != l {
			lagger = n
			break
		}
	}
	disconnect(lagger)
	apply(t, l.raft, 501, 1000)
	if err := l.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	lf, _ := l.store.FirstIndex()
	if ll, _ := lagger.store.LastIndex(); ll >= lf {
		t.Fatalf("leader kept index %d, lagging follower has up to %d: no snapshot needed", lf, ll)
	}
	connect(lagger)
	converged(1000)
	apply(t, l.raft, 1001, 1100)
	converged(1100)
	// The lagger installed a snapshot. A monotonic store then had its log
	// emptied and holds only what came after the snapshot; raft leaves
	// the others a gap before it.
	if snap := lagger.raft.Stats()["last_snapshot_index"]; snap == "0" {
		t.Fatal("the lagging follower caught up without a snapshot")
	}
	lagFirst, _ := lagger.store.FirstIndex()
	lagLast, _ := lagger.store.LastIndex()
	leadLast, _ := l.store.LastIndex()
	if lagLast != leadLast || (isMonotonic(lagger.store) && lagFirst <= lf) {
		t.Fatalf("lagging follower holds [%d, %d]; want a log ending at %d, restarted after the snapshot (> %d) if the store is monotonic", lagFirst, lagLast, leadLast, lf)
	}

	// Restart a follower on its directory; it must rejoin and catch up.
	var f *node
	for _, n := range nodes {
		if n != l && n != lagger {
			f = n
		}
	}
	disconnect(f)
	f.stop(t)
	apply(t, l.raft, 1101, 1200)
	nodes[f.id] = startNode(t, kind, f.id, f.dir, raft.ServerAddress(f.id))
	connect(nodes[f.id])
	l = leader()
	apply(t, l.raft, 1201, 1300)
	converged(1300)
	for _, n := range nodes {
		first, _ := n.store.FirstIndex()
		last, _ := n.store.LastIndex()
		if !isMonotonic(n.store) {
			// Past the gap raft leaves below an installed snapshot.
			snap, _ := strconv.ParseUint(n.raft.Stats()["last_snapshot_index"], 10, 64)
			first = max(first, snap+1)
		}
		for i := first; i <= last; i++ {
			var e raft.Log
			if err := n.store.GetLog(i, &e); err != nil {
				t.Fatalf("%s: GetLog(%d) in [%d, %d]: %v", n.id, i, first, last, err)
			}
		}
	}
}
