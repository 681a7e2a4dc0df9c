package control

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ibex-hpc/ibex/fabric/route"
	"github.com/ibex-hpc/ibex/fabric/sm"
	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Routes is the leader's loop that makes link isolation hold on the
// wire: while link-isolated jobs hold cables (model.Job.Links), the
// switches forward by tables ibex computes (fabric/route) and loads
// through the subnet manager (sm.Router: OpenSM's file routing engine,
// or the simulated SM of --dev), and every pass reads the tables back
// from the switches and checks them against the allocations, as
// Partitions does with P_Key tables. When the last such job ends, routing
// goes back to the SM's own engine.
//
// Like partitions, the whole state is applied at once and again every
// driftEvery, so tables changed behind ibex's back are rewritten.
type Routes struct {
	cfg    Config
	r      sm.Router
	log    *slog.Logger
	mu     sync.Mutex
	st     RoutesStatus
	last   string    // fingerprint of the state last tried
	tried  time.Time // when it was tried (zero: not yet in this term)
	loaded bool      // ibex's tables are (or may be) in the switches
}

// RoutesStatus is what the loop last did, for the API and logs.
type RoutesStatus struct {
	At time.Time
	// Jobs are the isolated jobs whose cables the tables enforce.
	Jobs []uint64
	// Loaded: the switches forward by ibex's tables (false: the SM's own
	// routing, no job holds cables).
	Loaded bool
	// Conflicts are routes that could not avoid a held cable (every
	// minimum-hop path crosses one); Violations what the check of the
	// tables read back from the switches found. Both empty when the
	// isolation holds.
	Conflicts, Violations []string
	Err                   string
}

func newRoutes(cfg Config, r sm.Router) *Routes {
	return &Routes{cfg: cfg, r: r, log: cfg.Log.With("component", "routes")}
}

// Status returns the last pass's result.
func (r *Routes) Status() RoutesStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.st
	s.Jobs = slices.Clone(s.Jobs)
	s.Conflicts = slices.Clone(s.Conflicts)
	s.Violations = slices.Clone(s.Violations)
	return s
}

// newTerm forgets what an earlier term of this leader knew of the
// switches (Loops.Run runs again at every term it leads, and another
// leader may have loaded tables in between): the next pass applies.
func (r *Routes) newTerm() {
	r.mu.Lock()
	r.last, r.tried, r.loaded = "", time.Time{}, false
	r.mu.Unlock()
}

func (r *Routes) run(ctx context.Context) {
	r.newTerm()
	for {
		changed := r.cfg.Store.Changed()
		r.reconcile(ctx)
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-time.After(time.Second):
		}
		// Allocations come in bursts: one table load for the burst.
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// isolatedJobs are the active jobs holding cables, in id order.
func isolatedJobs(w *fsm.Work) []*model.Job {
	var out []*model.Job
	for _, j := range w.Active {
		if len(j.Links) > 0 {
			out = append(out, j)
		}
	}
	return out
}

func routesFingerprint(js []*model.Job) string {
	var b strings.Builder
	for _, j := range js {
		fmt.Fprintf(&b, "%d:%s:%s;", j.ID, strings.Join(j.Nodes, ","), strings.Join(j.Links, ","))
	}
	return b.String()
}

// reconcile is one pass; it returns the status it recorded.
func (r *Routes) reconcile(ctx context.Context) RoutesStatus {
	w := r.cfg.Store.Work(0)
	js := isolatedJobs(w)
	fp := routesFingerprint(js)
	r.mu.Lock()
	// A state is tried once, then again every driftEvery (a failed
	// load too: a lasting error must not sweep OpenSM every pass).
	due := fp != r.last || time.Since(r.tried) > driftEvery
	// The first pass of a term always applies: a previous leader may
	// have left its tables in the SM (hand them back if no job holds
	// cables now). After that, with no such job, nothing is due.
	idle := len(js) == 0 && !r.loaded && !r.tried.IsZero()
	r.mu.Unlock()
	if !due || idle {
		return r.Status()
	}
	st := RoutesStatus{At: time.Now().UTC()}
	for _, j := range js {
		st.Jobs = append(st.Jobs, j.ID)
	}
	err := r.apply(ctx, js, &st)
	if err != nil {
		st.Err = err.Error()
		r.log.Warn("forwarding tables for link isolation", "err", err)
	} else if len(st.Violations) > 0 || len(st.Conflicts) > 0 {
		r.log.Warn("link isolation not fully enforced by the forwarding tables", "conflicts", len(st.Conflicts), "violations", len(st.Violations), "first", first1(st.Conflicts, st.Violations))
	}
	r.mu.Lock()
	r.st = st
	r.last, r.tried = fp, time.Now()
	switch {
	case err == nil:
		r.loaded = st.Loaded
	case len(js) > 0:
		// A load that failed its read-back may still have written the
		// file: when the jobs end, it must be handed back.
		r.loaded = true
	}
	r.mu.Unlock()
	return st
}

func first1(a, b []string) string {
	if len(a) > 0 {
		return a[0]
	}
	if len(b) > 0 {
		return b[0]
	}
	return ""
}

func (r *Routes) apply(ctx context.Context, js []*model.Job, st *RoutesStatus) error {
	f, err := r.r.RouteFabric(ctx)
	if err != nil {
		return err
	}
	if len(js) == 0 {
		// Nothing to enforce: the SM routes by itself again.
		_, err := r.r.ApplyRoutes(ctx, f, nil)
		return err
	}
	var jobs []route.Job
	guidOf := r.cfg.Fabric.SwitchGUIDs()
	for _, j := range js {
		rj := route.Job{ID: fmt.Sprint(j.ID)}
		for _, g := range r.cfg.Fabric.PortsOf(j.Nodes...) {
			rj.Ports = append(rj.Ports, uint64(g))
		}
		for _, name := range j.Links {
			c, err := f.ResolveLinkBy(name, guidOf)
			if err != nil {
				return fmt.Errorf("job %d: %w (the scheduler's tree and the fabric the subnet manager sees differ: re-import the fabric)", j.ID, err)
			}
			rj.Cables = append(rj.Cables, c)
		}
		jobs = append(jobs, rj)
	}
	tables, conflicts, err := route.Compute(f, jobs)
	if err != nil {
		return err
	}
	st.Conflicts = limit(conflicts, 32)
	// What the SM read back from the switches to confirm the load is
	// what is checked: one read of every switch's table per pass.
	got, err := r.r.ApplyRoutes(ctx, f, tables)
	if err != nil {
		return err
	}
	st.Loaded = true
	for _, v := range route.Check(f, jobs, got) {
		st.Violations = append(st.Violations, v.String())
	}
	st.Violations = limit(st.Violations, 32)
	return nil
}

func limit(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("... and %d more", len(s)-n))
	}
	return s
}

// Report is Status for the API (Topology.Health).
func (r *Routes) Report() *pb.IsolationRoutes {
	s := r.Status()
	out := &pb.IsolationRoutes{Jobs: s.Jobs, Loaded: s.Loaded, Conflicts: s.Conflicts, Violations: s.Violations, Error: s.Err}
	if !s.At.IsZero() {
		out.Time = timestamppb.New(s.At)
	}
	return out
}
