// Package server is ibexd's wiring: it opens the replicated state
// (raft/cluster over raft/fsm), serves the API (server/api, server/launch)
// and the agents (server/agentgw), and runs the leader's loops
// (server/control) while this server leads. Those packages see the state
// only through the replica.Store seam; the hardware (subnet manager, fabric
// health, node executor) is chosen by cmd/ibexd and handed in.
package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	grpchealth "google.golang.org/grpc/health"
	"google.golang.org/grpc/test/bufconn"

	"github.com/ibex-hpc/ibex/fabric/health"
	"github.com/ibex-hpc/ibex/fabric/pkeypool"
	"github.com/ibex-hpc/ibex/fabric/sm"
	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/archive"
	"github.com/ibex-hpc/ibex/raft/cluster"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/scheduler"
	"github.com/ibex-hpc/ibex/server/agentgw"
	"github.com/ibex-hpc/ibex/server/api"
	"github.com/ibex-hpc/ibex/server/auth"
	"github.com/ibex-hpc/ibex/server/control"
	"github.com/ibex-hpc/ibex/server/fabricview"
	"github.com/ibex-hpc/ibex/server/launch"
	"github.com/ibex-hpc/ibex/server/metrics"
	"github.com/ibex-hpc/ibex/server/replica"
	"github.com/ibex-hpc/ibex/server/secretkey"
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
	// AgentListen serves node agents (enrollment and the task stream) with
	// TLS from the cluster CA; empty disables agents.
	AgentListen string
	// GossipBind is this server's memberlist address; GossipSeeds other
	// servers' (agents get both from enrollment). Gossip timings tune how
	// fast a dead agent's node is marked down.
	GossipBind  string
	GossipSeeds []string
	Gossip      agentgw.GossipTimings
	// DefaultImage ("name:version" from the catalog), when set, is written
	// to every agent node during cleaning, with its digest verified.
	DefaultImage string
	// FirmwarePins is the HCA firmware policy agents enforce.
	FirmwarePins []control.FirmwarePin
	// HeartbeatTimeout and ElectionTimeout tune failover (see raft/cluster).
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration
	// SnapshotThreshold, SnapshotInterval and TrailingLogs control log
	// compaction (see raft/cluster.Config).
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
	// HealthEvery is how often the leader samples fabric health (port
	// state and counters) with Health; default 30 s.
	HealthEvery time.Duration
	// LogStore is "wal" (default), "raftwal" or "bolt"; see raft/cluster.
	LogStore string
	// NoGroupCommit commits every write as its own raft entry (raft/cluster
	// group commit off), for comparison benchmarks.
	NoGroupCommit bool
	// Simulate registers Hosts as the cluster's nodes (simulated nodes
	// whose processes Exec runs); Fabric is the fat tree they sit on, the
	// scheduling tree until a topology is imported. Without Simulate the
	// nodes are real machines: those whose agents enrolled (realmode.go),
	// and Fabric and Hosts must be empty.
	Simulate bool
	Fabric   topology.FatTree
	Hosts    []fabricview.Host
	// Exec runs the processes of nodes that have no agent: ctlexec's local
	// runner for simulated nodes without agents (--sim-agents=false); nil
	// on real clusters. Nodes with an enrolled agent are always reached
	// through it (route.go).
	Exec control.Executor
	// Launcher starts processes inside running jobs (ibex exec, run,
	// mpirun) on nodes without an agent (nodeexec.Local); nil: only
	// through agents.
	Launcher launch.Runner
	// SM drives the subnet manager's partitions; nil means no partitions.
	SM sm.Driver
	// Health reads port state and counters; nil means no fabric health.
	Health *health.Collector
	// Keys is the partition-key policy (pool, cool-down, one per tenant).
	Keys pkeypool.Pool
	// Isolation is the link-isolation policy for every multi-node job
	// ("links" or ""; api.Config.Isolation).
	Isolation string
	// Policy names the scheduling policy (scheduler.PolicyByName; ""
	// is "ibex").
	Policy string
	// JobRetention is how long finished jobs and old hygiene-ledger
	// entries stay in the replicated state before they move to each
	// server's archive (retention.go); 0 keeps them forever.
	JobRetention time.Duration
	// TaskTimeout is how long a hygiene task (erase, image, firmware) may
	// go without a result before the leader records it interrupted and
	// tries again (0: control.DefaultTaskTimeout).
	TaskTimeout time.Duration
	// SecretsKeyFile is the key-encryption key file that seals the cluster
	// CA key, the gossip key and BMC logins (secrets.go, clustersecrets.go);
	// default DataDir/secrets.key.
	SecretsKeyFile string
	// ReconcileEvery is the controllers' tick (they also run on every state
	// change); default 200 ms.
	ReconcileEvery time.Duration
	Logger         *slog.Logger

	// TLS (tls.go). Plaintext serves the API and talks to other servers
	// (forwarding, join, raft) without TLS; Validate refuses it on an
	// address that is not loopback unless Insecure is set too.
	Plaintext, Insecure bool
	// TLSCertFile and TLSKeyFile, when set, are the API's certificate for
	// clients that do not pin the cluster CA; TLSSANs are extra names
	// (DNS or IP) for the certificate the cluster CA issues this server.
	TLSCertFile, TLSKeyFile string
	TLSSANs                 []string
	// ClusterCAFile is the CA servers bootstrapping together with Peers
	// share; default cluster-ca.pem next to AdminTokenFile.
	ClusterCAFile string
	// JoinCAPin is the cluster CA's pin ("sha256:..."): a joining server
	// sends the admin token to Join only if that server proves it.
	JoinCAPin string
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
	if c.Join != "" && len(c.Peers) > 0 {
		return errors.New("use either a peer list or --join, not both")
	}
	if c.ClusterCAFile == "" {
		c.ClusterCAFile = filepath.Join(filepath.Dir(c.AdminTokenFile), "cluster-ca.pem")
	}
	if err := c.checkPlaintext(); err != nil {
		return err
	}
	var err error
	if c.Keys, err = c.Keys.WithDefaults(); err != nil {
		return err
	}
	if c.HealthEvery == 0 {
		c.HealthEvery = 30 * time.Second
	}
	if c.Gossip.ProbeInterval == 0 {
		c.Gossip = agentgw.DefaultGossipTimings
	}
	if c.ReconcileEvery == 0 {
		c.ReconcileEvery = 200 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if !c.Simulate {
		return c.validateReal()
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
	store       *store
	fabric      *fabricview.View
	api         *api.API
	agents      *agentgw.Gateway
	loops       *control.Loops // the leader's loops; their readers answer on any server
	bmcs        *control.RedfishBMCs
	instruments *metrics.Instruments
	archive     *archive.Archive // expired records (retention.go)
	tls         *serverTLS       // nil: plaintext
	grpc        *grpc.Server
	lis         net.Listener
	http        *http.Server
	httpLis     net.Listener
	log         *slog.Logger

	// REST, health and reflection (restapi.go).
	health      *grpchealth.Server
	healthNames []string
	healthStop  chan struct{}
	healthDone  chan struct{}
	inproc      *bufconn.Listener
	restConn    *grpc.ClientConn

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
	// Private whatever it was before: it holds the admin token, the raft
	// log with the cluster's secrets, and the archive.
	if err := cluster.PrivateDir(cfg.DataDir); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	policy, err := scheduler.PolicyByName(cmp.Or(cfg.Policy, "ibex"))
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, fsm: fsm.New(), log: cfg.Logger, instruments: metrics.NewInstruments(), bmcs: &control.RedfishBMCs{}}
	secrets, err := loadSecrets(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if s.archive, err = openArchive(cfg); err != nil {
		return nil, err
	}
	if s.tls, err = setupTLS(ctx, cfg, s.readAdminToken); err != nil {
		s.archive.Close()
		return nil, err
	}
	s.announceTLS()
	var peers []cluster.Peer
	for _, p := range cfg.Peers {
		peers = append(peers, cluster.Peer{ID: p.ID, Addr: p.RaftAddr})
	}
	s.cluster, err = cluster.Open(cluster.Config{NodeID: cfg.NodeID, DataDir: filepath.Join(cfg.DataDir, "raft"),
		BindAddr: cfg.RaftAddr, Bootstrap: cfg.Bootstrap && cfg.Join == "", Peers: peers,
		HeartbeatTimeout: cfg.HeartbeatTimeout, ElectionTimeout: cfg.ElectionTimeout,
		SnapshotThreshold: cfg.SnapshotThreshold, SnapshotInterval: cfg.SnapshotInterval, TrailingLogs: cfg.TrailingLogs,
		LogStore: cfg.LogStore, NoGroupCommit: cfg.NoGroupCommit, Archive: s.archive, TLS: s.tls.raftTLS(), Logger: cluster.SlogLogger(cfg.Logger, slog.LevelInfo)}, s.fsm)
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
	s.store = &store{fsm: s.fsm, cluster: s.cluster, instruments: s.instruments, server: cfg.NodeID, keys: secrets}
	if s.fabric, err = fabricview.New(s.store, cfg.Fabric, cfg.Hosts, s.log); err != nil {
		s.lis.Close()
		s.cluster.Shutdown()
		return nil, err
	}
	s.agents, err = agentgw.Start(ctx, agentgw.Config{Store: s.store, Listen: cfg.AgentListen, NodeID: cfg.NodeID,
		GossipBind: cfg.GossipBind, GossipSeeds: cfg.GossipSeeds, Gossip: cfg.Gossip, Log: s.log})
	if err != nil {
		s.lis.Close()
		s.cluster.Shutdown()
		return nil, err
	}
	exec := routedExec{store: s.store, agents: agentgw.NewExecutor(s.agents), local: cfg.Exec}
	s.loops = control.New(control.Config{Store: s.store, Fabric: s.fabric, SM: cfg.SM, Exec: exec,
		Agents: s.agents, Gossip: s.agents, Health: cfg.Health, Keys: cfg.Keys, Metrics: s.instruments,
		Log: s.log, DefaultImage: cfg.DefaultImage, FirmwarePins: cfg.FirmwarePins,
		Tick: cfg.ReconcileEvery, HealthEvery: cfg.HealthEvery, BMCs: s.bmcs, Secrets: secrets, TaskTimeout: cfg.TaskTimeout,
		Policy: policy})
	apiCfg := api.Config{Store: s.store, Cluster: s.cluster, NodeID: cfg.NodeID, Fabric: s.fabric,
		Outputs: exec, Agents: s.agents, Archive: archiveLookup{s}, RealNodes: !cfg.Simulate, Secrets: secrets, Log: s.log,
		PeerCredentials: s.tls.peerCredentials(), Isolation: cfg.Isolation, NoIsolation: sm.RoutesRefusal(cfg.SM)}
	if s.loops.Health != nil {
		apiCfg.Health = s.loops.Health.Report
	}
	if s.loops.Routes != nil {
		apiCfg.Routes = s.loops.Routes.Report
	}
	s.api = api.New(apiCfg)
	s.grpc = grpc.NewServer(append(append(s.tls.grpcServerOptions(), hotPathServerOptions()...), grpc.UnaryInterceptor(s.unaryInterceptor()))...)
	s.api.Register(s.grpc)
	launcher := routedLauncher{store: s.store, agents: s.agents, local: cfg.Launcher}
	pb.RegisterLaunchServer(s.grpc, launch.New(launch.Config{Store: s.store, Exec: launcher, AdvertiseAPI: s.cfg.AdvertiseAPI,
		LeaderAPI: s.api.LeaderAPI, Log: s.log, PeerCredentials: s.tls.peerCredentials(), ClientEnv: s.tls.clientEnv()}))
	s.startGRPCExtras()
	go func() {
		if err := s.grpc.Serve(s.lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			s.log.Error("grpc serve", "err", err)
		}
	}()
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
	if err := s.setupClusterSecrets(ctx); err != nil {
		return err
	}
	servers := []model.Server{{ID: s.cfg.NodeID, RaftAddr: s.cluster.Addr(), APIAddr: s.cfg.AdvertiseAPI}}
	for _, p := range s.cfg.Peers {
		if p.ID != s.cfg.NodeID && p.APIAddr != "" {
			servers = append(servers, model.Server{ID: p.ID, RaftAddr: p.RaftAddr, APIAddr: p.APIAddr})
		}
	}
	for _, sv := range servers {
		var same bool
		s.fsm.Read(func(st *fsm.State) { old, ok := st.Servers[sv.ID]; same = ok && *old == sv })
		if same {
			continue
		}
		if _, err := s.store.Apply(ctx, &fsm.RegisterServer{Server: sv}); err != nil {
			return fmt.Errorf("register server %s: %w", sv.ID, err)
		}
	}
	if s.cfg.Simulate {
		var specs []fsm.NodeSpec
		missing := false
		s.fsm.Read(func(st *fsm.State) {
			for _, h := range s.cfg.Hosts {
				specs = append(specs, fsm.NodeSpec{Name: h.Name, Leaf: h.Leaf})
				if n, ok := st.Nodes[h.Name]; !ok || n.Leaf != h.Leaf {
					missing = true
				}
			}
		})
		if missing {
			if _, err := s.store.Apply(ctx, &fsm.RegisterNodes{Nodes: specs, Time: s.store.Now()}); err != nil {
				return fmt.Errorf("register simulated nodes: %w", err)
			}
		}
	}
	return nil
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
		tok = auth.NewToken()
		if err := os.WriteFile(s.cfg.AdminTokenFile, []byte(tok+"\n"), 0o600); err != nil {
			return fmt.Errorf("write admin token: %w", err)
		}
	}
	cmd := &fsm.CreateTenant{}
	cmd.Tenant.Name, cmd.Tenant.Admin, cmd.Tenant.TokenHash = "admin", true, auth.HashToken(tok)
	if _, err := s.store.Apply(ctx, cmd); err != nil {
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
		wg.Add(2)
		go func() { defer wg.Done(); s.loops.Run(lctx) }()
		go func() { defer wg.Done(); s.flushCommits(lctx) }()
		s.startRetention(lctx, &wg)
	}
	wg.Add(1)
	go func() { defer wg.Done(); s.maintainTLS(ctx) }()
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
	s.stopGRPCExtras()
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
	if s.restConn != nil {
		s.restConn.Close()
	}
	if s.api != nil {
		s.api.Close()
	}
	if s.agents != nil {
		s.agents.Stop()
	}
	s.bmcs.Close()
	if err := s.cluster.Shutdown(); err != nil {
		s.log.Warn("raft shutdown", "err", err)
	}
	s.archive.Close()
}

