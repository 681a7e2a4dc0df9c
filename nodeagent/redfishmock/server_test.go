package redfishmock

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadAllMockups(t *testing.T) {
	for _, mk := range mockups {
		t.Run(mk.name, func(t *testing.T) {
			m := loadMockup(t, mk.name)
			if m.Len() < 100 {
				t.Errorf("only %d URIs loaded", m.Len())
			}
			s := NewServer(m, Options{})
			for _, uri := range []string{"/redfish/v1/", "/redfish/v1", "/redfish//v1//", mk.system, "/redfish/v1/Systems"} {
				rec := do(t, s, http.MethodGet, uri, "")
				wantStatus(t, rec, http.StatusOK)
				if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Errorf("%s: Content-Type %q", uri, ct)
				}
				if rec.Header().Get("ETag") == "" {
					t.Errorf("%s: no ETag", uri)
				}
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a Redfish mockup") {
		t.Errorf("empty dir: err = %v", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.json"), []byte(`{"@odata.id": "/redfish/v1/",`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "invalid JSON") {
		t.Errorf("broken JSON: err = %v", err)
	}
}

// TestFullFormAndSymlinks covers Redfish-Mockup-Creator's layout
// (dir/redfish/v1/...) and checks that a symlink inside a mockup, which
// could point anywhere, is not served.
func TestFullFormAndSymlinks(t *testing.T) {
	dir := t.TempDir()
	v1 := filepath.Join(dir, "redfish", "v1")
	must(t, os.MkdirAll(filepath.Join(v1, "Systems", "1"), 0o755))
	must(t, os.WriteFile(filepath.Join(v1, "index.json"), []byte(`{"@odata.id":"/redfish/v1/","Systems":{"@odata.id":"/redfish/v1/Systems"}}`), 0o644))
	must(t, os.WriteFile(filepath.Join(v1, "Systems", "1", "index.json"), []byte(`{"@odata.id":"/redfish/v1/Systems/1","@odata.type":"#ComputerSystem.v1_0_0.ComputerSystem","PowerState":"On"}`), 0o644))
	secret := filepath.Join(t.TempDir(), "secret")
	must(t, os.MkdirAll(secret, 0o755))
	must(t, os.WriteFile(filepath.Join(secret, "index.json"), []byte(`{"secret":true}`), 0o644))
	must(t, os.Symlink(secret, filepath.Join(v1, "Leak")))
	must(t, os.Symlink(filepath.Join(secret, "index.json"), filepath.Join(v1, "Systems", "index.json")))

	s, err := New(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, do(t, s, http.MethodGet, "/redfish/v1/Systems/1", ""), http.StatusOK)
	wantStatus(t, do(t, s, http.MethodGet, "/redfish/v1/Leak", ""), http.StatusNotFound)
	wantStatus(t, do(t, s, http.MethodGet, "/redfish/v1/Systems", ""), http.StatusNotFound)
	rec := do(t, s, http.MethodGet, "/redfish", "")
	wantStatus(t, rec, http.StatusOK)
	if decodeRec(t, rec)["v1"] != "/redfish/v1/" {
		t.Errorf("/redfish = %s", rec.Body)
	}
}

func TestGetSpecialResources(t *testing.T) {
	s := NewServer(loadMockup(t, "public-rackmount1"), Options{})

	rec := do(t, s, http.MethodGet, "/redfish/v1/$metadata", "")
	wantStatus(t, rec, http.StatusOK)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/xml") {
		t.Errorf("$metadata Content-Type %q", ct)
	}
	wantStatus(t, do(t, s, http.MethodGet, "/redfish/v1/Registries/Base.1.5.0.json", ""), http.StatusOK)
	wantError(t, do(t, s, http.MethodGet, "/redfish/v1/explorer_config.json", ""), http.StatusNotFound, "ResourceMissingAtURI")
	wantError(t, do(t, s, http.MethodGet, "/redfish/v1/Systems/index.json", ""), http.StatusNotFound, "ResourceMissingAtURI")
	wantError(t, do(t, s, http.MethodGet, "/redfish/v1/NoSuchThing", ""), http.StatusNotFound, "ResourceMissingAtURI")
	wantError(t, do(t, s, http.MethodPut, "/redfish/v1/Systems", "{}"), http.StatusMethodNotAllowed, "OperationNotAllowed")
	wantError(t, do(t, s, http.MethodDelete, "/redfish/v1/Systems/437XR1138R2", ""), http.StatusMethodNotAllowed, "OperationNotAllowed")

	head := do(t, s, http.MethodHead, "/redfish/v1/Systems", "")
	wantStatus(t, head, http.StatusOK)
	if head.Body.Len() != 0 {
		t.Errorf("HEAD returned a %d-byte body", head.Body.Len())
	}
}

// TestPathTraversal sends paths that try to leave the mockup. The handler
// must refuse them outright rather than clean them.
func TestPathTraversal(t *testing.T) {
	s := NewServer(loadMockup(t, "public-rackmount1"), Options{})
	for _, p := range []string{
		"/redfish/v1/../../../../etc/passwd",
		"/redfish/v1/Systems/../../../go.mod",
		"/redfish/v1/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
		"/redfish/v1/..%2f..%2f..%2fetc%2fpasswd",
		"/redfish/v1/Systems%2f437XR1138R2",
		"/redfish/v1/..%5c..%5cetc%5cpasswd",
		"/redfish/v1/Systems/..\\..\\x",
		"/redfish/v1/%00",
		"/redfish/v1/Systems/%ff",
		"/redfish/v1/.git/config",
		"/redfish/v1/./Systems",
		"/etc/passwd",
		"/",
		"relative/path",
	} {
		rec := do(t, s, http.MethodGet, p, "")
		if rec.Code != http.StatusBadRequest {
			t.Errorf("GET %q: status %d, want 400; body %s", p, rec.Code, rec.Body)
		}
	}
}

// TestPathTraversalOverTCP makes sure nothing between the socket and the
// handler cleans "..", by writing the request line by hand.
func TestPathTraversalOverTCP(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(loadMockup(t, "public-rackmount1"), Options{})
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()

	conn, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /redfish/v1/../../../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || strings.Contains(string(body), "root:") {
		t.Errorf("status %d body %s", resp.StatusCode, body)
	}

	// Run/Serve must stop cleanly when the context ends.
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve returned %v after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}

func TestRunBadAddress(t *testing.T) {
	s := NewServer(loadMockup(t, "public-tower"), Options{})
	if err := s.Run(context.Background(), "127.0.0.1:-1"); err == nil {
		t.Error("Run on an invalid address succeeded")
	}
}

// TestCopyOnWrite checks that servers sharing a Mockup do not see each
// other's changes and that the mockup itself is never modified.
func TestCopyOnWrite(t *testing.T) {
	m := loadMockup(t, "public-rackmount1")
	sys := "/redfish/v1/Systems/437XR1138R2"
	before := string(m.docs[sys].data)
	a, b := NewServer(m, Options{}), NewServer(m, Options{})

	wantStatus(t, do(t, a, http.MethodPost, sys+"/Actions/ComputerSystem.Reset", `{"ResetType":"ForceOff"}`), http.StatusNoContent)
	wantStatus(t, do(t, a, http.MethodPatch, sys, `{"Boot":{"BootSourceOverrideTarget":"Hdd"}}`), http.StatusOK)
	if got := powerState(t, a, sys); got != "Off" {
		t.Errorf("a: PowerState %s, want Off", got)
	}
	if got := powerState(t, b, sys); got != "On" {
		t.Errorf("b: PowerState %s, want On (untouched)", got)
	}
	if got := bootProp(t, b, sys, "BootSourceOverrideTarget"); got != "Pxe" {
		t.Errorf("b: boot target %s, want Pxe", got)
	}
	if string(m.docs[sys].data) != before {
		t.Error("mockup bytes were modified")
	}
	if got := powerState(t, NewServer(m, Options{}), sys); got != "On" {
		t.Errorf("fresh server: PowerState %s, want On", got)
	}
}

func TestResourceAccessors(t *testing.T) {
	s := NewServer(loadMockup(t, "public-tower"), Options{})
	fw := "/redfish/v1/UpdateService/FirmwareInventory/NIC"
	if err := s.SetResource(fw, map[string]any{"@odata.id": fw, "Id": "NIC", "Version": "N/A"}); err != nil {
		t.Fatal(err)
	}
	d, err := s.Resource(fw)
	if err != nil || d["Version"] != "N/A" {
		t.Fatalf("Resource = %v, %v", d, err)
	}
	d["Version"] = "mutated"
	if again, _ := s.Resource(fw); again["Version"] != "N/A" {
		t.Error("Resource did not return a copy")
	}
	if err := s.RemoveResource(fw); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, do(t, s, http.MethodGet, fw, ""), http.StatusNotFound)
	if err := s.RemoveResource(fw); err == nil {
		t.Error("removing twice succeeded")
	}
	// Non-JSON resources can be removed too.
	r1 := NewServer(loadMockup(t, "public-rackmount1"), Options{})
	if err := r1.RemoveResource("/redfish/v1/$metadata"); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, do(t, r1, http.MethodGet, "/redfish/v1/$metadata", ""), http.StatusNotFound)
	if err := s.SetResource("/redfish/v1/x", []int{1}); err == nil {
		t.Error("SetResource accepted a non-object")
	}
	if err := s.SetResource("/redfish/../x", map[string]any{}); err == nil {
		t.Error("SetResource accepted a traversal path")
	}
	if _, err := s.Resource("/redfish/v1/nope"); err == nil {
		t.Error("Resource of a missing URI succeeded")
	}
}

