// Package cluster runs ibex's FSM under hashicorp/raft with an on-disk log
// store (see Config.LogStore) and file snapshots. It is the only package that touches raft; the
// rest of ibexd sees Apply, leadership and a read barrier.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	raftwal "github.com/hashicorp/raft-wal"

	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/raft/walstore"
)

// Config describes one server's raft member.
type Config struct {
	// NodeID is this server's stable raft id.
	NodeID string
	// DataDir holds raft.db (log and stable store) and snapshots/.
	DataDir string
	// BindAddr is the raft TCP address, e.g. 127.0.0.1:7701. Port 0 picks one.
	BindAddr string
	// Bootstrap makes a fresh server form a single-server cluster. It is
	// ignored when DataDir already holds raft state.
	Bootstrap bool
	// Peers, when set with Bootstrap, forms a multi-server cluster: every
	// server is started with the same list (itself included).
	Peers []Peer
	// HeartbeatTimeout and ElectionTimeout bound failover time; zero means
	// the defaults below, which suit a LAN.
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration
	// SnapshotThreshold is how many log entries trigger a snapshot and
	// compaction; zero means 8192.
	SnapshotThreshold uint64
	// SnapshotInterval is how often raft checks the threshold; zero means
	// 30 s.
	SnapshotInterval time.Duration
	// TrailingLogs is how many entries stay behind a snapshot, so a
	// briefly lagging follower catches up from the log instead of a full
	// snapshot; zero means SnapshotThreshold.
	TrailingLogs uint64
	// LogStore is "wal" (raft/walstore: one fdatasync per batch, the
	// default), "raftwal" (hashicorp/raft-wal v0.4.1: one fsync per batch;
	// it fails two of store_test.go's checks, one of them a crash after
	// which it takes no more writes) or "bolt" (raft-boltdb: two per batch).
	LogStore string
	// segmentSize overrides the WAL stores' segment size, so tests can
	// cross segment boundaries with little data; zero is the default.
	segmentSize int64
	// ApplyTimeout bounds one Apply; zero means 10 s.
	ApplyTimeout time.Duration
	// NoGroupCommit sends every Apply as its own raft entry, as before
	// group commit (groupcommit.go); for comparison benchmarks.
	NoGroupCommit bool
	// GroupCommitInFlight is how many group commits may be in flight at
	// once; zero means 2.
	GroupCommitInFlight int
	Logger              hclog.Logger

	// Archive, when set, stores what expiry entries remove (archive.go).
	Archive Archive
	// TLS, when set, makes the transport mutual TLS (tlsstream.go);
	// nil is plain TCP.
	TLS *PeerTLS
}

// Validate fills defaults and rejects unusable settings.
func (c *Config) Validate() error {
	if c.NodeID == "" {
		return errors.New("raft: node id is required")
	}
	if c.DataDir == "" {
		return errors.New("raft: data directory is required")
	}
	if c.BindAddr == "" {
		c.BindAddr = "127.0.0.1:0"
	}
	if c.HeartbeatTimeout == 0 {
		c.HeartbeatTimeout = 500 * time.Millisecond
	}
	if c.ElectionTimeout == 0 {
		c.ElectionTimeout = 500 * time.Millisecond
	}
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = 8192
	}
	switch c.LogStore {
	case "":
		c.LogStore = "wal"
	case "wal", "raftwal", "bolt":
	default:
		return fmt.Errorf("raft: log store %q: want wal, raftwal or bolt", c.LogStore)
	}
	if c.SnapshotInterval == 0 {
		c.SnapshotInterval = 30 * time.Second
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = c.SnapshotThreshold
	}
	if c.ApplyTimeout == 0 {
		c.ApplyTimeout = 10 * time.Second
	}
	if c.GroupCommitInFlight == 0 {
		c.GroupCommitInFlight = defaultGroupCommitInFlight
	}
	if c.GroupCommitInFlight < 0 {
		return fmt.Errorf("raft: %d group commits in flight: want at least 1", c.GroupCommitInFlight)
	}
	if c.Logger == nil {
		c.Logger = hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: os.Stderr})
	}
	return nil
}

// Peer is one voter of a bootstrap configuration.
type Peer struct{ ID, Addr string }

// Cluster is one running raft member.
type Cluster struct {
	cfg   Config
	raft  *raft.Raft
	fsm   *fsm.FSM
	trans *raft.NetworkTransport
	store logStore
	// group queues concurrent applies into batch entries; nil with
	// NoGroupCommit.
	group *committer
	// readyTerm is the term in which a barrier confirmed that the FSM
	// holds everything committed before it (ReadIndex).
	readyTerm atomic.Uint64
}

