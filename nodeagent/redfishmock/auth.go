package redfishmock

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"path"
	"slices"
)

// exempt reports whether a request needs no credentials. DSP0266 lets
// clients read the service root (to discover the session service) and log
// in without authenticating; gofish relies on both.
func (s *Server) exempt(method, key string) bool {
	switch method {
	case http.MethodGet, http.MethodHead:
		switch key {
		case "/redfish", ServiceRoot, ServiceRoot + "/odata", ServiceRoot + "/$metadata":
			return true
		}
	case http.MethodPost:
		return key == s.sessionsURI
	}
	return false
}

// authorized checks an X-Auth-Token from a live session or HTTP Basic
// credentials. Comparisons are constant-time so the mock does not teach
// anyone timing-dependent habits.
func (s *Server) authorized(r *http.Request) bool {
	if s.opts.Username == "" {
		return true
	}
	if tok := r.Header.Get("X-Auth-Token"); tok != "" {
		s.mu.RLock()
		_, ok := s.sessions[tok]
		s.mu.RUnlock()
		return ok
	}
	user, pass, ok := r.BasicAuth()
	return ok && s.credentialsMatch(user, pass)
}

func (s *Server) credentialsMatch(user, pass string) bool {
	u := subtle.ConstantTimeCompare([]byte(user), []byte(s.opts.Username))
	p := subtle.ConstantTimeCompare([]byte(pass), []byte(s.opts.Password))
	return u&p == 1
}

// handleLogin creates a session (POST to the Sessions collection) and
// answers 201 with X-Auth-Token and Location, which is what gofish reads.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) *httpError {
	body, herr := readBody(r)
	if herr != nil {
		return herr
	}
	p := params{action: "Session creation", body: body}
	user, herr := p.str("UserName", true)
	if herr != nil {
		return herr
	}
	pass, herr := p.str("Password", false)
	if herr != nil {
		return herr
	}
	if s.opts.Username != "" && !s.credentialsMatch(user, pass) {
		return errUnauthorized(s.sessionsURI)
	}
	id, token := randomHex(8), randomHex(16)
	uri := s.sessionsURI + "/" + id
	sess := map[string]any{
		"@odata.id":   uri,
		"@odata.type": "#Session.v1_7_0.Session",
		"Id":          id,
		"Name":        "User Session",
		"UserName":    user,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions[token] = uri
	s.logins++
	s.put(uri, sess)
	if coll, ok := s.docForWrite(s.sessionsURI); ok {
		members, _ := coll["Members"].([]any)
		coll["Members"] = append(members, map[string]any{"@odata.id": uri})
		coll["Members@odata.count"] = len(members) + 1
		s.put(s.sessionsURI, coll)
	}
	w.Header().Set("Location", uri)
	w.Header().Set("X-Auth-Token", token)
	writeJSON(w, r, http.StatusCreated, sess)
	return nil
}

// handleDelete supports logout (DELETE of a session) only; everything else
// in a mockup is read-only.
func (s *Server) handleDelete(w http.ResponseWriter, key string) *httpError {
	if path.Dir(key) != s.sessionsURI {
		return errMethodNotAllowed(http.MethodDelete, key)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.doc(key); !ok {
		return errNotFound(key)
	}
	for tok, uri := range s.sessions {
		if uri == key {
			delete(s.sessions, tok)
		}
	}
	s.remove(key)
	if coll, ok := s.docForWrite(s.sessionsURI); ok {
		members, _ := coll["Members"].([]any)
		members = slices.DeleteFunc(slices.Clone(members), func(m any) bool { return odataID(m) == key })
		coll["Members"] = members
		coll["Members@odata.count"] = len(members)
		s.put(s.sessionsURI, coll)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ExpireSessions ends every open session, as a BMC does when sessions
// time out or the BMC restarts: later requests with their X-Auth-Token get
// 401 and the client has to log in again. It returns how many it ended.
func (s *Server) ExpireSessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.sessions)
	for tok, uri := range s.sessions {
		delete(s.sessions, tok)
		s.remove(uri)
	}
	if coll, ok := s.docForWrite(s.sessionsURI); ok {
		coll["Members"] = []any{}
		coll["Members@odata.count"] = 0
		s.put(s.sessionsURI, coll)
	}
	s.logins = 0
	return n
}

// Logins reports how many sessions were created since the server started
// or since the last ExpireSessions, so tests can check that a client
// logs in again once, not on every request.
func (s *Server) Logins() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.logins
}

// Sessions reports how many sessions are open, so tests can check that
// clients log out.
func (s *Server) Sessions() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.sessions)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
