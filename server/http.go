package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/ibex-hpc/ibex/fabric/health"
	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/auth"
	"github.com/ibex-hpc/ibex/server/dashboard"
	"github.com/ibex-hpc/ibex/server/metrics"
)

// startHTTP serves the plain-HTTP side of ibexd (health, and the dashboard
// and metrics mounted in httpRoutes) on cfg.HTTPListen.
func (s *Server) startHTTP() error {
	if s.cfg.HTTPListen == "" {
		return nil
	}
	lis, err := net.Listen("tcp", s.cfg.HTTPListen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.HTTPListen, err)
	}
	s.httpLis = lis
	if s.tls != nil && !isLoopback(s.cfg.HTTPListen) {
		lis = tls.NewListener(lis, s.tls.httpConfig()) // tokens are typed into the dashboard
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	s.httpRoutes(mux)
	if err := s.restRoutes(mux); err != nil {
		lis.Close()
		return fmt.Errorf("rest api: %w", err)
	}
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.http.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http serve", "err", err)
		}
	}()
	return nil
}

// HTTPAddr is the HTTP listener's address, or "" when disabled.
func (s *Server) HTTPAddr() string {
	if s.httpLis == nil {
		return ""
	}
	return s.httpLis.Addr().String()
}

// httpRoutes mounts the dashboard (the page at / and its JSON API under
// /api/v1/) and the Prometheus metrics at /metrics.
func (s *Server) httpRoutes(mux *http.ServeMux) {
	opts := dashboard.Options{Switches: s.fabricSwitches}
	if s.loops.Health != nil {
		opts.Links = s.badLinks
	}
	dashboard.New(s, opts).Mount(mux)
	mux.Handle("GET /metrics", metrics.Handler(metrics.NewRegistry(s, s.instruments)))
}

// fabricSwitches describes the switches above the leaves for the
// dashboard's picture: the imported fabric's second level and each leaf's
// uplinks, or the configured fat tree's spines (every leaf under every
// spine).
func (s *Server) fabricSwitches() dashboard.Switches {
	imp := s.fabric.Imported()
	if imp == nil {
		return dashboard.Switches{Spines: s.cfg.Fabric.SpineNames()}
	}
	fab := imp.Fab
	sw := dashboard.Switches{Uplinks: map[string][]string{}}
	if lv := fab.Levels(); len(lv) > 1 {
		for _, n := range lv[1] {
			sw.Spines = append(sw.Spines, n.Name)
		}
	}
	for _, leaf := range fab.Leaves() {
		ups := []string{}
		for _, p := range fab.Parents(leaf) {
			ups = append(ups, p.Name)
		}
		sw.Uplinks[leaf.Name] = ups
	}
	return sw
}

// RaftStats returns raft's counters (term, indexes, state) for /metrics.
func (s *Server) RaftStats() map[string]string { return s.cluster.Stats() }

// Read runs fn on the live state under its read lock (for the dashboard
// and /metrics, which copy what they show).
func (s *Server) Read(fn func(*fsm.State)) { s.fsm.Read(fn) }

// Changed returns a channel closed at the next state change.
func (s *Server) Changed() <-chan struct{} { return s.fsm.Changed() }

// TenantForToken resolves a bearer token to its tenant, or nil.
func (s *Server) TenantForToken(token string) *model.Tenant { return auth.TenantForToken(s.fsm, token) }

// LinkHealth counts monitored links by health for /metrics.
func (s *Server) LinkHealth() (map[string]int, bool) { return s.loops.Health.LinkCounts() }

// badLinks lists the degraded and down links of the last fabric-health
// report, for the dashboard's picture.
func (s *Server) badLinks() []dashboard.Link {
	r := s.loops.Health.Last()
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
