package redfishmock

import (
	"fmt"
	"net/http"
)

// Fault makes the server answer matching requests with a canned response
// instead of serving them, e.g. to replay a vendor's error body. Faults are
// checked after authentication, in the order they were added.
type Fault struct {
	Method string // HTTP method to match; "" matches any
	Path   string // URI to match, e.g. "/redfish/v1/Systems/1"
	Status int    // status code to answer with
	Body   []byte // response body, sent as application/json
	Times  int    // how many requests to fail; 0 means until ClearFaults
}

// InjectFault adds f. It fails only if f.Path is not a valid Redfish URI.
func (s *Server) InjectFault(f Fault) error {
	key, err := canonicalPath(f.Path)
	if err != nil {
		return fmt.Errorf("redfishmock: fault path %q: %w", f.Path, err)
	}
	f.Path = key
	f.Body = append([]byte(nil), f.Body...)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
	return nil
}

// ClearFaults removes all injected faults.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// fault answers the request from the first matching fault, if any.
func (s *Server) fault(w http.ResponseWriter, method, key string) bool {
	s.mu.Lock()
	var hit *Fault
	for i, f := range s.faults {
		if f.Path != key || (f.Method != "" && f.Method != method) {
			continue
		}
		hit = f
		if f.Times > 0 {
			if f.Times--; f.Times == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		break
	}
	var body []byte
	var status int
	if hit != nil {
		body, status = hit.Body, hit.Status
	}
	s.mu.Unlock()
	if hit == nil {
		return false
	}
	if len(body) > 0 {
		w.Header().Set("Content-Type", contentJSON)
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return true
}
