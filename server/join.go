package server

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// joinCluster asks a running server (which forwards to the leader) to add
// this one as a voter, retrying until the cluster answers or ctx ends.
func (s *Server) joinCluster(ctx context.Context) error {
	tok := s.readAdminToken()
	if tok == "" {
		return fmt.Errorf("--join needs the cluster's admin token in %s", s.cfg.AdminTokenFile)
	}
	conn, err := grpc.NewClient(s.cfg.Join, grpc.WithTransportCredentials(s.tls.peerCredentials()))
	if err != nil {
		return fmt.Errorf("join %s: %w", s.cfg.Join, err)
	}
	defer conn.Close()
	req := &pb.JoinRequest{Id: s.cfg.NodeID, RaftAddr: s.cluster.Addr(), ApiAddr: s.cfg.AdvertiseAPI}
	for {
		cctx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
		_, err := pb.NewServersClient(conn).Join(cctx, req)
		if err == nil {
			s.log.Info("joined cluster", "via", s.cfg.Join)
			return nil
		}
		s.log.Warn("join failed, retrying", "via", s.cfg.Join, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("join %s: %w", s.cfg.Join, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
