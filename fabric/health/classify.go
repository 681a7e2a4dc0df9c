package health

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// report classifies every known link, then derives hosts and leaves.
// Called with m.mu held.
func (m *Monitor) report(t time.Time, stale string) Report {
	r := Report{Time: t, Stale: stale != "", StaleReason: stale, Samples: m.n,
		nodeIdx: map[string]int{}, leafIdx: map[string]int{}}
	for _, l := range m.links {
		r.Links = append(r.Links, m.classify(l))
	}
	slices.SortFunc(r.Links, func(x, y LinkHealth) int {
		return cmp.Or(cmp.Compare(x.Kind, y.Kind), cmp.Compare(x.A.Node, y.A.Node),
			cmp.Compare(x.A.Port.Port, y.A.Port.Port), cmp.Compare(x.B.Node, y.B.Node),
			cmp.Compare(x.B.Port.Port, y.B.Port.Port))
	})
	r.Nodes = nodes(r.Links)
	r.Leaves = leaves(r.Links)
	for i, n := range r.Nodes {
		r.nodeIdx[n.Name] = i
	}
	for i, l := range r.Leaves {
		r.leafIdx[l.Name] = i
	}
	return r
}

// classify decides one link's status: down beats degraded beats healthy.
func (m *Monitor) classify(l *linkView) LinkHealth {
	pa, pb := m.port(l.a.Port), m.port(l.b.Port)
	h := LinkHealth{ID: l.id, Kind: l.kind, A: l.a, B: l.b, Rate: l.rate, Since: l.since,
		StateA: pa.state, StateB: pb.state, ErrorsA: pa.rates(), ErrorsB: pb.rates()}
	h.Expected = l.best
	if w := m.cfg.MinRate.Width; w > h.Expected.Width {
		h.Expected.Width = w
	}
	if s := m.cfg.MinRate.Speed; s > h.Expected.Speed {
		h.Expected.Speed = s
	}
	switch {
	case !l.present && !l.seen:
		h.Status = LinkDown
		h.Reasons = []string{"never seen in a discovery"}
		return h
	case !l.present && l.misses < m.cfg.ConfirmDown:
		h.Status = LinkDegraded
		h.Reasons = []string{fmt.Sprintf("missing from %d discovery(ies), down after %d", l.misses, m.cfg.ConfirmDown)}
		return h
	case !l.present:
		h.Status = LinkDown
		h.Reasons = []string{"not in the last discovery"}
		return h
	}
	for _, e := range []struct {
		end End
		st  PortState
	}{{l.a, pa.state}, {l.b, pb.state}} {
		if e.st != StateUnknown && e.st != StateActive {
			h.Status = LinkDown
			h.Reasons = append(h.Reasons, fmt.Sprintf("%s is %s", e.end.Where(), e.st))
		}
	}
	if h.Status == LinkDown {
		return h
	}
	if w := h.Rate.Width; w != 0 && w < h.Expected.Width {
		h.Reasons = append(h.Reasons, fmt.Sprintf("width %s below expected %s", w, h.Expected.Width))
	}
	if s := h.Rate.Speed; s != 0 && s < h.Expected.Speed {
		h.Reasons = append(h.Reasons, fmt.Sprintf("speed %s below expected %s", s, h.Expected.Speed))
	}
	th, fl := m.cfg.Thresholds, m.cfg.CounterFailures
	h.Reasons = append(h.Reasons, pa.problems(l.a.Where(), th, fl)...)
	h.Reasons = append(h.Reasons, pb.problems(l.b.Where(), th, fl)...)
	if len(h.Reasons) > 0 {
		h.Status = LinkDegraded
	}
	return h
}

// nodes derives host health from the host links: every link down makes
// the host unhealthy, anything less makes it degraded.
func nodes(links []LinkHealth) []NodeHealth {
	idx := map[string]int{}
	var out []NodeHealth
	for _, l := range links {
		if l.Kind != LinkHost {
			continue
		}
		i, ok := idx[l.A.Node]
		if !ok {
			i = len(out)
			idx[l.A.Node] = i
			out = append(out, NodeHealth{Name: l.A.Node})
		}
		n := &out[i]
		n.Links++
		to := l.B.Where()
		switch l.Status {
		case LinkDown:
			n.Reasons = append(n.Reasons, fmt.Sprintf("link to %s down (%s)", to, strings.Join(l.Reasons, "; ")))
		case LinkDegraded:
			n.Up++
			n.Reasons = append(n.Reasons, fmt.Sprintf("link to %s degraded (%s)", to, strings.Join(l.Reasons, "; ")))
		default:
			n.Up++
		}
	}
	for i := range out {
		n := &out[i]
		switch {
		case n.Up == 0:
			n.Status = NodeUnhealthy
		case len(n.Reasons) > 0:
			n.Status = NodeDegraded
			if n.Up < n.Links {
				n.Reasons = append(n.Reasons, fmt.Sprintf("%d of %d HCA links up", n.Up, n.Links))
			}
		}
	}
	slices.SortFunc(out, func(a, b NodeHealth) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// leaves counts each leaf's uplinks by status. Leaves with host links
// but no uplinks (a single-switch fabric) are listed with zero.
func leaves(links []LinkHealth) []LeafHealth {
	idx := map[uint64]int{}
	var out []LeafHealth
	get := func(e End) *LeafHealth {
		i, ok := idx[e.Port.GUID]
		if !ok {
			i = len(out)
			idx[e.Port.GUID] = i
			out = append(out, LeafHealth{Name: e.Node, GUID: e.Port.GUID})
		}
		return &out[i]
	}
	for _, l := range links {
		switch {
		case l.Kind == LinkHost && l.B.Level == 1:
			get(l.B)
		case l.Kind == LinkUplink:
			lf := get(l.A)
			lf.Uplinks++
			switch l.Status {
			case LinkHealthy:
				lf.Healthy++
			case LinkDegraded:
				lf.Degraded++
			default:
				lf.Down++
			}
		}
	}
	slices.SortFunc(out, func(a, b LeafHealth) int { return cmp.Compare(a.Name, b.Name) })
	return out
}