func TestFaults(t *testing.T) {
	s := NewServer(loadMockup(t, "public-tower"), Options{})
	sys := "/redfish/v1/Systems/437XR1238R2/"
	if err := s.InjectFault(Fault{Method: http.MethodGet, Path: sys, Status: http.StatusServiceUnavailable, Body: []byte(`{"error":{"code":"Base.1.0.GeneralError","message":"busy"}}`), Times: 1}); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, do(t, s, http.MethodPatch, strings.TrimSuffix(sys, "/"), `{"Boot":{"BootSourceOverrideTarget":"Cd"}}`), http.StatusOK)
	rec := do(t, s, http.MethodGet, strings.TrimSuffix(sys, "/"), "")
	wantStatus(t, rec, http.StatusServiceUnavailable)
	if !strings.Contains(rec.Body.String(), "busy") {
		t.Errorf("fault body not replayed: %s", rec.Body)
	}
	wantStatus(t, do(t, s, http.MethodGet, sys, ""), http.StatusOK)

	must(t, s.InjectFault(Fault{Path: sys, Status: http.StatusInternalServerError}))
	wantStatus(t, do(t, s, http.MethodGet, sys, ""), http.StatusInternalServerError)
	wantStatus(t, do(t, s, http.MethodGet, sys, ""), http.StatusInternalServerError)
	s.ClearFaults()
	wantStatus(t, do(t, s, http.MethodGet, sys, ""), http.StatusOK)
	if err := s.InjectFault(Fault{Path: "/x/../y"}); err == nil {
		t.Error("InjectFault accepted a bad path")
	}
}

func TestErrorBodyShape(t *testing.T) {
	s := NewServer(loadMockup(t, "public-tower"), Options{})
	rec := do(t, s, http.MethodGet, "/redfish/v1/Nope", "")
	var raw map[string]map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"code", "message", "@Message.ExtendedInfo"} {
		if _, ok := raw["error"][k]; !ok {
			t.Errorf("error body lacks %q: %s", k, rec.Body)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
