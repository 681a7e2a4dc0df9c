package simsm

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"

	"github.com/ibex-hpc/ibex/fabric/route"
	"github.com/ibex-hpc/ibex/fabric/sm"
)

// Routed is the simulated SM with switches: it records the forwarding
// tables it is asked to load, as a real SM would program them, so --dev
// runs link isolation's routing loop (server/control/routes.go) and shows
// the same state as a fabric with OpenSM. With nil tables the switches
// get the tables route.Compute gives without isolated jobs, standing in
// for the SM's own routing engine.
type Routed struct {
	*SM
	f      *route.Fabric
	mu     sync.Mutex
	tables route.Tables
	loads  int
	own    bool
}

var _ sm.Router = (*Routed)(nil)

// NewRouted gives s the switches of f (with LIDs: see route.AssignLIDs).
func NewRouted(s *SM, f *route.Fabric) (*Routed, error) {
	t, _, err := route.Compute(f, nil)
	if err != nil {
		return nil, err
	}
	return &Routed{SM: s, f: f, tables: t, own: true}, nil
}

// RouteFabric implements sm.Router.
func (r *Routed) RouteFabric(context.Context) (*route.Fabric, error) { return r.f, nil }

// ApplyRoutes implements sm.Router: the tables are checked for
// connectivity (every switch reaches every port, as OpenSM's read-back
// would show) and recorded; it returns a copy of what was recorded, as
// OpenSM's driver returns what it read back.
func (r *Routed) ApplyRoutes(ctx context.Context, f *route.Fabric, t route.Tables) (route.Tables, error) {
	if f != r.f {
		return nil, errors.New("simulated sm: tables for another fabric")
	}
	own := t == nil
	if own {
		var err error
		if t, _, err = route.Compute(f, nil); err != nil {
			return nil, err
		}
	}
	if v := route.Check(f, nil, t); len(v) > 0 {
		return nil, errors.New("simulated sm: not loaded: " + v[0].String())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tables = cloneTables(t)
	r.own = own
	r.loads++
	return cloneTables(r.tables), nil
}

// ObserveRoutes implements sm.Router: the recorded tables.
func (r *Routed) ObserveRoutes(context.Context) (route.Tables, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return cloneTables(r.tables), nil
}

// Loads counts ApplyRoutes calls that succeeded; Own reports whether the
// switches run the SM's own routing (no ibex tables loaded).
func (r *Routed) Loads() (n int, own bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loads, r.own
}

func cloneTables(t route.Tables) route.Tables {
	out := make(route.Tables, len(t))
	for g, l := range maps.All(t) {
		out[g] = slices.Clone(l)
	}
	return out
}
