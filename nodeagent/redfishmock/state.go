package redfishmock

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"strings"
)

// doc returns the current version of the resource at key: the overlay copy
// if this server changed it, else a fresh decode of the mockup file. The
// caller must hold s.mu (read or write) and must not modify the result
// unless it came from docForWrite.
func (s *Server) doc(key string) (map[string]any, bool) {
	if s.deleted[key] {
		return nil, false
	}
	if d, ok := s.overlay[key]; ok {
		return d, true
	}
	res, ok := s.m.docs[key]
	if !ok || res.contentType != contentJSON {
		return nil, false
	}
	d, err := decodeObject(res.data)
	if err != nil {
		return nil, false
	}
	return d, true
}

// docForWrite is doc for a caller holding the write lock that is about to
// modify the resource: the first write copies it into the overlay, which is
// all the copy-on-write there is, since mockup bytes are never touched.
func (s *Server) docForWrite(key string) (map[string]any, bool) {
	d, ok := s.doc(key)
	if ok {
		s.overlay[key] = d
	}
	return d, ok
}

// put stores d at key (write lock held) and refreshes its @odata.etag, if it
// has one, so that body and ETag header keep agreeing.
func (s *Server) put(key string, d map[string]any) {
	delete(s.deleted, key)
	if _, ok := d["@odata.etag"]; ok {
		delete(d, "@odata.etag")
		d["@odata.etag"] = computeETag(d)
	}
	s.overlay[key] = d
}

func (s *Server) remove(key string) {
	delete(s.overlay, key)
	s.deleted[key] = true
}

// etagOf returns the ETag of d: its own @odata.etag when the mockup carries
// one (gofish prefers it over the header for If-Match), else a hash of the
// content.
func etagOf(d map[string]any) string {
	if e, ok := d["@odata.etag"].(string); ok && e != "" {
		return e
	}
	return computeETag(d)
}

func computeETag(d map[string]any) string {
	data, _ := json.Marshal(d)
	h := fnv.New64a()
	_, _ = h.Write(data)
	return fmt.Sprintf(`W/"%016x"`, h.Sum64())
}

// etagMatches implements If-Match leniently (weak comparison, quotes
// optional) because BMC clients differ in how they echo ETags back.
func etagMatches(header, etag string) bool {
	norm := func(s string) string {
		s = strings.TrimSpace(s)
		s = strings.TrimPrefix(s, "W/")
		return strings.Trim(s, `"`)
	}
	for _, h := range strings.Split(header, ",") {
		if strings.TrimSpace(h) == "*" || norm(h) == norm(etag) {
			return true
		}
	}
	return false
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request, key string) *httpError {
	s.advancePower(key)
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, changed := s.overlay[key]
	if res, ok := s.m.docs[key]; ok && res.contentType != contentJSON && !changed && !s.deleted[key] {
		w.Header().Set("Content-Type", res.contentType)
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(res.data)
		}
		return nil
	}
	d, ok := s.doc(key)
	if !ok {
		return errNotFound(key)
	}
	writeJSON(w, r, http.StatusOK, d)
	return nil
}

func writeJSON(w http.ResponseWriter, r *http.Request, status int, d map[string]any) {
	data, err := json.MarshalIndent(d, "", "    ")
	if err != nil {
		writeError(w, newError(http.StatusInternalServerError, message{key: "InternalError", text: err.Error()}))
		return
	}
	w.Header().Set("Content-Type", contentJSON)
	w.Header().Set("OData-Version", "4.0")
	w.Header().Set("ETag", etagOf(d))
	w.WriteHeader(status)
	if r == nil || r.Method != http.MethodHead {
		_, _ = w.Write(data)
	}
}

// Resource returns a deep copy of the resource currently served at uri,
// including changes made through this server.
func (s *Server) Resource(uri string) (map[string]any, error) {
	key, err := canonicalPath(uri)
	if err != nil {
		return nil, fmt.Errorf("redfishmock: %q: %w", uri, err)
	}
	s.mu.RLock()
	d, ok := s.doc(key)
	var data []byte
	if ok {
		data, err = json.Marshal(d)
	}
	s.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("redfishmock: no resource at %s", key)
	}
	if err != nil {
		return nil, err
	}
	return decodeObject(data)
}

// SetResource adds or replaces the resource at uri in this server only. doc
// is anything that marshals to a JSON object; it is copied. Tests use it to
// model vendor quirks the mockup lacks, e.g. a NIC reporting "N/A" firmware.
func (s *Server) SetResource(uri string, doc any) error {
	key, err := canonicalPath(uri)
	if err != nil {
		return fmt.Errorf("redfishmock: %q: %w", uri, err)
	}
	data, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("redfishmock: %s: %w", key, err)
	}
	d, err := decodeObject(data)
	if err != nil {
		return fmt.Errorf("redfishmock: %s: %w", key, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.put(key, d)
	return nil
}

// RemoveResource makes uri answer 404 in this server.
func (s *Server) RemoveResource(uri string) error {
	key, err := canonicalPath(uri)
	if err != nil {
		return fmt.Errorf("redfishmock: %q: %w", uri, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.doc(key); !ok {
		if _, raw := s.m.docs[key]; !raw || s.deleted[key] {
			return errors.New("redfishmock: no resource at " + key)
		}
	}
	s.remove(key)
	return nil
}