// logStore is what raft needs from its durable storage.
type logStore interface {
	raft.LogStore
	raft.StableStore
	Close() error
}

// openStore opens the configured log store. Each keeps its own files
// (wal/, raft-wal/ and raft.db), so switching stores starts with an empty
// log: do it on a fresh server, or one that rejoins and catches up by
// snapshot.
func openStore(cfg Config) (logStore, error) {
	switch cfg.LogStore {
	case "bolt":
		return raftboltdb.NewBoltStore(filepath.Join(cfg.DataDir, "raft.db"))
	case "raftwal":
		dir := filepath.Join(cfg.DataDir, "raft-wal")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		// A zero segment size means raft-wal's default (64 MiB).
		return raftwal.Open(dir, raftwal.WithLogger(cfg.Logger.Named("raft-wal")), raftwal.WithSegmentSize(int(cfg.segmentSize)))
	}
	return walstore.Open(filepath.Join(cfg.DataDir, "wal"), walstore.Options{SegmentSize: cfg.segmentSize})
}

// NotLeaderError says which server to ask instead.
type NotLeaderError struct{ LeaderID, LeaderAddr string }

func (e *NotLeaderError) Error() string {
	if e.LeaderAddr == "" {
		return "not the leader, and no leader is known"
	}
	return fmt.Sprintf("not the leader; leader is %s at %s", e.LeaderID, e.LeaderAddr)
}

// Open starts the raft member over f.
func Open(cfg Config, f *fsm.FSM) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := PrivateDir(cfg.DataDir); err != nil {
		return nil, fmt.Errorf("raft: create data dir: %w", err)
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.HeartbeatTimeout / 2
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.TrailingLogs = cfg.TrailingLogs
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.Logger = cfg.Logger
	// Group concurrent applies into one log write and one fsync: with many
	// clients, throughput is bounded by batches per second, not entries.
	rc.BatchApplyCh = true
	rc.MaxAppendEntries = 256

	store, err := openStore(cfg)
	if err != nil {
		return nil, fmt.Errorf("raft: open log store: %w", err)
	}
	fileSnaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, 2, cfg.Logger)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("raft: open snapshot store: %w", err)
	}
	snapDir := filepath.Join(cfg.DataDir, "snapshots")
	if err := tighten(snapDir); err != nil { // snapshots an older ibexd left readable
		store.Close()
		return nil, fmt.Errorf("raft: make snapshots private: %w", err)
	}
	snaps := privateSnapshots{SnapshotStore: fileSnaps, dir: snapDir}
	addr, err := net.ResolveTCPAddr("tcp", cfg.BindAddr)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("raft: bind address %q: %w", cfg.BindAddr, err)
	}
	var trans *raft.NetworkTransport
	if cfg.TLS != nil {
		trans, err = newTLSTransport(cfg.BindAddr, advertise(addr), cfg.TLS, 4, 10*time.Second, cfg)
	} else {
		trans, err = raft.NewTCPTransportWithLogger(cfg.BindAddr, advertise(addr), 4, 10*time.Second, cfg.Logger)
	}
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("raft: listen on %s: %w", cfg.BindAddr, err)
	}
	existing, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		store.Close()
		trans.Close()
		return nil, fmt.Errorf("raft: inspect state: %w", err)
	}
	r, err := raft.NewRaft(rc, adapter(f, cfg), store, store, snaps, trans)
	if err != nil {
		store.Close()
		trans.Close()
		return nil, fmt.Errorf("raft: start: %w", err)
	}
	c := &Cluster{cfg: cfg, raft: r, fsm: f, trans: trans, store: store}
	if !cfg.NoGroupCommit {
		c.group = newCommitter(c, cfg.GroupCommitInFlight, defaultGroupCommitEntries, defaultGroupCommitBytes)
	}
	if cfg.Bootstrap && !existing {
		conf := raft.Configuration{Servers: []raft.Server{{ID: rc.LocalID, Address: trans.LocalAddr()}}}
		if len(cfg.Peers) > 0 {
			conf.Servers = nil
			for _, p := range cfg.Peers {
				conf.Servers = append(conf.Servers, raft.Server{ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Addr)})
			}
		}
		if err := r.BootstrapCluster(conf).Error(); err != nil {
			c.Shutdown()
			return nil, fmt.Errorf("raft: bootstrap: %w", err)
		}
	}
	return c, nil
}