// store is the replica.Store of a running server: raft for writes (timed
// for /metrics), the local FSM for reads.
type store struct {
	fsm         *fsm.FSM
	cluster     *cluster.Cluster
	instruments *metrics.Instruments
	// server is this server's raft id, stamped into the commands it
	// commits as leader: the ledger names it (fsm.Origin).
	server string
	keys   *secretkey.Keyring // opens the cluster secrets (clustersecrets.go)
}

func (st *store) Apply(ctx context.Context, cmd fsm.Command) (any, error) {
	fsm.Stamp(cmd, st.server)
	start := time.Now()
	v, err := st.cluster.Apply(ctx, cmd)
	st.instruments.RaftApply.Observe(time.Since(start).Seconds())
	return v, err
}
func (st *store) Read(fn func(*fsm.State)) { st.fsm.Read(fn) }
func (st *store) Work(depth int) *fsm.Work { return st.fsm.Work(depth) }
func (st *store) Changed() <-chan struct{} { return st.fsm.Changed() }
func (st *store) IsLeader() bool           { return st.cluster.IsLeader() }
func (st *store) Term() uint64             { return st.cluster.Term() }
func (st *store) Now() time.Time           { return time.Now().UTC() }

var _ replica.Store = (*store)(nil)

// The agents start processes in jobs on real nodes.
var _ launch.Runner = (*agentgw.Gateway)(nil)
