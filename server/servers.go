package server

import (
	"context"
	"sort"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

type serversService struct {
	pb.UnimplementedServersServer
	s *Server
}

func (v *serversService) List(ctx context.Context, _ *pb.ListServersRequest) (*pb.ListServersResponse, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	return v.list()
}

func (v *serversService) list() (*pb.ListServersResponse, error) {
	members, err := v.s.cluster.Members()
	if err != nil {
		return nil, toStatus(err)
	}
	st := v.s.fsm.View()
	out := &pb.ListServersResponse{}
	for _, m := range members {
		info := &pb.ServerInfo{Id: m.ID, RaftAddr: m.Addr, Leader: m.Leader, Suffrage: "nonvoter"}
		if m.Voter {
			info.Suffrage = "voter"
		}
		if sv, ok := st.Servers[m.ID]; ok {
			info.ApiAddr = sv.APIAddr
		}
		out.Servers = append(out.Servers, info)
	}
	sort.Slice(out.Servers, func(i, j int) bool { return out.Servers[i].Id < out.Servers[j].Id })
	return out, nil
}

func (v *serversService) Join(ctx context.Context, req *pb.JoinRequest) (*pb.ListServersResponse, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	if req.Id == "" || req.RaftAddr == "" || req.ApiAddr == "" {
		return nil, status.Error(codes.InvalidArgument, "join needs id, raft_addr and api_addr")
	}
	if err := v.s.cluster.Join(req.Id, req.RaftAddr); err != nil {
		return nil, toStatus(err)
	}
	if _, err := v.s.apply(ctx, &fsm.RegisterServer{Server: model.Server{ID: req.Id, RaftAddr: req.RaftAddr, APIAddr: req.ApiAddr}}); err != nil {
		return nil, toStatus(err)
	}
	return v.list()
}

func (v *serversService) Remove(ctx context.Context, req *pb.RemoveServerRequest) (*pb.ListServersResponse, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	members, err := v.s.cluster.Members()
	if err != nil {
		return nil, toStatus(err)
	}
	found := false
	for _, m := range members {
		found = found || m.ID == req.Id
	}
	if !found {
		return nil, status.Errorf(codes.NotFound, "server %q is not a member", req.Id)
	}
	if err := v.s.cluster.Remove(req.Id); err != nil {
		return nil, toStatus(err)
	}
	if _, err := v.s.apply(ctx, &fsm.DeregisterServer{ID: req.Id}); err != nil {
		return nil, toStatus(err)
	}
	return v.list()
}

func (v *serversService) Local(ctx context.Context, _ *pb.LocalRequest) (*pb.LocalStatus, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	st := v.s.fsm.View()
	leader, _ := v.s.cluster.Leader()
	return &pb.LocalStatus{Id: v.s.cfg.NodeID, Leader: v.s.cluster.IsLeader(), LeaderId: leader,
		AppliedIndex: st.Index, StateHash: st.Hash(), Jobs: uint64(len(st.Jobs))}, nil
}
