// Package ufmfake is an in-memory stand-in for UFM Enterprise's P_Key
// REST API, so the ufm driver can be tested without a UFM. Serve it
// with net/http/httptest on loopback.
//
// It follows testdata/ib-partitions/UFM-PKEY-REST-NOTES.md: HTTP Basic
// auth on every request, pkey as a hex string with 0 < pkey < 0x7fff,
// GUIDs as 16-20 hex characters, "membership" and "memberships"
// mutually exclusive, DELETE of an unknown key is 404. Where the notes
// are silent it makes these choices (each marked ASSUMPTION below):
// replies are JSON, errors are {"error": "..."} with 400/401/404/405;
// GET with guids_data=true returns {"partition", "ip_over_ib",
// "guids": [{"guid", "membership", "index0"}]} per key (the list call
// maps "0x12" to that object); creating an existing key is 400;
// adding or setting GUIDs creates a missing key.
//
// Faults make it fail on purpose: see Fault and Server.Inject.
package ufmfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// PKey is the fake's state for one key.
type PKey struct {
	Name    string
	IPoIB   bool
	Index0  bool
	Members map[string]string // GUID (16 lower-case hex digits) -> "full"/"limited"
}

// Fault makes matching requests fail.
type Fault struct {
	Method string // "" matches any
	Path   string // prefix of the URL path; "" matches any
	// Status is the HTTP status to reply with (0 means 500).
	Status int
	// Drop closes the connection without any reply instead.
	Drop  bool
	Delay time.Duration // before failing
	// Count is how many requests fail; < 0 means forever.
	Count int
}

// Server is the fake UFM. The zero value is not usable; call New.
type Server struct {
	user, pass string

	mu       sync.Mutex
	pkeys    map[uint16]*PKey
	faults   []*Fault
	requests []string
}

// New returns an empty fake accepting user/pass.
func New(user, pass string) *Server {
	return &Server{user: user, pass: pass, pkeys: map[uint16]*PKey{}}
}

// Inject adds a fault; faults are consulted in order.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// ClearFaults removes all faults.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Requests returns "METHOD /path" for every request served so far.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// Snapshot returns a copy of the keys.
func (s *Server) Snapshot() map[uint16]PKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[uint16]PKey{}
	for k, p := range s.pkeys {
		c := *p
		c.Members = map[string]string{}
		for g, m := range p.Members {
			c.Members[g] = m
		}
		out[k] = c
	}
	return out
}

// Put sets a key directly (to model changes made by others in UFM).
func (s *Server) Put(key uint16, p PKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.Members == nil {
		p.Members = map[string]string{}
	}
	s.pkeys[key] = &p
}

const base = "/ufmRest/resources/pkeys"

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.Method+" "+r.URL.Path)
	f := s.matchFault(r)
	s.mu.Unlock()
	if f != nil {
		time.Sleep(f.Delay)
		if f.Drop {
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
		}
		st := f.Status
		if st == 0 {
			st = http.StatusInternalServerError
		}
		fail(w, st, "injected fault")
		return
	}
	if u, p, ok := r.BasicAuth(); !ok || u != s.user || p != s.pass {
		w.Header().Set("WWW-Authenticate", `Basic realm="UFM"`)
		fail(w, http.StatusUnauthorized, "authentication required")
		return
	}
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case path == base && r.Method == http.MethodGet:
		s.list(w, r)
	case path == base && r.Method == http.MethodPost:
		s.setGUIDs(w, r, false)
	case path == base && r.Method == http.MethodPut:
		s.setGUIDs(w, r, true)
	case path == base+"/add" && r.Method == http.MethodPost:
		s.create(w, r)
	case strings.HasPrefix(path, base+"/") && !strings.Contains(path[len(base)+1:], "/"):
		key, err := parseKey(path[len(base)+1:])
		if err != nil {
			fail(w, http.StatusBadRequest, err.Error())
			return
		}
		switch r.Method {
		case http.MethodGet:
			s.get(w, r, key)
		case http.MethodDelete:
			s.delete(w, key)
		default:
			fail(w, http.StatusMethodNotAllowed, "method not allowed")
		}
	case path == base || path == base+"/add":
		fail(w, http.StatusMethodNotAllowed, "method not allowed")
	default:
		fail(w, http.StatusNotFound, "no such resource")
	}
}

func (s *Server) matchFault(r *http.Request) *Fault {
	for _, f := range s.faults {
		if f.Count == 0 || (f.Method != "" && f.Method != r.Method) || !strings.HasPrefix(r.URL.Path, f.Path) {
			continue
		}
		if f.Count > 0 {
			f.Count--
		}
		return f
	}
	return nil
}

func fail(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// parseKey accepts the documented hex string, 0 < pkey < 0x7fff.
func parseKey(s string) (uint16, error) {
	h, ok := strings.CutPrefix(strings.ToLower(s), "0x")
	v, err := strconv.ParseUint(h, 16, 16)
	if !ok || err != nil || v == 0 || v >= 0x7fff {
		return 0, fmt.Errorf("invalid pkey %q: hex string, 0x0 < pkey < 0x7fff", s)
	}
	return uint16(v), nil
}

// parseGUID accepts 16-20 hex characters (optionally 0x-prefixed) and
// normalises to 16 lower-case digits.
func parseGUID(s string) (string, error) {
	if len(s) < 16 || len(s) > 20 {
		return "", fmt.Errorf("invalid guid %q: 16-20 characters", s)
	}
	h := strings.TrimPrefix(strings.ToLower(s), "0x")
	v, err := strconv.ParseUint(h, 16, 64)
	if err != nil || v == 0 {
		return "", fmt.Errorf("invalid guid %q", s)
	}
	return fmt.Sprintf("%016x", v), nil
}
