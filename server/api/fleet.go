package api

import (
	"context"
	"encoding/json"
	"math"
	"sort"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/auth"
	"github.com/ibex-hpc/ibex/server/convert"
	"github.com/ibex-hpc/ibex/server/pki"
)

// fleetService is the operators' API for agents, images and hygiene.
type fleetService struct {
	pb.UnimplementedFleetServer
	a *API
}

func (f *fleetService) CreateJoinToken(ctx context.Context, req *pb.CreateJoinTokenRequest) (*pb.CreateJoinTokenResponse, error) {
	if err := auth.RequireAdmin(ctx); err != nil {
		return nil, err
	}
	ttl := time.Hour
	if req.Ttl != nil {
		ttl = req.Ttl.AsDuration()
	}
	if ttl <= 0 || ttl > 7*24*time.Hour {
		return nil, status.Error(codes.InvalidArgument, "ttl must be within 0..7 days")
	}
	tok := auth.NewToken()
	cmd := &fsm.CreateJoinToken{Node: req.Node, Hash: auth.HashToken(tok), Expires: f.a.cfg.Store.Now().Add(ttl), Register: f.a.cfg.RealNodes}
	if _, err := f.a.cfg.Store.Apply(ctx, cmd); err != nil {
		return nil, convert.Status(err)
	}
	c, err := pki.Current(f.a.cfg.Store)
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	resp := &pb.CreateJoinTokenResponse{Token: tok, CaPin: c.Pin()}
	if f.a.cfg.Agents != nil {
		resp.GossipSeeds, resp.AgentAddrs = f.a.cfg.Agents.GossipSeeds(), f.a.cfg.Agents.Addrs()
	}
	return resp, nil
}

func (f *fleetService) Revoke(ctx context.Context, req *pb.RevokeRequest) (*pb.Node, error) {
	if err := auth.RequireAdmin(ctx); err != nil {
		return nil, err
	}
	if req.Reason == "" {
		return nil, status.Error(codes.InvalidArgument, "revoke needs a reason")
	}
	if _, err := f.a.cfg.Store.Apply(ctx, &fsm.RevokeAgent{Node: req.Node, Reason: req.Reason, By: auth.Caller(ctx).Name, Time: f.a.cfg.Store.Now()}); err != nil {
		return nil, convert.Status(err)
	}
	return (&nodesService{a: f.a}).get(req.Node)
}

func (f *fleetService) AddImage(ctx context.Context, req *pb.Image) (*pb.Image, error) {
	if err := auth.RequireAdmin(ctx); err != nil {
		return nil, err
	}
	if req.Size > math.MaxInt64 {
		return nil, status.Errorf(codes.InvalidArgument, "image size %d is too large", req.Size)
	}
	m := model.Image{Name: req.Name, Version: req.Version, Size: int64(req.Size), SHA256: req.Sha256, SourceURL: req.SourceUrl}
	if err := m.Validate(); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if _, err := f.a.cfg.Store.Apply(ctx, &fsm.AddImage{Image: m}); err != nil {
		return nil, convert.Status(err)
	}
	return req, nil
}

func (f *fleetService) ListImages(ctx context.Context, _ *pb.ListImagesRequest) (*pb.ListImagesResponse, error) {
	out := &pb.ListImagesResponse{}
	f.a.cfg.Store.Read(func(st *fsm.State) {
		for _, ref := range sortedKeys(st.Images) {
			i := st.Images[ref]
			out.Images = append(out.Images, &pb.Image{Name: i.Name, Version: i.Version, Size: uint64(i.Size), Sha256: i.SHA256, SourceUrl: i.SourceURL})
		}
	})
	return out, nil
}

func (f *fleetService) NodeDetail(ctx context.Context, req *pb.NodeDetailRequest) (*pb.NodeDetailResponse, error) {
	if err := auth.RequireAdmin(ctx); err != nil {
		return nil, err
	}
	node, err := (&nodesService{a: f.a}).get(req.Node)
	if err != nil {
		return nil, err
	}
	var n model.Node
	var ledger []model.LedgerEntry
	f.a.cfg.Store.Read(func(st *fsm.State) {
		if found := st.Nodes[req.Node]; found != nil {
			n = *found
		}
		ledger = append(ledger, st.Ledger[req.Node]...)
	})
	out := &pb.NodeDetailResponse{Node: node, Image: n.Image}
	if n.Inventory != "" {
		inv := &pb.HardwareInventory{}
		if json.Unmarshal([]byte(n.Inventory), inv) == nil {
			out.Inventory = inv
		}
	}
	switch {
	case n.Agent == nil:
		out.Agent = "not enrolled"
	case n.Agent.Revoked:
		out.Agent = "revoked"
	case f.a.cfg.Agents != nil && f.a.cfg.Agents.Connected(n.Name):
		out.Agent = "connected"
	default:
		out.Agent = "enrolled, not connected to this server"
	}
	if f.a.cfg.Archive != nil {
		out.Ledger = f.a.cfg.Archive.Ledger(req.Node) // older entries, expired from the state
	}
	for _, e := range ledger {
		out.Ledger = append(out.Ledger, &pb.LedgerEntry{Time: timestamppb.New(e.Time), Step: e.Step, Actor: e.Actor, Ok: e.OK, Evidence: e.Evidence, JobId: e.JobID})
	}
	sort.SliceStable(out.Ledger, func(i, j int) bool { return out.Ledger[i].Time.AsTime().Before(out.Ledger[j].Time.AsTime()) })
	if f.a.cfg.Agents != nil {
		out.Progress = f.a.cfg.Agents.Progress(n.Name)
	}
	if out.Progress == nil && n.Task != nil {
		out.Progress = &pb.TaskProgress{Id: n.Task.ID} // running, nothing reported yet
	}
	return out, nil
}
