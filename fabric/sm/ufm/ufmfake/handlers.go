package ufmfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
)

// createReq is POST .../pkeys/add.
type createReq struct {
	PKey          *string `json:"pkey"`
	PartitionName string  `json:"partition_name"`
	IPoIB         *bool   `json:"ip_over_ib"`
	Index0        bool    `json:"index0"`
	MTULimit      *int    `json:"mtu_limit"`
	ServiceLevel  *int    `json:"service_level"`
	RateLimit     *any    `json:"rate_limit"`
}

// guidsReq is POST .../pkeys/ (add) and PUT .../pkeys (set).
type guidsReq struct {
	PKey        *string  `json:"pkey"`
	GUIDs       []string `json:"guids"`
	Membership  *string  `json:"membership"`
	Memberships []string `json:"memberships"`
	Index0      bool     `json:"index0"`
	IPoIB       *bool    `json:"ip_over_ib"`
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields() // a misspelt field must not pass silently
	if err := dec.Decode(v); err != nil {
		fail(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return false
	}
	return true
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	var req createReq
	if !decode(w, r, &req) {
		return
	}
	if req.PKey == nil {
		fail(w, http.StatusBadRequest, "pkey is required")
		return
	}
	key, err := parseKey(*req.PKey)
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.pkeys[key]; ok { // ASSUMPTION: duplicate create is an error
		fail(w, http.StatusBadRequest, fmt.Sprintf("pkey 0x%x already exists", key))
		return
	}
	name := req.PartitionName
	if name == "" {
		name = fmt.Sprintf("api_pkey_0x%x", key)
	}
	s.pkeys[key] = &PKey{Name: name, IPoIB: req.IPoIB == nil || *req.IPoIB, Index0: req.Index0, Members: map[string]string{}}
	writeJSON(w, http.StatusOK, map[string]string{})
}

func (s *Server) setGUIDs(w http.ResponseWriter, r *http.Request, replace bool) {
	var req guidsReq
	if !decode(w, r, &req) {
		return
	}
	if req.PKey == nil || req.GUIDs == nil {
		fail(w, http.StatusBadRequest, "pkey and guids are required")
		return
	}
	key, err := parseKey(*req.PKey)
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	if len(req.GUIDs) == 0 {
		fail(w, http.StatusBadRequest, "guids must not be empty")
		return
	}
	if req.Membership != nil && req.Memberships != nil {
		fail(w, http.StatusBadRequest, "membership and memberships are mutually exclusive")
		return
	}
	if req.Memberships != nil && len(req.Memberships) != len(req.GUIDs) {
		fail(w, http.StatusBadRequest, "memberships must have one entry per guid")
		return
	}
	members := map[string]string{}
	for i, g := range req.GUIDs {
		guid, err := parseGUID(g)
		if err != nil {
			fail(w, http.StatusBadRequest, err.Error())
			return
		}
		m := "full" // documented default
		if req.Membership != nil {
			m = *req.Membership
		} else if req.Memberships != nil {
			m = req.Memberships[i]
		}
		if m != "full" && m != "limited" {
			fail(w, http.StatusBadRequest, fmt.Sprintf("invalid membership %q", m))
			return
		}
		members[guid] = m
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pkeys[key]
	if !ok { // ASSUMPTION: adding GUIDs creates the key
		p = &PKey{Name: fmt.Sprintf("api_pkey_0x%x", key), Members: map[string]string{}}
		s.pkeys[key] = p
	}
	p.IPoIB = req.IPoIB == nil || *req.IPoIB
	p.Index0 = req.Index0
	if replace {
		p.Members = map[string]string{}
	}
	for g, m := range members {
		p.Members[g] = m
	}
	writeJSON(w, http.StatusOK, map[string]string{})
}

type guidJSON struct {
	GUID       string `json:"guid"`
	Membership string `json:"membership"`
	Index0     bool   `json:"index0"`
}

func (p *PKey) json(withGUIDs bool) map[string]any {
	out := map[string]any{"partition": p.Name, "ip_over_ib": p.IPoIB}
	if withGUIDs {
		gs := make([]guidJSON, 0, len(p.Members))
		for g, m := range p.Members {
			gs = append(gs, guidJSON{GUID: g, Membership: m, Index0: p.Index0})
		}
		sort.Slice(gs, func(i, j int) bool { return gs[i].GUID < gs[j].GUID })
		out["guids"] = gs
	}
	return out
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	with := r.URL.Query().Get("guids_data") == "true"
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]any{}
	for k, p := range s.pkeys {
		out[fmt.Sprintf("0x%x", k)] = p.json(with)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, key uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pkeys[key]
	if !ok {
		fail(w, http.StatusNotFound, fmt.Sprintf("pkey 0x%x not found", key))
		return
	}
	writeJSON(w, http.StatusOK, p.json(r.URL.Query().Get("guids_data") == "true"))
}

func (s *Server) delete(w http.ResponseWriter, key uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.pkeys[key]; !ok {
		fail(w, http.StatusNotFound, fmt.Sprintf("pkey 0x%x not found", key))
		return
	}
	delete(s.pkeys, key)
	writeJSON(w, http.StatusOK, map[string]string{})
}
