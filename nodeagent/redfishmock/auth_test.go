package redfishmock

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func TestBasicAuth(t *testing.T) {
	s := NewServer(loadMockup(t, "public-rackmount1"), Options{Username: "admin", Password: "s3cret!"})
	sys := "/redfish/v1/Systems/437XR1138R2"

	for _, open := range []string{"/redfish", "/redfish/v1/", "/redfish/v1/$metadata", "/redfish/v1/odata"} {
		wantStatus(t, do(t, s, http.MethodGet, open, ""), http.StatusOK)
	}
	rec := do(t, s, http.MethodGet, sys, "")
	wantError(t, rec, http.StatusUnauthorized, "ResourceAtUriUnauthorized")
	if !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Basic") {
		t.Errorf("WWW-Authenticate = %q", rec.Header().Get("WWW-Authenticate"))
	}
	wantStatus(t, do(t, s, http.MethodGet, sys, "", "Authorization", basic("admin", "wrong")), http.StatusUnauthorized)
	wantStatus(t, do(t, s, http.MethodGet, sys, "", "Authorization", basic("root", "s3cret!")), http.StatusUnauthorized)
	wantStatus(t, do(t, s, http.MethodGet, sys, "", "X-Auth-Token", "forged"), http.StatusUnauthorized)
	wantStatus(t, do(t, s, http.MethodGet, sys, "", "Authorization", basic("admin", "s3cret!")), http.StatusOK)
	// Unauthenticated writes are refused before the body is looked at.
	wantStatus(t, do(t, s, http.MethodPost, sys+"/Actions/ComputerSystem.Reset", `{"ResetType":"ForceOff"}`), http.StatusUnauthorized)
	if got := powerState(t, NewServer(s.m, Options{}), sys); got != "On" {
		t.Fatal("sanity")
	}
	if n := len(s.Resets()); n != 0 {
		t.Errorf("unauthenticated reset recorded")
	}
}

func TestSessionLoginLogout(t *testing.T) {
	s := NewServer(loadMockup(t, "public-tower"), Options{Username: "admin", Password: "pw"})
	coll := "/redfish/v1/SessionService/Sessions"
	sys := "/redfish/v1/Systems/437XR1238R2"

	wantError(t, do(t, s, http.MethodPost, coll, `{"UserName":"admin","Password":"nope"}`), http.StatusUnauthorized, "ResourceAtUriUnauthorized")
	wantError(t, do(t, s, http.MethodPost, coll, `{"Password":"pw"}`), http.StatusBadRequest, "ActionParameterMissing")
	rec := do(t, s, http.MethodPost, coll, `{"UserName":"admin","Password":"pw"}`)
	wantStatus(t, rec, http.StatusCreated)
	tok, loc := rec.Header().Get("X-Auth-Token"), rec.Header().Get("Location")
	if tok == "" || !strings.HasPrefix(loc, coll+"/") {
		t.Fatalf("token %q location %q", tok, loc)
	}
	if strings.Contains(rec.Body.String(), "pw") {
		t.Errorf("session body echoes the password: %s", rec.Body)
	}
	if s.Sessions() != 1 {
		t.Errorf("Sessions() = %d", s.Sessions())
	}
	wantStatus(t, do(t, s, http.MethodGet, sys, "", "X-Auth-Token", tok), http.StatusOK)
	members := decodeRec(t, do(t, s, http.MethodGet, coll, "", "X-Auth-Token", tok))
	if !jsonContains(members["Members"], loc) {
		t.Errorf("new session not listed: %v", members["Members"])
	}

	wantStatus(t, do(t, s, http.MethodDelete, loc, ""), http.StatusUnauthorized)
	wantStatus(t, do(t, s, http.MethodDelete, loc, "", "X-Auth-Token", tok), http.StatusNoContent)
	if s.Sessions() != 0 {
		t.Errorf("Sessions() = %d after logout", s.Sessions())
	}
	wantStatus(t, do(t, s, http.MethodGet, sys, "", "X-Auth-Token", tok), http.StatusUnauthorized)
	wantStatus(t, do(t, s, http.MethodGet, loc, "", "Authorization", basic("admin", "pw")), http.StatusNotFound)
	wantStatus(t, do(t, s, http.MethodDelete, loc, "", "Authorization", basic("admin", "pw")), http.StatusNotFound)
}

// TestNoAuthConfigured: without configured credentials everything is open,
// and logins with any credentials succeed, so a client configured with
// credentials still works against an open mock.
func TestNoAuthConfigured(t *testing.T) {
	s := NewServer(loadMockup(t, "public-smartnic"), Options{})
	wantStatus(t, do(t, s, http.MethodGet, "/redfish/v1/Systems/Card1-SoC", ""), http.StatusOK)
	wantStatus(t, do(t, s, http.MethodPost, "/redfish/v1/SessionService/Sessions", `{"UserName":"x","Password":"y"}`), http.StatusCreated)
}

// TestLoggerOmitsCredentials: the request log has method, path and status
// only.
func TestLoggerOmitsCredentials(t *testing.T) {
	var buf bytes.Buffer
	s := NewServer(loadMockup(t, "public-tower"), Options{Username: "admin", Password: "log-secret-pw", Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	do(t, s, http.MethodGet, "/redfish/v1/Systems", "", "Authorization", basic("admin", "log-secret-pw"))
	do(t, s, http.MethodPost, "/redfish/v1/SessionService/Sessions", `{"UserName":"admin","Password":"log-secret-pw"}`)
	do(t, s, http.MethodGet, "/redfish/v1/Systems", "")
	out := buf.String()
	if strings.Count(out, "\n") != 3 || !strings.Contains(out, "status=401") || !strings.Contains(out, "status=201") {
		t.Errorf("log:\n%s", out)
	}
	if strings.Contains(out, "log-secret-pw") || strings.Contains(out, base64.StdEncoding.EncodeToString([]byte("admin:log-secret-pw"))) {
		t.Errorf("credentials logged:\n%s", out)
	}
}
