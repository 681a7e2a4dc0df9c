package sm

import (
	"context"

	"github.com/ibex-hpc/ibex/fabric/route"
)

// Router is a subnet manager that can load the forwarding tables ibex
// computes for link isolation (fabric/route). Like Driver.Apply it takes
// the complete state, is idempotent, and returns once the switches hold
// what was asked, as read back from them.
type Router interface {
	// ApplyRoutes makes the switches of f forward by t, or by the SM's own
	// routing engine when t is nil (no isolated job runs), and returns the
	// tables it read back from the switches to confirm it (equal to t on
	// success), so the caller checks them without reading them again.
	ApplyRoutes(ctx context.Context, f *route.Fabric, t route.Tables) (route.Tables, error)
	// ObserveRoutes returns the tables the switches hold.
	ObserveRoutes(ctx context.Context) (route.Tables, error)
	// RouteFabric is the fabric the tables are for, as the SM sees it now
	// (LIDs included).
	RouteFabric(ctx context.Context) (*route.Fabric, error)
}

// RouterOf finds a Router in d or the drivers it wraps (Unwrap), or nil;
// also nil when the router says it is not set up for routing (a method
// RoutesEnabled() bool returning false, e.g. an OpenSM driver without an
// lfts_file).
func RouterOf(d Driver) Router {
	for d != nil {
		if r, ok := d.(Router); ok {
			if e, ok := r.(interface{ RoutesEnabled() bool }); ok && !e.RoutesEnabled() {
				return nil
			}
			return r
		}
		u, ok := d.(interface{ Unwrap() Driver })
		if !ok {
			return nil
		}
		d = u.Unwrap()
	}
	return nil
}

// NoRoutes is a subnet manager known never to load the forwarding tables
// link isolation needs: NoRoutesReason says why and what to do instead.
type NoRoutes interface {
	NoRoutesReason() string
}

// RoutesRefusal is the reason d (or a driver it wraps) gives for never
// loading forwarding tables, or "" when it may (a Router) or nothing is
// known. The API refuses link-isolated jobs with it: their cables would
// be allocated and never enforced.
func RoutesRefusal(d Driver) string {
	for d != nil {
		if n, ok := d.(NoRoutes); ok {
			return n.NoRoutesReason()
		}
		u, ok := d.(interface{ Unwrap() Driver })
		if !ok {
			return ""
		}
		d = u.Unwrap()
	}
	return ""
}
