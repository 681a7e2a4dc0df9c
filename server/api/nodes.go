package api

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/auth"
	"github.com/ibex-hpc/ibex/server/convert"
)

type nodesService struct {
	pb.UnimplementedNodesServer
	a *API
}

// List shows every node. A tenant sees which nodes are busy but not whose
// they are unless they are its own.
func (n *nodesService) List(ctx context.Context, req *pb.ListNodesRequest) (*pb.ListNodesResponse, error) {
	t := auth.Caller(ctx)
	out := &pb.ListNodesResponse{}
	page := newPage(req.PageSize)
	n.a.cfg.Store.Read(func(s *fsm.State) {
		for _, node := range s.SortedNodes() {
			if req.After != "" && node.Name <= req.After {
				continue
			}
			tenant := ""
			if j, ok := s.Jobs[node.JobID]; ok {
				tenant = j.Tenant
			}
			p := convert.Node(node, tenant)
			if !t.Admin && tenant != t.Name {
				p.Tenant, p.JobId = "", 0
				if tenant != "" {
					p.Tenant = "(other)"
				}
				p.DrainBy = ""
			}
			if !page.add(p) {
				out.NextAfter = out.Nodes[len(out.Nodes)-1].Name
				return
			}
			out.Nodes = append(out.Nodes, p)
		}
	})
	return out, nil
}

func (n *nodesService) Drain(ctx context.Context, req *pb.DrainRequest) (*pb.Node, error) {
	if err := auth.RequireAdmin(ctx); err != nil {
		return nil, err
	}
	reason := strings.TrimSpace(req.Reason)
	if reason == "" {
		return nil, status.Error(codes.InvalidArgument, "drain needs --reason, so the next operator knows why")
	}
	if err := model.CheckText("drain reason", reason, model.MaxReasonBytes); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if _, err := n.a.cfg.Store.Apply(ctx, &fsm.DrainNode{Node: req.Node, Reason: reason, By: auth.Caller(ctx).Name, Time: n.a.cfg.Store.Now()}); err != nil {
		return nil, convert.Status(err)
	}
	return n.get(req.Node)
}

func (n *nodesService) Undrain(ctx context.Context, req *pb.UndrainRequest) (*pb.Node, error) {
	if err := auth.RequireAdmin(ctx); err != nil {
		return nil, err
	}
	if _, err := n.a.cfg.Store.Apply(ctx, &fsm.UndrainNode{Node: req.Node, By: auth.Caller(ctx).Name, Time: n.a.cfg.Store.Now()}); err != nil {
		return nil, convert.Status(err)
	}
	return n.get(req.Node)
}

// Label replaces a node's feature labels.
func (n *nodesService) Label(ctx context.Context, req *pb.LabelRequest) (*pb.Node, error) {
	if err := auth.RequireAdmin(ctx); err != nil {
		return nil, err
	}
	if err := validFeatures(req.Features); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if _, err := n.a.cfg.Store.Apply(ctx, &fsm.LabelNode{Node: req.Node, Features: req.Features, By: auth.Caller(ctx).Name, Time: n.a.cfg.Store.Now()}); err != nil {
		return nil, convert.Status(err)
	}
	return n.get(req.Node)
}

func (n *nodesService) get(name string) (*pb.Node, error) {
	var out *pb.Node
	n.a.cfg.Store.Read(func(s *fsm.State) {
		if node, ok := s.Nodes[name]; ok {
			tenant := ""
			if j, ok := s.Jobs[node.JobID]; ok {
				tenant = j.Tenant
			}
			out = convert.Node(node, tenant)
		}
	})
	if out == nil {
		return nil, status.Errorf(codes.NotFound, "node %q not found", name)
	}
	return out, nil
}

type tenantsService struct {
	pb.UnimplementedTenantsServer
	a *API
}

func (t *tenantsService) Create(ctx context.Context, req *pb.CreateTenantRequest) (*pb.CreateTenantResponse, error) {
	if err := auth.RequireAdmin(ctx); err != nil {
		return nil, err
	}
	if !validTenantName(req.Name) {
		return nil, status.Error(codes.InvalidArgument, "tenant name must be 1-64 characters of a-z, 0-9, '-' or '_', starting with a letter")
	}
	tok := auth.NewToken()
	ten := fsm.CreateTenant{}
	ten.Tenant.Name, ten.Tenant.Admin, ten.Tenant.TokenHash = req.Name, req.Admin, auth.HashToken(tok)
	if _, err := t.a.cfg.Store.Apply(ctx, &ten); err != nil {
		return nil, convert.Status(err)
	}
	return &pb.CreateTenantResponse{Tenant: &pb.Tenant{Name: req.Name, Admin: req.Admin}, Token: tok}, nil
}

func (t *tenantsService) List(ctx context.Context, _ *pb.ListTenantsRequest) (*pb.ListTenantsResponse, error) {
	if err := auth.RequireAdmin(ctx); err != nil {
		return nil, err
	}
	out := &pb.ListTenantsResponse{}
	t.a.cfg.Store.Read(func(s *fsm.State) {
		for _, name := range sortedKeys(s.Tenants) {
			out.Tenants = append(out.Tenants, &pb.Tenant{Name: name, Admin: s.Tenants[name].Admin})
		}
	})
	return out, nil
}

func (t *tenantsService) WhoAmI(ctx context.Context, _ *pb.WhoAmIRequest) (*pb.Tenant, error) {
	c := auth.Caller(ctx)
	return &pb.Tenant{Name: c.Name, Admin: c.Admin}, nil
}

func validTenantName(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// validFeatures keeps labels short and plain: they travel in every plan.
func validFeatures(fs []string) error {
	if len(fs) > 32 {
		return fmt.Errorf("at most 32 features")
	}
	for _, f := range fs {
		if len(f) == 0 || len(f) > 64 {
			return fmt.Errorf("feature %q: 1-64 characters", f)
		}
		for _, c := range f {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '=') {
				return fmt.Errorf("feature %q: use letters, digits and - _ . =", f)
			}
		}
	}
	return nil
}
