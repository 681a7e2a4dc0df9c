// Package server is ibexd: it wires the replicated state (raft/cluster and
// raft/fsm) to the gRPC API, and runs the leader's controllers.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	"github.com/ibex-hpc/ibex/fabric/ibsim"
	"github.com/ibex-hpc/ibex/fabric/sm"
	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/nodeagent/localexec"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/archive"
	"github.com/ibex-hpc/ibex/raft/cluster"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/scheduler"
	"github.com/ibex-hpc/ibex/scheduler/topotree"
	"github.com/ibex-hpc/ibex/server/metrics"
)

// Config is everything ibexd needs. Zero values get the defaults documented
// on each field.
type Config struct {
	// DataDir holds raft state, the admin token and (for simulated nodes) job
	// directories.
	DataDir string
	// NodeID is the raft server id; default "ibexd-1".
	NodeID string
	// Listen is the gRPC API address; default 127.0.0.1:7700.
	Listen string
	// RaftAddr is the raft transport address; default 127.0.0.1:7701.
	RaftAddr string
	// HTTPListen serves /healthz, the dashboard and /metrics; empty
	// disables it.
	HTTPListen string
	// AdvertiseAPI is the API address other servers forward to; default
	// the listener's address.
	AdvertiseAPI string
	// Bootstrap forms a new cluster if DataDir holds no raft state: of this
	// server alone, or of Peers.
	Bootstrap bool
	// Peers is the bootstrap membership, the same list on every server.
	Peers []Peer
	// Join is the API address of a running server to join through (needs
	// the admin token from AdminTokenFile).
	Join string
	// AdminTokenFile holds the bootstrap admin token; default
	// DataDir/admin.token. A leader creates the admin tenant from it (or
	// writes a new token there) when the cluster has none.
	AdminTokenFile string
	// JobsDir holds simulated nodes' job directories; default DataDir/jobs.
	// Servers of one simulated cluster share it, so a new leader finds the
	// processes the old one started.
	JobsDir string
	// AgentListen serves node agents (enrollment and the task stream) with
	// TLS from the cluster CA; empty disables agents.
	AgentListen string
	// GossipBind is this server's memberlist address; GossipSeeds other
	// servers' (agents get both from enrollment). Gossip timings tune how
	// fast a dead agent's node is marked down.
	GossipBind  string
	GossipSeeds []string
	Gossip      GossipTimings
	// DefaultImage ("name:version" from the catalog), when set, is written
	// to every agent node during cleaning, with its digest verified.
	DefaultImage string
	// FirmwarePins is the HCA firmware policy agents enforce.
	FirmwarePins []FirmwarePin
	// HeartbeatTimeout and ElectionTimeout tune failover (see raft/cluster).
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration
	// SnapshotThreshold, SnapshotInterval and TrailingLogs control log
	// compaction (see raft/cluster.Config).
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
	// HealthEvery is how often the leader samples fabric health (port
	// state and counters) in ibsim mode; default 30 s.
	HealthEvery time.Duration
	// LogStore is "wal" (default) or "bolt".
	LogStore string
	// Simulate runs in-process simulated nodes on the fat tree Fabric.
	Simulate bool
	Fabric   topology.FatTree
	// FabricMode picks the subnet manager: "sim" (default), "ibsim" (real
	// OpenSM on a simulated fabric, falling back to "sim" when the
	// packages are missing) or "off" (no partitions).
	FabricMode string
	// PKeyMin..PKeyMax is the pool of partition keys for allocations
	// (default 0x1000..0x7ffe, leaving low keys to operators); a released
	// key is reused only after PKeyCooldown (default 30 s).
	PKeyMin, PKeyMax uint16
	PKeyCooldown     time.Duration
	// PKeyPerTenant gives all of a tenant's live allocations one shared
	// partition instead of one each (its jobs can then talk to each other).
	PKeyPerTenant bool
	// UFMURL, UFMUser and UFMPasswordFile reach NVIDIA UFM (FabricMode
	// "ufm"); the password file must be readable by ibexd only.
	UFMURL, UFMUser, UFMPasswordFile string
	// JobRetention is how long finished jobs and old hygiene-ledger
	// entries stay in the replicated state before they move to each
	// server's archive (retention.go); 0 keeps them forever.
	JobRetention time.Duration
	// ReconcileEvery is the controllers' tick (they also run on every state
	// change); default 200 ms.
	ReconcileEvery time.Duration
	Logger         *slog.Logger
}

