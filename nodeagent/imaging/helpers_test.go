package imaging

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// testData returns n deterministic pseudo-random bytes and a valid catalog
// entry for them at url.
func testData(n int, seed uint64, url string) ([]byte, Image) {
	data := make([]byte, n)
	var s [32]byte
	s[0] = byte(seed)
	rand.NewChaCha8(s).Read(data)
	sum := sha256.Sum256(data)
	return data, Image{Name: "rocky9-hpc", Version: "2024.06.1", Size: int64(n), SHA256: hex.EncodeToString(sum[:]), SourceURL: url}
}

// testWriter has small buffers so that test images span many chunks, and
// a back-off short enough not to slow the suite.
func testWriter() *Writer {
	return &Writer{BufferSize: 64 << 10, Buffers: 3, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
}

// request is what a test server saw and answered.
type request struct {
	Range, IfRange string
	Status         int
}

// server serves data and records requests. serve decides what to do with
// each request; n counts requests from 1.
type server struct {
	t    *testing.T
	data []byte
	mu   sync.Mutex
	reqs []request
	srv  *httptest.Server
}

func newServer(t *testing.T, data []byte, serve func(s *server, n int, w http.ResponseWriter, r *http.Request)) *server {
	s := &server{t: t, data: data}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, request{Range: r.Header.Get("Range"), IfRange: r.Header.Get("If-Range")})
		n := len(s.reqs)
		s.mu.Unlock()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			s.mu.Lock()
			s.reqs[n-1].Status = sw.status
			s.mu.Unlock()
		}()
		serve(s, n, sw, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *server) requests() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]request(nil), s.reqs...)
}

// content serves s.data the standard way: Range, If-Range and ETag
// handled by http.ServeContent.
func (s *server) content(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("ETag", `"img-v1"`)
	http.ServeContent(w, r, "image.raw", time.Unix(1700000000, 0), bytes.NewReader(s.data))
}

// cut starts a full 200 response with a Content-Length for all of body
// and drops the connection after n bytes, as a failing proxy or a reset
// would.
func cut(w http.ResponseWriter, body []byte, n int) {
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Set("ETag", `"img-v1"`)
	w.WriteHeader(http.StatusOK)
	w.Write(body[:n])
	w.(http.Flusher).Flush()
	panic(http.ErrAbortHandler)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Flush() { w.ResponseWriter.(http.Flusher).Flush() }
