package client

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// jobsServer answers Get with its name in the job name, and lists the
// cluster's servers in the ibex-servers header as ibexd does.
type jobsServer struct {
	pb.UnimplementedJobsServer
	name    string
	servers *string
	leader  *string // when set, answers as a follower that forwarded the call to it (leaderfile_test.go)
}

func (s *jobsServer) Get(ctx context.Context, _ *pb.GetJobRequest) (*pb.Job, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if k := md.Get("ibex-servers-known"); len(k) > 0 && k[0] != "2" {
		_ = grpc.SetHeader(ctx, metadata.Pairs("ibex-servers", *s.servers))
	}
	if s.leader != nil && *s.leader != "" {
		_ = grpc.SetHeader(ctx, metadata.Pairs("ibex-leader-api", *s.leader))
	}
	return &pb.Job{Name: s.name}, nil
}

func serve(t *testing.T, name string, servers *string) (string, *grpc.Server) {
	return serveJobs(t, &jobsServer{name: name, servers: servers})
}

func serveJobs(t *testing.T, js *jobsServer) (string, *grpc.Server) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	pb.RegisterJobsServer(gs, js)
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	return lis.Addr().String(), gs
}

// TestLearnsOtherServers: a client given one address learns the others
// from its first answer and fails over to them when that server dies.
func TestLearnsOtherServers(t *testing.T) {
	var servers string
	a, sa := serve(t, "a", &servers)
	b, _ := serve(t, "b", &servers)
	servers = strings.Join([]string{a, b}, ",")

	c, err := New(a, "tok", WithPlaintext())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if j, err := c.Jobs.Get(ctx, &pb.GetJobRequest{JobId: 1}); err != nil || j.Name != "a" {
		t.Fatalf("first call: %v %v", j, err)
	}
	sa.Stop()
	j, err := c.Jobs.Get(ctx, &pb.GetJobRequest{JobId: 1})
	if err != nil || j.Name != "b" {
		t.Fatalf("after the only configured server died: %v, %v; want the answer of the learned server b", j, err)
	}
}