// Validate fills defaults and checks the config.
func (c *Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("a data directory is required (--data-dir)")
	}
	if c.NodeID == "" {
		c.NodeID = "ibexd-1"
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:7700"
	}
	if c.RaftAddr == "" {
		c.RaftAddr = "127.0.0.1:7701"
	}
	if c.AdminTokenFile == "" {
		c.AdminTokenFile = filepath.Join(c.DataDir, "admin.token")
	}
	if c.JobsDir == "" {
		c.JobsDir = filepath.Join(c.DataDir, "jobs")
	}
	if c.Join != "" && len(c.Peers) > 0 {
		return errors.New("use either a peer list or --join, not both")
	}
	if c.FabricMode == "" {
		c.FabricMode = FabricSim
	}
	switch c.FabricMode {
	case FabricSim, FabricIBSim, FabricOff:
	case FabricUFM:
		if c.UFMURL == "" || c.UFMUser == "" || c.UFMPasswordFile == "" {
			return errors.New("--fabric=ufm needs --ufm-url, --ufm-user and --ufm-password-file")
		}
		if st, err := os.Stat(c.UFMPasswordFile); err != nil {
			return fmt.Errorf("--ufm-password-file: %w", err)
		} else if st.Mode().Perm()&0o077 != 0 {
			return fmt.Errorf("--ufm-password-file %s is readable by others (mode %o): chmod 600 it", c.UFMPasswordFile, st.Mode().Perm())
		}
	default:
		return fmt.Errorf("fabric %q: want sim, ibsim, ufm or off", c.FabricMode)
	}
	if c.PKeyMin == 0 {
		c.PKeyMin = 0x1000
	}
	if c.PKeyMax == 0 {
		c.PKeyMax = 0x7ffe
	}
	if c.PKeyMin > c.PKeyMax || c.PKeyMax >= 0x7fff {
		return fmt.Errorf("partition key pool %#04x..%#04x: want 0x0001 <= min <= max <= 0x7ffe", c.PKeyMin, c.PKeyMax)
	}
	if c.PKeyCooldown == 0 {
		c.PKeyCooldown = 30 * time.Second
	}
	if c.HealthEvery == 0 {
		c.HealthEvery = 30 * time.Second
	}
	if c.Gossip.ProbeInterval == 0 {
		c.Gossip = DefaultGossipTimings
	}
	if c.ReconcileEvery == 0 {
		c.ReconcileEvery = 200 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if !c.Simulate {
		return errors.New("only simulated nodes are supported so far: run with --dev (real nodes need ibex-agent, which is not built yet)")
	}
	return c.Fabric.Validate()
}

// Peer is one server of a bootstrap membership.
type Peer struct{ ID, RaftAddr, APIAddr string }

// Server is a running ibexd.
type Server struct {
	cfg         Config
	fsm         *fsm.FSM
	cluster     *cluster.Cluster
	fwd         *forwarder
	exec        Executor
	sm          sm.Driver     // nil when FabricMode is off
	ibsim       *ibsim.Fabric // set in ibsim mode
	hosts       []simHost     // simulated nodes and their HCA ports
	ports       map[string][]sm.GUID
	parts       *partitionController
	tree        *scheduler.Tree      // the configured fat tree as the scheduler sees it
	topo        importedFabric       // parsed imported topology, if any
	labelled    labelledTree         // scheduling tree with feature labels
	health      *fabricHealth        // nil without a fabric to read
	archive     *archive.Archive     // expired records (retention.go)
	instruments *metrics.Instruments // leader-local durations and counters for /metrics

	agents    *agentsService
	agentLis  net.Listener
	agentGRPC atomic.Pointer[grpc.Server]
	gossipMu  sync.Mutex
	gossip    *gossip
	grpc      *grpc.Server
	lis       net.Listener
	http      *http.Server
	httpLis   net.Listener
	log       *slog.Logger
	now       func() time.Time

	// AdminToken is set after Start when this server created or found the
	// bootstrap admin token in its data directory.
	AdminToken string
}

