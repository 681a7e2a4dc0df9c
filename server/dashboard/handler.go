package dashboard

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"

	"github.com/ibex-hpc/ibex/raft/fsm"
)

// web holds the page. It is embedded so the binary is the whole deployment.
//
//go:embed web
var web embed.FS

// Handler serves the page and its API.
type Handler struct {
	src    Source
	opts   Options
	assets http.Handler
}

// New returns the dashboard for src.
func New(src Source, opts Options) *Handler {
	opts.fill()
	sub, err := fs.Sub(web, "web")
	if err != nil {
		panic("dashboard: embedded assets: " + err.Error())
	}
	return &Handler{src: src, opts: opts, assets: http.FileServerFS(sub)}
}

// Mount registers the page at / and the API under /api/v1/ on mux.
func (h *Handler) Mount(mux *http.ServeMux) {
	mux.Handle("GET /{$}", h.page(http.HandlerFunc(h.index)))
	mux.Handle("GET /assets/", h.page(http.StripPrefix("/assets", h.assets)))
	mux.HandleFunc("GET /api/v1/overview", h.overview)
	mux.HandleFunc("GET /api/v1/nodes/{name}", h.node)
	mux.HandleFunc("GET /api/v1/events", h.events)
}

// csp lets the page load only from ibexd itself: no CDN, no inline script,
// and the API on the same origin. data: images are for the empty favicon,
// which spares the browser a 404.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// page adds the headers every static response gets. The page holds no data,
// so it is served without authentication; the login form is part of it.
func (h *Handler) page(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", csp)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		// Revalidate every time: after an upgrade the page must not mix an
		// old script with a new API.
		w.Header().Set("Cache-Control", "no-cache")
		next.ServeHTTP(w, r)
	})
}

func (h *Handler) index(w http.ResponseWriter, r *http.Request) {
	b, err := web.ReadFile("web/index.html")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b)
}

// overview serves GET /api/v1/overview[?expand=leaf01,leaf02].
func (h *Handler) overview(w http.ResponseWriter, r *http.Request) {
	v, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	expand := map[string]bool{}
	for _, l := range strings.Split(r.URL.Query().Get("expand"), ",") {
		if l = strings.TrimSpace(l); l != "" {
			expand[l] = true
		}
	}
	var out any
	h.src.Read(func(st *fsm.State) { out = h.buildOverview(st, v, expand) })
	writeJSON(w, http.StatusOK, out)
}

// node serves GET /api/v1/nodes/{name}.
func (h *Handler) node(w http.ResponseWriter, r *http.Request) {
	v, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	var d *NodeDetail
	h.src.Read(func(st *fsm.State) { d = nodeDetail(st, v, r.PathValue("name")) })
	if d == nil {
		writeError(w, http.StatusNotFound, "no node "+r.PathValue("name"))
		return
	}
	writeJSON(w, http.StatusOK, d)
}
