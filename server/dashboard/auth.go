package dashboard

import (
	"encoding/json"
	"net/http"
	"strings"
)

// Viewer is the authenticated tenant of a request, and decides what it may
// see of other tenants' work.
type Viewer struct {
	Tenant string `json:"tenant"`
	Admin  bool   `json:"admin"`
}

// otherTenant replaces other tenants' names for a non-admin viewer. One
// label for all of them: distinct placeholders ("other-1", "other-2") would
// still let a tenant count and track its neighbours.
const otherTenant = "other"

// sees reports whether the viewer may see the identity of owner's work.
func (v Viewer) sees(owner string) bool { return v.Admin || owner == v.Tenant }

// label is how owner's name is shown to the viewer: "" for no owner.
func (v Viewer) label(owner string) string {
	if owner == "" || v.sees(owner) {
		return owner
	}
	return otherTenant
}

// authenticate resolves the request's bearer token. The token travels only
// in the Authorization header, never in the URL, where it would end up in
// access logs, browser history and Referer headers.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request) (Viewer, bool) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		unauthorized(w, "no token: send Authorization: Bearer TOKEN")
		return Viewer{}, false
	}
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || strings.TrimSpace(tok) == "" {
		unauthorized(w, `authorization must be "Bearer TOKEN"`)
		return Viewer{}, false
	}
	t := h.src.TenantForToken(strings.TrimSpace(tok))
	if t == nil {
		unauthorized(w, "token not recognised")
		return Viewer{}, false
	}
	return Viewer{Tenant: t.Name, Admin: t.Admin}, true
}

func unauthorized(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="ibex"`)
	writeError(w, http.StatusUnauthorized, msg)
}

// apiError is the body of every non-2xx API response.
type apiError struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, apiError{Error: msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	// Per-tenant answers must never be served from a shared cache.
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
