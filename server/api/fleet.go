package api

import (
	"context"
	"encoding/json"
	"math"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

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
	if err := model.CheckText("revoke reason", req.Reason, model.MaxReasonBytes); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if _, err := f.a.cfg.Store.Apply(ctx, &fsm.RevokeAgent{Node: req.Node, Reason: req.Reason, By: auth.Caller(ctx).Name, Time: f.a.cfg.Store.Now()}); err != nil {
		return nil, convert.Status(err)
	}
	return (&nodesService{a: f.a}).get(req.Node)
}

// AddImage adds to the public catalog (an admin) or to the caller's own
// images (a tenant: tenantimage.go).
func (f *fleetService) AddImage(ctx context.Context, req *pb.Image) (*pb.Image, error) {
	caller := auth.Caller(ctx)
	if caller == nil {
		return nil, status.Error(codes.Unauthenticated, "no caller")
	}
	if n := proto.Size(req); n > maxImageMessage {
		return nil, status.Errorf(codes.InvalidArgument, "image entry is %d bytes, the limit is %d", n, maxImageMessage)
	}
	if req.Size > math.MaxInt64 || req.BlockSize > math.MaxInt64 {
		return nil, status.Errorf(codes.InvalidArgument, "image size %d or block size %d is too large", req.Size, req.BlockSize)
	}
	m := model.Image{Name: req.Name, Version: req.Version, Size: int64(req.Size), SHA256: req.Sha256, SourceURL: req.SourceUrl,
		BlockSize: int64(req.BlockSize), Blocks: req.BlockSha256}
	if err := m.Validate(); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if err := m.ValidateBlocks(); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%v; `ibex images add` computes the block hashes from the image", err)
	}
	if !caller.Admin {
		m.Owner = caller.Name
	}
	var err error
	f.a.cfg.Store.Read(func(st *fsm.State) { err = st.CheckAddImage(m) })
	if err != nil {
		return nil, convert.Status(err)
	}
	if _, err := f.a.cfg.Store.Apply(ctx, &fsm.AddImage{Image: m}); err != nil {
		return nil, convert.Status(err)
	}
	req.Owner = m.Owner
	return req, nil
}

// ListImages lists the public catalog and the caller's own images (an
// admin: every tenant's too).
func (f *fleetService) ListImages(ctx context.Context, _ *pb.ListImagesRequest) (*pb.ListImagesResponse, error) {
	caller := auth.Caller(ctx)
	out := &pb.ListImagesResponse{}
	f.a.cfg.Store.Read(func(st *fsm.State) {
		for _, ref := range sortedKeys(st.Images) {
			i := st.Images[ref]
			if !caller.Admin && !i.VisibleTo(caller.Name) {
				continue
			}
			out.Images = append(out.Images, &pb.Image{Name: i.Name, Version: i.Version, Size: uint64(i.Size), Sha256: i.SHA256, SourceUrl: i.SourceURL, BlockSize: uint64(i.BlockSize),
				Owner: i.Owner})
		}
	})
	return out, nil
}

// NodeDetail is an admin's whole view of a node, or the view of the
// tenant holding it: what happened to the node since the previous tenancy
// ended, without the previous tenant's name.
func (f *fleetService) NodeDetail(ctx context.Context, req *pb.NodeDetailRequest) (*pb.NodeDetailResponse, error) {
	caller := auth.Caller(ctx)
	var n model.Node
	var ledger []model.LedgerEntry
	holder := ""
	f.a.cfg.Store.Read(func(st *fsm.State) {
		if found := st.Nodes[req.Node]; found != nil {
			n = *found.Clone()
			if j, ok := st.Jobs[n.JobID]; ok && n.JobID != 0 {
				holder = j.Tenant
			}
		}
		ledger = append(ledger, st.Ledger[req.Node]...)
	})
	if !caller.Admin {
		if holder == "" || holder != caller.Name {
			return nil, status.Errorf(codes.PermissionDenied, "node %q: only an admin, or the tenant holding the node, may read its history", req.Node)
		}
		return f.tenantView(caller.Name, n, ledger)
	}
	node, err := (&nodesService{a: f.a}).get(req.Node)
	if err != nil {
		return nil, err
	}
	out := &pb.NodeDetailResponse{Node: node, Image: n.Image, Bmc: nodeBMC(&n)}
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
		out.Ledger = append(out.Ledger, convert.LedgerEntry(e))
	}
	out.Ledger = convert.SortLedger(out.Ledger)
	if f.a.cfg.Agents != nil {
		out.Progress = f.a.cfg.Agents.Progress(n.Name)
	}
	if out.Progress == nil && n.Task != nil {
		out.Progress = &pb.TaskProgress{Id: n.Task.ID} // running, nothing reported yet
	}
	return out, nil
}

// tenantView is the history a tenant may read of the node it holds: from
// the cleaning after the previous job on (what made the node fit for this
// tenancy), with other tenants' names redacted. Archived entries are older
// than that and are not included.
func (f *fleetService) tenantView(tenant string, n model.Node, ledger []model.LedgerEntry) (*pb.NodeDetailResponse, error) {
	from := 0
	for i := len(ledger) - 1; i >= 0; i-- {
		if id := ledger[i].JobID; id != 0 && id != n.JobID {
			from = i // an entry of the previous tenancy: walk back to its first
			for from > 0 && ledger[from-1].JobID == id {
				from--
			}
			break
		}
	}
	out := &pb.NodeDetailResponse{Node: &pb.Node{Name: n.Name, State: string(n.State), Leaf: n.Leaf, Tenant: tenant, JobId: n.JobID}, Image: n.Image}
	for _, e := range ledger[from:] {
		if e.Tenant != "" && e.Tenant != tenant {
			e.Tenant = model.RedactedTenant
		}
		out.Ledger = append(out.Ledger, convert.LedgerEntry(e))
	}
	out.Ledger = convert.SortLedger(out.Ledger)
	return out, nil
}
