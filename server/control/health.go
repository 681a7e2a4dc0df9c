package control

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
)

// healthDrainer is the DrainBy of drains the fabric-health loop makes, so
// it only ever undrains its own drains, never an operator's.
const healthDrainer = "ibexd/fabric-health"

// FabricHealth keeps the leader's rolling view of port state and counters
// and reconciles it into the state: a node whose every HCA link is down is
// drained with the reason, and undrained when the link is back.
type FabricHealth struct {
	cfg Config
	mon *health.Monitor
	col *health.Collector

	mu   sync.Mutex
	last *health.Report
}

func newFabricHealth(cfg Config) *FabricHealth {
	if cfg.HealthEvery <= 0 {
		cfg.HealthEvery = 30 * time.Second
	}
	return &FabricHealth{cfg: cfg, mon: health.New(health.Config{}), col: cfg.Health}
}

func (h *FabricHealth) run(ctx context.Context) {
	for {
		r := h.mon.Observe(h.col.Collect(ctx))
		h.mu.Lock()
		h.last = &r
		h.mu.Unlock()
		if r.Stale {
			h.cfg.Log.Warn("fabric health sample not believed", "reason", r.StaleReason)
		} else {
			h.reconcile(ctx, &r)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(h.cfg.HealthEvery):
		}
	}
}

func (h *FabricHealth) reconcile(ctx context.Context, r *health.Report) {
	for _, n := range h.cfg.Store.Work(0).Nodes {
		nh, ok := r.Node(n.Name)
		if !ok {
			continue
		}
		switch {
		case nh.Status == health.NodeUnhealthy && !n.Drained:
			cmd := &fsm.DrainNode{Node: n.Name, Reason: "fabric: " + nh.Reason(), By: healthDrainer, Time: h.cfg.Store.Now()}
			if _, err := h.cfg.Store.Apply(ctx, cmd); err != nil {
				h.cfg.Log.Warn("drain unhealthy node", "node", n.Name, "err", err)
			} else {
				h.cfg.Log.Warn("node left scheduling", "node", n.Name, "reason", cmd.Reason)
			}
		case nh.Status != health.NodeUnhealthy && n.Drained && n.DrainBy == healthDrainer && n.State != model.NodeQuarantined:
			if _, err := h.cfg.Store.Apply(ctx, &fsm.UndrainNode{Node: n.Name, By: healthDrainer, Time: h.cfg.Store.Now()}); err != nil {
				h.cfg.Log.Warn("undrain healthy node", "node", n.Name, "err", err)
			}
		}
	}
}

// Report converts the last report for the API.
func (h *FabricHealth) Report() *pb.FabricHealthReport {
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

// Last is the last sample's report, or nil before the first.
func (h *FabricHealth) Last() *health.Report {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}

// LinkCounts counts monitored links by health for /metrics, or ok=false
// before the first sample.
func (h *FabricHealth) LinkCounts() (map[string]int, bool) {
	if h == nil {
		return nil, false
	}
	h.mu.Lock()
	r := h.last
	h.mu.Unlock()
	if r == nil {
		return nil, false
	}
	out := map[string]int{}
	for _, l := range r.Links {
		out[l.Status.String()]++
	}
	return out, true
}
