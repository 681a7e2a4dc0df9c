package server

import (
	"context"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ibex-hpc/ibex/fabric/health"
	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/dashboard"
)

// healthDrainer is the DrainBy of drains the fabric-health loop makes, so
// it only ever undrains its own drains, never an operator's.
const healthDrainer = "ibexd/fabric-health"

// fabricHealth keeps the leader's rolling view of port state and counters
// and reconciles it into the state: a node whose every HCA link is down is
// drained with the reason, and undrained when the link is back.
type fabricHealth struct {
	s   *Server
	mon *health.Monitor
	col *health.Collector

	mu   sync.Mutex
	last *health.Report
}

func newFabricHealth(s *Server) *fabricHealth {
	if s.ibsim == nil {
		return nil // only a real (simulated) fabric has ports to read
	}
	run := s.ibsim.Run
	return &fabricHealth{s: s, mon: health.New(health.Config{}),
		col: &health.Collector{Discover: &health.IBNetDiscover{Run: run}, Counters: &health.PerfQuery{Run: run, Extended: true}, States: &health.SMPQuery{Run: run}}}
}

func (h *fabricHealth) run(ctx context.Context) {
	for {
		r := h.mon.Observe(h.col.Collect(ctx))
		h.mu.Lock()
		h.last = &r
		h.mu.Unlock()
		if r.Stale {
			h.s.log.Warn("fabric health sample not believed", "reason", r.StaleReason)
		} else {
			h.reconcile(ctx, &r)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(h.s.cfg.HealthEvery):
		}
	}
}

func (h *fabricHealth) reconcile(ctx context.Context, r *health.Report) {
	for _, n := range h.s.fsm.Work(0).Nodes {
		nh, ok := r.Node(n.Name)
		if !ok {
			continue
		}
		switch {
		case nh.Status == health.NodeUnhealthy && !n.Drained:
			cmd := &fsm.DrainNode{Node: n.Name, Reason: "fabric: " + nh.Reason(), By: healthDrainer, Time: h.s.now()}
			if _, err := h.s.apply(ctx, cmd); err != nil {
				h.s.log.Warn("drain unhealthy node", "node", n.Name, "err", err)
			} else {
				h.s.log.Warn("node left scheduling", "node", n.Name, "reason", cmd.Reason)
			}
		case nh.Status != health.NodeUnhealthy && n.Drained && n.DrainBy == healthDrainer && n.State != model.NodeQuarantined:
			if _, err := h.s.apply(ctx, &fsm.UndrainNode{Node: n.Name, Time: h.s.now()}); err != nil {
				h.s.log.Warn("undrain healthy node", "node", n.Name, "err", err)
			}
		}
	}
}

// report converts the last report for the API.
func (h *fabricHealth) report() *pb.FabricHealthReport {
	if h == nil {
		return &pb.FabricHealthReport{Note: "no fabric to monitor: health needs --fabric=ibsim (or a real subnet manager host)"}
	}
	h.mu.Lock()
	r := h.last
	h.mu.Unlock()
	if r == nil {
		return &pb.FabricHealthReport{Note: "no sample yet"}
	}
	out := &pb.FabricHealthReport{Time: timestamppb.New(r.Time), Note: r.StaleReason}
	for _, l := range r.Links {
		out.Links = append(out.Links, &pb.LinkHealthInfo{A: l.A.Where(), B: l.B.Where(), Kind: l.Kind.String(), Status: l.Status.String(), Reason: strings.Join(l.Reasons, "; ")})
	}
	for _, n := range r.Nodes {
		out.Nodes = append(out.Nodes, &pb.NodeHealthInfo{Name: n.Name, Status: n.Status.String(), Reason: n.Reason()})
	}
	for _, l := range r.Leaves {
		out.Leaves = append(out.Leaves, &pb.LeafUplinks{Name: l.Name, Uplinks: uint32(l.Uplinks), Healthy: uint32(l.Healthy), Degraded: uint32(l.Degraded), Down: uint32(l.Down)})
	}
	return out
}

func (t *topologyService) Health(ctx context.Context, _ *pb.FabricHealthRequest) (*pb.FabricHealthReport, error) {
	return t.s.health.report(), nil
}

// badLinks lists the degraded and down links of the last report, for the
// dashboard's picture.
func (h *fabricHealth) badLinks() []dashboard.Link {
	h.mu.Lock()
	r := h.last
	h.mu.Unlock()
	if r == nil {
		return nil
	}
	var out []dashboard.Link
	for _, l := range r.Links {
		if l.Status == health.LinkHealthy {
			continue
		}
		out = append(out, dashboard.Link{From: l.A.Node, To: l.B.Node, Health: l.Status.String(), Detail: strings.Join(l.Reasons, "; ")})
	}
	return out
}
