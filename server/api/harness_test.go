package api

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/cluster"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/auth"
	"github.com/ibex-hpc/ibex/server/fabricview"
	"github.com/ibex-hpc/ibex/server/replica"
)

// soleLeader is the Membership of a one-server cluster that leads.
type soleLeader struct{}

func (soleLeader) IsLeader() bool                     { return true }
func (soleLeader) Leader() (string, string)           { return "s1", "" }
func (soleLeader) ReadIndex(context.Context) error    { return nil }
func (soleLeader) Members() ([]cluster.Member, error) { return nil, nil }
func (soleLeader) Join(string, string) error          { return nil }
func (soleLeader) Remove(string) error                { return nil }

// apiHarness serves the API over real gRPC on loopback, with the real
// interceptors, in front of replica.Memory and a fat tree of fat.
type apiHarness struct {
	store *replica.Memory
	api   *API
	conn  *grpc.ClientConn
	jobs  pb.JobsClient
	nodes pb.NodesClient
	fleet pb.FleetClient
	token string // alice's
	admin string // root's, an admin
}

func newAPIHarness(t testing.TB, fat topology.FatTree) *apiHarness {
	t.Helper()
	store := replica.NewMemory()
	var hosts []fabricview.Host
	var specs []fsm.NodeSpec
	for _, h := range fat.Hosts() {
		hosts = append(hosts, fabricview.Host{Host: h})
		specs = append(specs, fsm.NodeSpec{Name: h.Name, Leaf: h.Leaf})
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	view, err := fabricview.New(store, fat, hosts, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	token, admin := auth.NewToken(), auth.NewToken()
	for _, cmd := range []fsm.Command{
		&fsm.RegisterNodes{Nodes: specs, Time: store.Now()},
		&fsm.CreateTenant{Tenant: model.Tenant{Name: "alice", TokenHash: auth.HashToken(token)}},
		&fsm.CreateTenant{Tenant: model.Tenant{Name: "bob", TokenHash: auth.HashToken(auth.NewToken())}},
		&fsm.CreateTenant{Tenant: model.Tenant{Name: "root", TokenHash: auth.HashToken(admin), Admin: true}},
	} {
		if _, err := store.Apply(ctx, cmd); err != nil {
			t.Fatal(err)
		}
	}
	a := New(Config{Store: store, Cluster: soleLeader{}, NodeID: "s1", Fabric: view, Log: log})
	gs := grpc.NewServer(grpc.ChainUnaryInterceptor(a.Interceptors()...))
	a.Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(lis)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); gs.Stop(); a.Close() })
	store.Applied()
	return &apiHarness{store: store, api: a, conn: conn, jobs: pb.NewJobsClient(conn), nodes: pb.NewNodesClient(conn), fleet: pb.NewFleetClient(conn),
		token: token, admin: admin}
}

// adminCtx is a call context carrying root's (admin) token.
func (h *apiHarness) adminCtx() context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+h.admin)
}

// ctx is a call context carrying alice's token.
func (h *apiHarness) ctx() context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+h.token)
}

func (h *apiHarness) apply(t *testing.T, cmd fsm.Command) any {
	t.Helper()
	v, err := h.store.Apply(context.Background(), cmd)
	if err != nil {
		t.Fatalf("%T: %v", cmd, err)
	}
	return v
}
