package launch

import (
	"errors"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// Metadata of the cluster protocol, as server/api's forwarder of unary
// calls sets them.
const (
	// mdForwarded marks a request a follower forwarded, so it is never
	// forwarded twice: a leader that just lost its role answers
	// Unavailable instead.
	mdForwarded = "ibex-forwarded"
	// mdLeaderHint, a response header, names the leader's API address.
	mdLeaderHint = "ibex-leader-api"
)

// forward relays an Exec that reached a follower to the leader, whose
// agent gateway holds the nodes' streams, and the leader's answer back:
// callers need not know which server leads. The leader authenticates the
// caller; the caller's metadata (its token) goes along unchanged.
func (l *launchService) forward(req *pb.ExecRequest, stream pb.Launch_ExecServer) error {
	ctx := stream.Context()
	md, _ := metadata.FromIncomingContext(ctx)
	if len(md.Get(mdForwarded)) > 0 {
		return status.Error(codes.Unavailable, "not the leader (forwarded request); retry")
	}
	addr := ""
	if l.cfg.LeaderAPI != nil {
		addr = l.cfg.LeaderAPI()
	}
	if addr == "" {
		return status.Error(codes.Unavailable, "no leader elected yet; retry shortly")
	}
	conn, err := l.leaderConn(addr)
	if err != nil {
		return status.Errorf(codes.Unavailable, "connect to leader at %s: %v", addr, err)
	}
	out := metadata.NewOutgoingContext(ctx, md.Copy())
	out = metadata.AppendToOutgoingContext(out, mdForwarded, "1")
	up, err := pb.NewLaunchClient(conn).Exec(out, req)
	if err != nil {
		return err
	}
	_ = stream.SetHeader(metadata.Pairs(mdLeaderHint, addr))
	for {
		m, err := up.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(m); err != nil {
			return err // the caller went away; ctx ends the leader's call
		}
	}
}

func (l *launchService) leaderConn(addr string) (*grpc.ClientConn, error) {
	l.connMu.Lock()
	defer l.connMu.Unlock()
	if c, ok := l.conns[addr]; ok {
		return c, nil
	}
	creds := l.cfg.PeerCredentials
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, err
	}
	l.conns[addr] = c
	return c, nil
}
