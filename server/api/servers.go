package api

import (
	"context"
	"sort"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/auth"
	"github.com/ibex-hpc/ibex/server/convert"
)

type serversService struct {
	pb.UnimplementedServersServer
	a *API
}

func (v *serversService) List(ctx context.Context, _ *pb.ListServersRequest) (*pb.ListServersResponse, error) {
	if err := auth.RequireAdmin(ctx); err != nil {
		return nil, err
	}
	return v.list()
}

func (v *serversService) list() (*pb.ListServersResponse, error) {
	members, err := v.a.cfg.Cluster.Members()
	if err != nil {
		return nil, convert.Status(err)
	}
	apiAddr := map[string]string{}
	v.a.cfg.Store.Read(func(st *fsm.State) {
		for id, sv := range st.Servers {
			apiAddr[id] = sv.APIAddr
		}
	})
	out := &pb.ListServersResponse{}
	for _, m := range members {
		info := &pb.ServerInfo{Id: m.ID, RaftAddr: m.Addr, Leader: m.Leader, Suffrage: "nonvoter"}
		if m.Voter {
			info.Suffrage = "voter"
		}
		info.ApiAddr = apiAddr[m.ID]
		out.Servers = append(out.Servers, info)
	}
	sort.Slice(out.Servers, func(i, j int) bool { return out.Servers[i].Id < out.Servers[j].Id })
	return out, nil
}

func (v *serversService) Join(ctx context.Context, req *pb.JoinRequest) (*pb.ListServersResponse, error) {
	if err := auth.RequireAdmin(ctx); err != nil {
		return nil, err
	}
	if req.Id == "" || req.RaftAddr == "" || req.ApiAddr == "" {
		return nil, status.Error(codes.InvalidArgument, "join needs id, raft_addr and api_addr")
	}
	if err := v.a.cfg.Cluster.Join(req.Id, req.RaftAddr); err != nil {
		return nil, convert.Status(err)
	}
	if _, err := v.a.cfg.Store.Apply(ctx, &fsm.RegisterServer{Server: model.Server{ID: req.Id, RaftAddr: req.RaftAddr, APIAddr: req.ApiAddr}}); err != nil {
		return nil, convert.Status(err)
	}
	return v.list()
}

func (v *serversService) Remove(ctx context.Context, req *pb.RemoveServerRequest) (*pb.ListServersResponse, error) {
	if err := auth.RequireAdmin(ctx); err != nil {
		return nil, err
	}
	members, err := v.a.cfg.Cluster.Members()
	if err != nil {
		return nil, convert.Status(err)
	}
	found := false
	for _, m := range members {
		found = found || m.ID == req.Id
	}
	if !found {
		return nil, status.Errorf(codes.NotFound, "server %q is not a member", req.Id)
	}
	if err := v.a.cfg.Cluster.Remove(req.Id); err != nil {
		return nil, convert.Status(err)
	}
	if _, err := v.a.cfg.Store.Apply(ctx, &fsm.DeregisterServer{ID: req.Id}); err != nil {
		return nil, convert.Status(err)
	}
	return v.list()
}

func (v *serversService) Local(ctx context.Context, _ *pb.LocalRequest) (*pb.LocalStatus, error) {
	if err := auth.RequireAdmin(ctx); err != nil {
		return nil, err
	}
	leader, _ := v.a.cfg.Cluster.Leader()
	out := &pb.LocalStatus{Id: v.a.cfg.NodeID, Leader: v.a.cfg.Cluster.IsLeader(), LeaderId: leader}
	v.a.cfg.Store.Read(func(st *fsm.State) {
		out.AppliedIndex, out.StateHash, out.Jobs = st.Index, st.Hash(), uint64(len(st.Jobs))
	})
	return out, nil
}
