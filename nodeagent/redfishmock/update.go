package redfishmock

import (
	"fmt"
	"net/http"
	"slices"
	"time"
)

// UpdateRequest is an UpdateService.SimpleUpdate the server accepted.
// The image password, if any, is deliberately not kept so that test output
// that prints requests cannot leak it.
type UpdateRequest struct {
	ImageURI         string
	Targets          []string
	TransferProtocol string
	Username         string
	ForceUpdate      bool
	Task             string // URI of the Task created for the request
}

func (s *Server) simpleUpdate(w http.ResponseWriter, r *http.Request, act *action, body map[string]any) *httpError {
	p := params{action: act.name, body: body}
	if herr := p.unknown("ImageURI", "TransferProtocol", "Targets", "ExcludeTargets",
		"Username", "Password", "ForceUpdate", "Stage", "LocalImage",
		"@Redfish.OperationApplyTime"); herr != nil {
		return herr
	}
	var req UpdateRequest
	var herr *httpError
	if req.ImageURI, herr = p.str("ImageURI", true); herr != nil {
		return herr
	}
	if req.TransferProtocol, herr = p.str("TransferProtocol", false); herr != nil {
		return herr
	}
	if req.TransferProtocol != "" {
		if allowed, ok := s.allowable(act, "TransferProtocol"); ok && !slices.Contains(allowed, req.TransferProtocol) {
			return errParamNotInList(act.name, "TransferProtocol", req.TransferProtocol)
		}
	}
	if req.Username, herr = p.str("Username", false); herr != nil {
		return herr
	}
	if _, herr = p.str("Password", false); herr != nil {
		return herr
	}
	if _, herr = p.str("@Redfish.OperationApplyTime", false); herr != nil {
		return herr
	}
	if req.ForceUpdate, herr = p.boolean("ForceUpdate"); herr != nil {
		return herr
	}
	for _, b := range []string{"Stage", "LocalImage"} {
		if _, herr = p.boolean(b); herr != nil {
			return herr
		}
	}
	if _, herr = p.strs("ExcludeTargets"); herr != nil {
		return herr
	}
	if req.Targets, herr = p.strs("Targets"); herr != nil {
		return herr
	}
	// Targets are URIs of existing resources; a BMC rejects anything else
	// (a bare inventory Id is the classic client mistake).
	for _, t := range req.Targets {
		if _, ok := s.doc(odataID(t)); !ok {
			return errParamNotInList(act.name, "Targets", t)
		}
	}

	s.seq++
	id := fmt.Sprintf("mock-update-%d", s.seq)
	taskURI := ServiceRoot + "/TaskService/Tasks/" + id
	now := time.Now().UTC().Format(time.RFC3339)
	task := map[string]any{
		"@odata.id":       taskURI,
		"@odata.type":     "#Task.v1_7_0.Task",
		"Id":              id,
		"Name":            "SimpleUpdate",
		"TaskState":       "Completed",
		"TaskStatus":      "OK",
		"PercentComplete": 100,
		"StartTime":       now,
		"EndTime":         now,
		"Messages":        []any{},
	}
	s.put(taskURI, task)
	if coll, ok := s.docForWrite(ServiceRoot + "/TaskService/Tasks"); ok {
		members, _ := coll["Members"].([]any)
		coll["Members"] = append(members, map[string]any{"@odata.id": taskURI})
		coll["Members@odata.count"] = len(members) + 1
		s.put(ServiceRoot+"/TaskService/Tasks", coll)
	}
	req.Task = taskURI
	s.updates = append(s.updates, req)
	w.Header().Set("Location", taskURI)
	writeJSON(w, r, http.StatusAccepted, task)
	return nil
}

// Updates returns the SimpleUpdate requests accepted so far, oldest first.
func (s *Server) Updates() []UpdateRequest {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]UpdateRequest, len(s.updates))
	for i, u := range s.updates {
		u.Targets = slices.Clone(u.Targets)
		out[i] = u
	}
	return out
}
