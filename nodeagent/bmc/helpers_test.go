package bmc

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ibex-hpc/ibex/nodeagent/redfishmock"
)

const (
	testUser     = "ibex-admin"
	testPassword = "Zq7-very-secret-pw"
)

// The three DMTF mockups, with the SystemID a client must give (the
// SmartNIC mockup has a host system and the NIC's SoC system).
var mockupCases = []struct {
	name      string
	systemID  string
	system    string // its URI
	firmware  []string
	inventory bool // the BMC has an UpdateService with a FirmwareInventory
}{
	// rackmount1 says Members@odata.count 2 but lists BMC, SS and BIOS,
	// and has an unlisted AC-RoT0 entry on disk.
	{"public-rackmount1", "", "/redfish/v1/Systems/437XR1138R2", []string{"BIOS", "BMC", "SS"}, true},
	{"public-tower", "", "/redfish/v1/Systems/437XR1238R2", []string{"BIOS", "BMC"}, true},
	// No UpdateService: BMC from Managers/BMC, BIOS from BiosVersion.
	{"public-smartnic", "437XR1138R2", "/redfish/v1/Systems/437XR1138R2", []string{"BIOS", "BMC"}, false},
}

var mockupCache sync.Map

func loadMockup(tb testing.TB, name string) *redfishmock.Mockup {
	tb.Helper()
	if m, ok := mockupCache.Load(name); ok {
		return m.(*redfishmock.Mockup)
	}
	dir := filepath.Join("..", "..", "testdata", "redfish", "dmtf-publications", name)
	if strings.Contains(name, "/") { // e.g. handwritten/ex-blade
		dir = filepath.Join("..", "..", "testdata", "redfish", filepath.FromSlash(name))
	}
	m, err := redfishmock.Load(dir)
	if err != nil {
		tb.Fatal(err)
	}
	actual, _ := mockupCache.LoadOrStore(name, m)
	return actual.(*redfishmock.Mockup)
}

// startMock serves a fresh copy of a mockup that requires testUser and
// testPassword.
func startMock(tb testing.TB, name string) (*redfishmock.Server, *httptest.Server) {
	tb.Helper()
	srv := redfishmock.NewServer(loadMockup(tb, name), redfishmock.Options{Username: testUser, Password: testPassword})
	ts := httptest.NewServer(srv)
	tb.Cleanup(ts.Close)
	return srv, ts
}

func testConfig(url, systemID string) Config {
	return Config{Endpoint: url, Username: testUser, Password: testPassword, SystemID: systemID}
}

func dial(tb testing.TB, cfg Config) *Redfish {
	tb.Helper()
	r, err := Dial(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("Dial: %v", err)
	}
	tb.Cleanup(func() { _ = r.Close() })
	return r
}

// resource reads a resource straight from the mock: the "fresh GET" that
// shows what the BMC really holds, independent of the client under test.
func resource(tb testing.TB, srv *redfishmock.Server, uri string) map[string]any {
	tb.Helper()
	d, err := srv.Resource(uri)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

func bootOf(tb testing.TB, srv *redfishmock.Server, system string) map[string]any {
	tb.Helper()
	b, _ := resource(tb, srv, system)["Boot"].(map[string]any)
	return b
}

// noSecret fails if err's message, or the message of anything it wraps,
// contains the test password.
func noSecret(tb testing.TB, err error) {
	tb.Helper()
	if err == nil {
		return
	}
	walk(err, func(e error) {
		if strings.Contains(e.Error(), testPassword) {
			tb.Errorf("error leaks the password: %q", e.Error())
		}
	})
}
