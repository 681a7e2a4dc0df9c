package redfishmock

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The DMTF mockups under testdata, with the system each test drives.
var mockups = []struct {
	name   string
	system string
}{
	{"public-rackmount1", "/redfish/v1/Systems/437XR1138R2"},
	{"public-tower", "/redfish/v1/Systems/437XR1238R2"},
	{"public-smartnic", "/redfish/v1/Systems/437XR1138R2"},
}

func mockupDir(name string) string {
	if strings.Contains(name, "/") { // e.g. handwritten/vmedia-server
		return filepath.Join("..", "..", "testdata", "redfish", filepath.FromSlash(name))
	}
	return filepath.Join("..", "..", "testdata", "redfish", "dmtf-publications", name)
}

var loaded sync.Map // name -> *Mockup

// loadMockup loads a mockup once per test binary; servers share it, which
// is itself a check that servers never write to it.
func loadMockup(tb testing.TB, name string) *Mockup {
	tb.Helper()
	if m, ok := loaded.Load(name); ok {
		return m.(*Mockup)
	}
	m, err := Load(mockupDir(name))
	if err != nil {
		tb.Fatal(err)
	}
	actual, _ := loaded.LoadOrStore(name, m)
	return actual.(*Mockup)
}

func do(tb testing.TB, h http.Handler, method, target, body string, hdr ...string) *httptest.ResponseRecorder {
	tb.Helper()
	var req *http.Request
	if body == "" {
		req = httptest.NewRequest(method, "http://bmc.test/", nil)
	} else {
		req = httptest.NewRequest(method, "http://bmc.test/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	}
	// Set the URL by hand: NewRequest panics on some of the hostile paths
	// the tests need to send, and nothing here may clean them first.
	if u, err := url.ParseRequestURI(target); err == nil {
		req.URL = u
	} else {
		req.URL = &url.URL{Path: target}
	}
	req.RequestURI = target
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func decodeRec(tb testing.TB, rec *httptest.ResponseRecorder) map[string]any {
	tb.Helper()
	var d map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil {
		tb.Fatalf("status %d, body not a JSON object: %v\n%s", rec.Code, err, rec.Body)
	}
	return d
}

// messageIDs returns the MessageId keys (registry prefix stripped) of a
// Redfish error body.
func messageIDs(tb testing.TB, rec *httptest.ResponseRecorder) []string {
	tb.Helper()
	var body errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		tb.Fatalf("status %d, not a Redfish error body: %v\n%s", rec.Code, err, rec.Body)
	}
	var ids []string
	for _, m := range body.Error.ExtendedInfo {
		ids = append(ids, strings.TrimPrefix(m.MessageID, baseRegistry))
	}
	return ids
}

func wantStatus(tb testing.TB, rec *httptest.ResponseRecorder, want int) {
	tb.Helper()
	if rec.Code != want {
		tb.Fatalf("status = %d, want %d; body:\n%s", rec.Code, want, rec.Body)
	}
}

func wantError(tb testing.TB, rec *httptest.ResponseRecorder, status int, id string) {
	tb.Helper()
	wantStatus(tb, rec, status)
	ids := messageIDs(tb, rec)
	for _, got := range ids {
		if got == id {
			return
		}
	}
	tb.Fatalf("MessageIds = %v, want %s", ids, id)
}

func powerState(tb testing.TB, s *Server, system string) string {
	tb.Helper()
	rec := do(tb, s, http.MethodGet, system, "")
	wantStatus(tb, rec, http.StatusOK)
	ps, _ := decodeRec(tb, rec)["PowerState"].(string)
	return ps
}

func bootProp(tb testing.TB, s *Server, system, prop string) string {
	tb.Helper()
	rec := do(tb, s, http.MethodGet, system, "")
	wantStatus(tb, rec, http.StatusOK)
	boot, _ := decodeRec(tb, rec)["Boot"].(map[string]any)
	v, _ := boot[prop].(string)
	return v
}

// jsonContains reports whether the JSON encoding of v contains sub.
func jsonContains(v any, sub string) bool {
	data, err := json.Marshal(v)
	return err == nil && strings.Contains(string(data), sub)
}
