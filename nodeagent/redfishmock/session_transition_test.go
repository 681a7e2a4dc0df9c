package redfishmock

import (
	"net/http"
	"testing"
)

func TestExpireSessions(t *testing.T) {
	s := NewServer(loadMockup(t, "public-tower"), Options{Username: "admin", Password: "pw"})
	coll := "/redfish/v1/SessionService/Sessions"
	sys := "/redfish/v1/Systems/437XR1238R2"
	rec := do(t, s, http.MethodPost, coll, `{"UserName":"admin","Password":"pw"}`)
	wantStatus(t, rec, http.StatusCreated)
	tok, loc := rec.Header().Get("X-Auth-Token"), rec.Header().Get("Location")
	wantStatus(t, do(t, s, http.MethodGet, sys, "", "X-Auth-Token", tok), http.StatusOK)
	if s.Logins() != 1 {
		t.Errorf("Logins() = %d", s.Logins())
	}
	if n := s.ExpireSessions(); n != 1 {
		t.Errorf("ExpireSessions() = %d", n)
	}
	wantError(t, do(t, s, http.MethodGet, sys, "", "X-Auth-Token", tok), http.StatusUnauthorized, "ResourceAtUriUnauthorized")
	if s.Sessions() != 0 || s.Logins() != 0 {
		t.Errorf("after expiry: %d sessions, %d logins", s.Sessions(), s.Logins())
	}
	if _, err := s.Resource(loc); err == nil {
		t.Error("the expired session's resource is still served")
	}
	if d, _ := s.Resource(coll); jsonContains(d["Members"], loc) {
		t.Errorf("the collection still lists %s", loc)
	}
	rec = do(t, s, http.MethodPost, coll, `{"UserName":"admin","Password":"pw"}`)
	wantStatus(t, rec, http.StatusCreated)
	wantStatus(t, do(t, s, http.MethodGet, sys, "", "X-Auth-Token", rec.Header().Get("X-Auth-Token")), http.StatusOK)
}

// TestPowerTransition: with SetPowerTransition(n), a reset shows the
// transitional state for n GETs and refuses other resets meanwhile.
func TestPowerTransition(t *testing.T) {
	s := NewServer(loadMockup(t, "handwritten/ex-blade"), Options{})
	s.SetPowerTransition(2)
	node := "/redfish/v1/Systems/Node0"
	reset := node + "/Actions/ComputerSystem.Reset"
	wantStatus(t, do(t, s, http.MethodPost, reset, `{"ResetType":"ForceOff"}`), http.StatusNoContent)
	wantError(t, do(t, s, http.MethodPost, reset, `{"ResetType":"On"}`), http.StatusConflict, "ResourceInUse")
	for i, want := range []string{"PoweringOff", "PoweringOff", "Off", "Off"} {
		if got := powerState(t, s, node); got != want {
			t.Fatalf("GET %d: PowerState %s, want %s", i+1, got, want)
		}
	}
	// Cray EX's own "Off" (an ActionInfo value, not a Redfish ResetType).
	wantStatus(t, do(t, s, http.MethodPost, reset, `{"ResetType":"On"}`), http.StatusNoContent)
	powerState(t, s, node)
	powerState(t, s, node)
	if got := powerState(t, s, node); got != "On" {
		t.Fatalf("third GET after On: %s", got)
	}
	wantStatus(t, do(t, s, http.MethodPost, reset, `{"ResetType":"Off"}`), http.StatusNoContent)
	// ForceRestart is not among Node0's allowed types.
	wantError(t, do(t, s, http.MethodPost, node+"/Actions/ComputerSystem.Reset", `{"ResetType":"ForceRestart"}`),
		http.StatusBadRequest, "ActionParameterValueNotInList")
	rs := s.Resets()
	if len(rs) != 3 || rs[0].After != "Off" || rs[1].Before != "Off" || rs[2].ResetType != "Off" {
		t.Errorf("Resets() = %+v", rs)
	}
	// Other systems are not affected.
	if got := powerState(t, s, "/redfish/v1/Systems/Node1"); got != "On" {
		t.Errorf("Node1 %s", got)
	}
}
