package redfishmock

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Options configures a Server.
type Options struct {
	// Username and Password, when Username is non-empty, require every
	// request except the unauthenticated ones Redfish allows (service root,
	// $metadata, odata, and session login) to carry matching HTTP Basic
	// credentials or an X-Auth-Token from a session. Wrong or missing
	// credentials get 401.
	Username string
	Password string

	// Logger, if set, gets one record per request: method, path, status.
	// Headers and bodies are never logged since they carry credentials.
	Logger *slog.Logger
}

// Server serves one Mockup. Its state (power, boot overrides, sessions,
// recorded requests) lives only in memory and only in this instance.
// It is an http.Handler, so tests wrap it in httptest.NewServer or
// httptest.NewTLSServer; Run and Serve are for standalone use.
type Server struct {
	m           *Mockup
	opts        Options
	sessionsURI string

	mu       sync.RWMutex
	overlay  map[string]map[string]any // resources changed or added here
	deleted  map[string]bool           // resources removed here
	sessions map[string]string         // X-Auth-Token -> session URI
	logins   int
	updates  []UpdateRequest
	resets   []ResetRequest
	media    []MediaRequest
	lag      int                 // GETs a power transition stays visible
	pending  map[string]*pending // system URI -> power transition under way
	faults   []*Fault
	seq      int
	onPower  func(PowerChange) // power_hook.go
}

// NewServer returns a Server over m. Many servers may share one Mockup.
func NewServer(m *Mockup, opts Options) *Server {
	s := &Server{
		m:           m,
		opts:        opts,
		sessionsURI: ServiceRoot + "/SessionService/Sessions",
		overlay:     make(map[string]map[string]any),
		deleted:     make(map[string]bool),
		sessions:    make(map[string]string),
		pending:     make(map[string]*pending),
	}
	if root, ok := s.doc(ServiceRoot); ok {
		if links, ok := root["Links"].(map[string]any); ok {
			if id := odataID(links["Sessions"]); id != "" {
				s.sessionsURI = id
			}
		}
	}
	s.initBios()
	return s
}

// New loads the mockup in dir and returns a Server over it.
func New(dir string, opts Options) (*Server, error) {
	m, err := Load(dir)
	if err != nil {
		return nil, err
	}
	return NewServer(m, opts), nil
}

// Run listens on addr (e.g. "127.0.0.1:8000") and serves until ctx is done.
func (s *Server) Run(ctx context.Context, addr string) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx is done, then shuts down gracefully. It
// returns nil after a shutdown caused by ctx.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := hs.Shutdown(sctx)
		if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = serr
		}
		return err
	}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	s.serve(rec, r)
	if s.opts.Logger != nil {
		s.opts.Logger.Info("redfishmock", "method", r.Method, "path", r.URL.Path, "status", rec.status)
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	key, err := canonicalPath(r.URL.EscapedPath())
	if err != nil {
		writeError(w, errInvalidURI(r.URL.EscapedPath()))
		return
	}
	if !s.exempt(r.Method, key) && !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="redfishmock"`)
		writeError(w, errUnauthorized(key))
		return
	}
	if s.fault(w, r.Method, key) {
		return
	}
	var herr *httpError
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		herr = s.handleGet(w, r, key)
	case http.MethodPost:
		if key == s.sessionsURI {
			herr = s.handleLogin(w, r)
		} else {
			herr = s.handleAction(w, r, key)
		}
	case http.MethodPatch:
		herr = s.handlePatch(w, r, key)
	case http.MethodDelete:
		herr = s.handleDelete(w, key)
	default:
		herr = errMethodNotAllowed(r.Method, key)
	}
	if herr != nil {
		if herr.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", "GET, HEAD, POST, PATCH, DELETE")
		}
		writeError(w, herr)
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}