// advertise returns nil (use the listener's address) unless addr is a
// concrete, non-wildcard address.
func advertise(addr *net.TCPAddr) net.Addr {
	if addr.IP == nil || addr.IP.IsUnspecified() || addr.Port == 0 {
		return nil
	}
	return addr
}

// Addr is the raft transport's address.
func (c *Cluster) Addr() string { return string(c.trans.LocalAddr()) }

// Apply commits cmd and returns the FSM's result. It fails with
// *NotLeaderError on a follower.
func (c *Cluster) Apply(ctx context.Context, cmd fsm.Command) (any, error) {
	// A caller's batch (SubmitMany) that can join a group commit is
	// encoded command by command once, and the entry built from those.
	var entries [][]byte
	if bt, ok := cmd.(*fsm.Batch); ok && c.group != nil {
		entries, _ = batchEntries(bt)
	}
	var b []byte
	var err error
	if entries != nil {
		b, err = fsm.EncodeBatch(entries)
	} else {
		b, err = fsm.Encode(cmd)
	}
	if err != nil {
		return nil, err
	}
	// A caller that has given up must not have its command committed:
	// hashicorp/raft reads a timeout <= 0 as "wait forever", so an expired
	// deadline would otherwise commit a request its client saw fail.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	timeout, err := c.applyTimeout(ctx)
	if err != nil {
		return nil, err
	}
	if c.group != nil && fsm.Batchable(cmd.Type()) && len(b) <= defaultGroupCommitBytes {
		res := c.group.apply(ctx, b)
		return res.Value, res.Err
	}
	if entries != nil && len(b) <= defaultGroupCommitBytes {
		res := c.group.applyMany(ctx, entries)
		return res.Value, res.Err
	}
	fut := c.raft.Apply(b, timeout)
	if err := fut.Error(); err != nil {
		return nil, c.applyError(err)
	}
	res := fut.Response().(fsm.Result)
	return res.Value, res.Err
}

func (c *Cluster) notLeader() error {
	addr, id := c.raft.LeaderWithID()
	return &NotLeaderError{LeaderID: string(id), LeaderAddr: string(addr)}
}

// Term is the current raft term. A leader's tasks to agents carry it, so
// an agent can refuse a deposed leader's.
func (c *Cluster) Term() uint64 { return c.raft.CurrentTerm() }

// IsLeader reports whether this server currently leads.
func (c *Cluster) IsLeader() bool { return c.raft.State() == raft.Leader }

// LeaderCh delivers leadership changes. It has one consumer: the server's
// leader loop.
func (c *Cluster) LeaderCh() <-chan bool { return c.raft.LeaderCh() }

// WaitForLeader blocks until some server leads, or ctx ends.
func (c *Cluster) WaitForLeader(ctx context.Context) error {
	for {
		if addr, _ := c.raft.LeaderWithID(); addr != "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for raft leader: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Barrier waits until every entry committed before it has been applied
// here. On the leader this makes a following read linearizable.
func (c *Cluster) Barrier(ctx context.Context) error {
	timeout := c.cfg.ApplyTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if err := c.raft.Barrier(timeout).Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return c.notLeader()
		}
		return fmt.Errorf("raft barrier: %w", err)
	}
	return nil
}

// Snapshot forces a snapshot now (used by tests and operators).
func (c *Cluster) Snapshot() error { return c.raft.Snapshot().Error() }

// Stats exposes raft's counters for status output.
func (c *Cluster) Stats() map[string]string { return c.raft.Stats() }

// Shutdown stops raft and closes the stores.
func (c *Cluster) Shutdown() error {
	err := c.raft.Shutdown().Error()
	if c.group != nil {
		c.group.stop() // after raft's shutdown has answered the commits in flight
	}
	c.trans.Close()
	if cerr := c.store.Close(); err == nil {
		err = cerr
	}
	return err
}

// raftFSM adapts fsm.FSM to raft.FSM without putting raft in fsm's API.
type raftFSM fsm.FSM

func (f *raftFSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	return (*fsm.FSM)(f).ApplyEntry(l.Index, l.Data)
}

func (f *raftFSM) Snapshot() (raft.FSMSnapshot, error) {
	return &snapshot{state: (*fsm.FSM)(f).SnapshotState()}, nil
}

func (f *raftFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	return (*fsm.FSM)(f).Restore(rc)
}

type snapshot struct{ state *fsm.State }

func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if err := fsm.WriteSnapshot(sink, s.state); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *snapshot) Release() {}