// Start opens the state, starts raft and the API, and returns once the API
// listens and (for a bootstrapping server) the cluster has a leader and the
// admin tenant and simulated nodes are registered.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	s := &Server{cfg: cfg, fsm: fsm.New(), log: cfg.Logger, now: func() time.Time { return time.Now().UTC() },
		instruments: metrics.NewInstruments()}
	runner, err := localexec.New(cfg.JobsDir)
	if err != nil {
		return nil, err
	}
	s.exec = runner
	if s.hosts, err = s.setupFabric(ctx); err != nil {
		return nil, err
	}
	s.ports = map[string][]sm.GUID{}
	for _, h := range s.hosts {
		s.ports[h.Name] = h.Ports
	}
	s.parts = newPartitionController(s)
	s.health = newFabricHealth(s)
	if s.tree, err = topotree.FromFatTree(cfg.Fabric); err != nil {
		return nil, err
	}
	if s.archive, err = openArchive(cfg); err != nil {
		return nil, err
	}
	var peers []cluster.Peer
	for _, p := range cfg.Peers {
		peers = append(peers, cluster.Peer{ID: p.ID, Addr: p.RaftAddr})
	}
	s.cluster, err = cluster.Open(cluster.Config{NodeID: cfg.NodeID, DataDir: filepath.Join(cfg.DataDir, "raft"),
		BindAddr: cfg.RaftAddr, Bootstrap: cfg.Bootstrap && cfg.Join == "", Peers: peers,
		HeartbeatTimeout: cfg.HeartbeatTimeout, ElectionTimeout: cfg.ElectionTimeout,
		SnapshotThreshold: cfg.SnapshotThreshold, SnapshotInterval: cfg.SnapshotInterval, TrailingLogs: cfg.TrailingLogs,
		LogStore: cfg.LogStore, Archive: s.archive}, s.fsm)
	if err != nil {
		s.archive.Close()
		return nil, err
	}
	s.lis, err = net.Listen("tcp", cfg.Listen)
	if err != nil {
		s.cluster.Shutdown()
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	if s.cfg.AdvertiseAPI == "" {
		s.cfg.AdvertiseAPI = s.lis.Addr().String()
	}
	s.fwd = &forwarder{s: s, conns: map[string]*grpc.ClientConn{}}
	s.grpc = grpc.NewServer(grpc.ChainUnaryInterceptor(recoverUnary(s.log), s.fwd.unary, authUnary(s.fsm)))
	pb.RegisterJobsServer(s.grpc, &jobsService{s: s})
	pb.RegisterNodesServer(s.grpc, &nodesService{s: s})
	pb.RegisterTenantsServer(s.grpc, &tenantsService{s: s})
	pb.RegisterServersServer(s.grpc, &serversService{s: s})
	pb.RegisterFleetServer(s.grpc, &fleetService{s: s})
	pb.RegisterTopologyServer(s.grpc, &topologyService{s: s})
	s.agents = newAgentsService(s)
	pb.RegisterLaunchServer(s.grpc, &launchService{s: s})
	go func() {
		if err := s.grpc.Serve(s.lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			s.log.Error("grpc serve", "err", err)
		}
	}()
	if err := s.agents.startAgentListener(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	s.startGossip(ctx)
	if err := s.startHTTP(); err != nil {
		s.Stop()
		return nil, err
	}
	if err := s.bootstrap(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// bootstrap joins a running cluster if asked, waits until some server
// leads, and, if that is this server, runs the leader's set-up at once so
// that a single --dev server is fully usable when Start returns.
func (s *Server) bootstrap(ctx context.Context) error {
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if s.cfg.Join != "" {
		if err := s.joinCluster(wctx); err != nil {
			return err
		}
	}
	if err := s.cluster.WaitForLeader(wctx); err != nil {
		return err
	}
	if s.cfg.Bootstrap && len(s.cfg.Peers) == 0 && s.cfg.Join == "" {
		for !s.cluster.IsLeader() { // a lone server elects itself shortly
			select {
			case <-wctx.Done():
				return errors.New("this server did not become leader")
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	if s.cluster.IsLeader() {
		if err := s.leaderSetup(wctx); err != nil {
			return err
		}
	}
	s.AdminToken = s.readAdminToken()
	return nil
}

// leaderSetup makes sure the admin tenant, this server's address, the
// bootstrap peers' addresses and the simulated nodes are in the state. Every
// step is idempotent; a new leader runs it again.
func (s *Server) leaderSetup(ctx context.Context) error {
	if err := s.cluster.Barrier(ctx); err != nil {
		return err
	}
	if err := s.ensureAdmin(ctx); err != nil {
		return err
	}
	if s.fsm.View().Secrets.CACertPEM == "" {
		sec, err := newClusterSecrets()
		if err != nil {
			return err
		}
		if _, err := s.apply(ctx, &fsm.SetClusterSecrets{Secrets: sec}); err != nil {
			return fmt.Errorf("create cluster CA: %w", err)
		}
	}
	servers := []model.Server{{ID: s.cfg.NodeID, RaftAddr: s.cluster.Addr(), APIAddr: s.cfg.AdvertiseAPI}}
	for _, p := range s.cfg.Peers {
		if p.ID != s.cfg.NodeID && p.APIAddr != "" {
			servers = append(servers, model.Server{ID: p.ID, RaftAddr: p.RaftAddr, APIAddr: p.APIAddr})
		}
	}
	st := s.fsm.View()
	for _, sv := range servers {
		if old, ok := st.Servers[sv.ID]; ok && *old == sv {
			continue
		}
		if _, err := s.apply(ctx, &fsm.RegisterServer{Server: sv}); err != nil {
			return fmt.Errorf("register server %s: %w", sv.ID, err)
		}
	}
	if s.cfg.Simulate {
		var specs []fsm.NodeSpec
		missing := false
		for _, h := range s.hosts {
			specs = append(specs, fsm.NodeSpec{Name: h.Name, Leaf: h.Leaf})
			if n, ok := st.Nodes[h.Name]; !ok || n.Leaf != h.Leaf {
				missing = true
			}
		}
		if missing {
			if _, err := s.apply(ctx, &fsm.RegisterNodes{Nodes: specs, Time: s.now()}); err != nil {
				return fmt.Errorf("register simulated nodes: %w", err)
			}
		}
	}
	return nil
}

// leaderAPI is the leader's API address from the replicated server table.
func (s *Server) leaderAPI() string {
	id, _ := s.cluster.Leader()
	if id == "" {
		return ""
	}
	var addr string
	s.fsm.Read(func(st *fsm.State) {
		if sv, ok := st.Servers[id]; ok {
			addr = sv.APIAddr
		}
	})
	return addr
}

func (s *Server) readAdminToken() string {
	b, err := os.ReadFile(s.cfg.AdminTokenFile)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// ensureAdmin creates the "admin" tenant when the cluster has none, from
// the token in AdminTokenFile, or from a new token written there (mode 0600).
func (s *Server) ensureAdmin(ctx context.Context) error {
	var exists bool
	s.fsm.Read(func(st *fsm.State) { _, exists = st.Tenants["admin"] })
	if exists {
		return nil
	}
	tok := s.readAdminToken()
	if tok == "" {
		tok = NewToken()
		if err := os.WriteFile(s.cfg.AdminTokenFile, []byte(tok+"\n"), 0o600); err != nil {
			return fmt.Errorf("write admin token: %w", err)
		}
	}
	cmd := &fsm.CreateTenant{}
	cmd.Tenant.Name, cmd.Tenant.Admin, cmd.Tenant.TokenHash = "admin", true, HashToken(tok)
	if _, err := s.apply(ctx, cmd); err != nil {
		return fmt.Errorf("create admin tenant: %w", err)
	}
	return nil
}

// Addr is the API's listening address.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// Run serves until ctx ends, running the controllers while this server
// leads.
func (s *Server) Run(ctx context.Context) error {
	var (
		wg         sync.WaitGroup
		stopLeader context.CancelFunc
	)
	startLeader := func() {
		lctx, cancel := context.WithCancel(ctx)
		stopLeader = cancel
		if err := s.leaderSetup(lctx); err != nil {
			s.log.Warn("leader set-up", "err", err)
		}
		c := &controller{s: s, log: s.log.With("component", "controller"), tick: s.cfg.ReconcileEvery,
			failures: map[string]int{}, lastTask: map[string]string{}}
		wg.Add(1)
		go func() { defer wg.Done(); c.run(lctx) }()
		if s.sm != nil {
			wg.Add(1)
			go func() { defer wg.Done(); s.parts.run(lctx) }()
		}
		wg.Add(1)
		go func() { defer wg.Done(); s.liveness(lctx) }()
		wg.Add(1)
		go func() { defer wg.Done(); s.flushCommits(lctx) }()
		if s.health != nil {
			wg.Add(1)
			go func() { defer wg.Done(); s.health.run(lctx) }()
		}
		s.startRetention(lctx, &wg)
	}
	if s.cluster.IsLeader() {
		startLeader()
	}
	leaderCh := s.cluster.LeaderCh()
	for {
		select {
		case <-ctx.Done():
			if stopLeader != nil {
				stopLeader()
			}
			wg.Wait()
			return nil
		case leading := <-leaderCh:
			if leading && stopLeader == nil {
				s.log.Info("became leader")
				startLeader()
			} else if !leading && stopLeader != nil {
				s.log.Warn("lost leadership")
				stopLeader()
				stopLeader = nil
			}
		}
	}
}

// Stop shuts the API and raft down.
func (s *Server) Stop() {
	stopped := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		s.grpc.Stop()
	}
	if s.http != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		s.http.Shutdown(sctx)
		cancel()
	}
	if s.fwd != nil {
		s.fwd.close()
	}
	if gs := s.agentGRPC.Load(); gs != nil {
		gs.Stop()
	} else if s.agentLis != nil {
		s.agentLis.Close()
	}
	s.gossipMu.Lock()
	if s.gossip != nil {
		s.gossip.stop()
	}
	s.gossipMu.Unlock()
	if err := s.cluster.Shutdown(); err != nil {
		s.log.Warn("raft shutdown", "err", err)
	}
	s.archive.Close()
	if s.ibsim != nil {
		s.ibsim.Stop()
	}
}

// apply commits a command through raft.
func (s *Server) apply(ctx context.Context, cmd fsm.Command) (any, error) {
	start := time.Now()
	v, err := s.cluster.Apply(ctx, cmd)
	s.instruments.RaftApply.Observe(time.Since(start).Seconds())
	return v, err
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
