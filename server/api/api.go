// Package api is ibexd's gRPC API for tenants and operators: jobs, nodes,
// tenants, servers, the fleet of agents and images, and the fabric
// topology. Every call is authenticated (server/auth); writes and
// consistent reads that reach a follower are forwarded to the leader.
package api

import (
	"context"
	"log/slog"
	"sort"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/cluster"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/auth"
	"github.com/ibex-hpc/ibex/server/fabricview"
	"github.com/ibex-hpc/ibex/server/replica"
	"github.com/ibex-hpc/ibex/server/secretkey"
)

// Membership is raft's view of the servers (raft/cluster.Cluster).
type Membership interface {
	IsLeader() bool
	Leader() (id, addr string)
	ReadIndex(ctx context.Context) error
	Members() ([]cluster.Member, error)
	Join(id, addr string) error
	Remove(id string) error
}

// Outputs reads a job's output on a node (on real nodes, from the node's
// agent, which only the leader's gateway reaches).
type Outputs interface {
	// Output is at most max bytes from the end of the output.
	Output(jobID uint64, node string, max int64) ([]byte, error)
	// ReadOutput is at most max bytes from offset; eof says nothing more
	// was written so far.
	ReadOutput(ctx context.Context, jobID uint64, node string, offset int64, max int) (data []byte, eof bool, err error)
}

// Agents is what the API shows of the agent gateway.
type Agents interface {
	Connected(node string) bool
	Progress(node string) *pb.TaskProgress
	Addrs() []string
	GossipSeeds() []string
}

// Archive answers for records that left the live state (--job-retention).
type Archive interface {
	// Job returns an archived job the caller may see, else miss.
	Job(ctx context.Context, id uint64, miss error) (*pb.Job, error)
	// Ledger is the node's latest archived ledger entries.
	Ledger(node string) []*pb.LedgerEntry
	// Jobs lists archived jobs that ended in [from, to) after the cursor
	// (end, id) in (end, id) order, at most limit; the returned cursor is
	// zero at the end.
	Jobs(from, to, afterEnd time.Time, afterID uint64, limit int) ([]*model.Job, time.Time, uint64, error)
	// Warning says what this server's archive misses, or "".
	Warning() string
}

// Config is what the services need.
type Config struct {
	Store   replica.Store
	Cluster Membership
	// NodeID is this server's raft id (it marks forwarded requests).
	NodeID  string
	Fabric  *fabricview.View
	Outputs Outputs
	Agents  Agents
	// Archive, when set, answers for jobs and ledger entries no longer live.
	Archive Archive
	// Health returns the last fabric-health report (nil: not monitored).
	Health func() *pb.FabricHealthReport
	// Routes returns the link-isolation routing state (nil: the subnet
	// manager cannot load forwarding tables).
	Routes func() *pb.IsolationRoutes
	// RealNodes: the nodes are real machines, created by their agents'
	// enrollment (a join token may name a new node) and placed by their
	// port GUIDs on the imported topology, whose hosts are not registered
	// as nodes.
	RealNodes bool
	// Secrets seals BMC logins (nil: BMCs cannot be registered here).
	Secrets *secretkey.Keyring
	Log     *slog.Logger
	// PeerCredentials dial the leader's API when forwarding: mutual TLS
	// with this server's certificate (server/tls.go); nil is plaintext.
	PeerCredentials credentials.TransportCredentials
	// Isolation is the cluster's link-isolation policy: "links" makes
	// every multi-node job link-isolated (isolation.go); "" leaves it to
	// each job.
	Isolation string
	// NoIsolation, when set, is why the subnet manager can never enforce
	// link isolation (sm.RoutesRefusal: UFM): isolated jobs are refused.
	NoIsolation string
}

// API is the set of services with their forwarder.
type API struct {
	cfg Config
	fwd *forwarder
}

// New builds the services.
func New(cfg Config) *API {
	a := &API{cfg: cfg}
	a.fwd = &forwarder{a: a, conns: map[string]*grpc.ClientConn{}}
	return a
}

// Interceptors are the unary interceptors, in order: recover panics,
// forward to the leader, authenticate.
func (a *API) Interceptors() []grpc.UnaryServerInterceptor {
	return []grpc.UnaryServerInterceptor{recoverUnary(a.cfg.Log), a.fwd.unary, auth.Unary(a.cfg.Store)}
}

// Register adds every service to gs.
func (a *API) Register(gs *grpc.Server) {
	pb.RegisterJobsServer(gs, &jobsService{a: a})
	pb.RegisterNodesServer(gs, &nodesService{a: a})
	pb.RegisterTenantsServer(gs, &tenantsService{a: a})
	pb.RegisterServersServer(gs, &serversService{a: a})
	pb.RegisterFleetServer(gs, &fleetService{a: a})
	pb.RegisterTopologyServer(gs, &topologyService{a: a})
}

// Close closes the connections to the leader.
func (a *API) Close() { a.fwd.close() }

// LeaderAPI is the leader's API address from the replicated server table.
func (a *API) LeaderAPI() string {
	id, _ := a.cfg.Cluster.Leader()
	if id == "" {
		return ""
	}
	var addr string
	a.cfg.Store.Read(func(st *fsm.State) {
		if sv, ok := st.Servers[id]; ok {
			addr = sv.APIAddr
		}
	})
	return addr
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
