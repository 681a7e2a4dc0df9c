package server

import (
	"context"
	"encoding/json"
	"sort"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/nodeagent/imaging"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// fleetService is the operators' API for agents, images and hygiene.
type fleetService struct {
	pb.UnimplementedFleetServer
	s *Server
}

func (f *fleetService) CreateJoinToken(ctx context.Context, req *pb.CreateJoinTokenRequest) (*pb.CreateJoinTokenResponse, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	ttl := time.Hour
	if req.Ttl != nil {
		ttl = req.Ttl.AsDuration()
	}
	if ttl <= 0 || ttl > 7*24*time.Hour {
		return nil, status.Error(codes.InvalidArgument, "ttl must be within 0..7 days")
	}
	tok := NewToken()
	cmd := &fsm.CreateJoinToken{Node: req.Node, Hash: HashToken(tok), Expires: f.s.now().Add(ttl)}
	if _, err := f.s.apply(ctx, cmd); err != nil {
		return nil, toStatus(err)
	}
	c, err := f.s.currentCA()
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	resp := &pb.CreateJoinTokenResponse{Token: tok, CaPin: c.Pin(), GossipSeeds: f.s.gossipSeeds()}
	if f.s.agentLis != nil {
		resp.AgentAddrs = append(resp.AgentAddrs, f.s.agentLis.Addr().String())
	}
	return resp, nil
}

func (f *fleetService) Revoke(ctx context.Context, req *pb.RevokeRequest) (*pb.Node, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	if req.Reason == "" {
		return nil, status.Error(codes.InvalidArgument, "revoke needs a reason")
	}
	if _, err := f.s.apply(ctx, &fsm.RevokeAgent{Node: req.Node, Reason: req.Reason, By: caller(ctx).Name, Time: f.s.now()}); err != nil {
		return nil, toStatus(err)
	}
	return (&nodesService{s: f.s}).get(req.Node)
}

func (f *fleetService) AddImage(ctx context.Context, req *pb.Image) (*pb.Image, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	img := imaging.Image{Name: req.Name, Version: req.Version, Size: int64(req.Size), SHA256: req.Sha256, SourceURL: req.SourceUrl}
	if err := img.Validate(); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	m := model.Image{Name: req.Name, Version: req.Version, Size: req.Size, SHA256: req.Sha256, SourceURL: req.SourceUrl}
	if _, err := f.s.apply(ctx, &fsm.AddImage{Image: m}); err != nil {
		return nil, toStatus(err)
	}
	return req, nil
}

func (f *fleetService) ListImages(ctx context.Context, _ *pb.ListImagesRequest) (*pb.ListImagesResponse, error) {
	out := &pb.ListImagesResponse{}
	st := f.s.fsm.View()
	for _, ref := range sortedKeys(st.Images) {
		i := st.Images[ref]
		out.Images = append(out.Images, &pb.Image{Name: i.Name, Version: i.Version, Size: i.Size, Sha256: i.SHA256, SourceUrl: i.SourceURL})
	}
	return out, nil
}

func (f *fleetService) NodeDetail(ctx context.Context, req *pb.NodeDetailRequest) (*pb.NodeDetailResponse, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	node, err := (&nodesService{s: f.s}).get(req.Node)
	if err != nil {
		return nil, err
	}
	st := f.s.fsm.View()
	n := st.Nodes[req.Node]
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
	case f.s.agents.connected(n.Name):
		out.Agent = "connected"
	default:
		out.Agent = "enrolled, not connected to this server"
	}
	out.Ledger = f.s.archivedLedger(req.Node) // older entries, expired from the state (retention.go)
	for _, e := range st.Ledger[req.Node] {
		out.Ledger = append(out.Ledger, &pb.LedgerEntry{Time: timestamppb.New(e.Time), Step: e.Step, Actor: e.Actor, Ok: e.OK, Evidence: e.Evidence, JobId: e.JobID})
	}
	sort.SliceStable(out.Ledger, func(i, j int) bool { return out.Ledger[i].Time.AsTime().Before(out.Ledger[j].Time.AsTime()) })
	out.Progress = f.s.agents.progress(n.Name)
	if out.Progress == nil && n.Task != nil {
		out.Progress = &pb.TaskProgress{Id: n.Task.ID} // running, nothing reported yet
	}
	return out, nil
}
