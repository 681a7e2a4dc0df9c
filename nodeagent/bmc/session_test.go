package bmc

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/ibex-hpc/ibex/nodeagent/redfishmock"
)

// TestSessionExpiredLogsInAgain: once the BMC has ended the session (it
// timed out, or the BMC restarted), every request gets 401. The client
// logs in again, once, and the call succeeds, reads and actions alike.
func TestSessionExpiredLogsInAgain(t *testing.T) {
	srv, ts := startMock(t, "public-tower")
	r := dial(t, testConfig(ts.URL, ""))
	ctx := context.Background()
	sys := "/redfish/v1/Systems/437XR1238R2"

	if n := srv.ExpireSessions(); n != 1 {
		t.Fatalf("%d sessions expired, want the client's one", n)
	}
	if st, err := r.PowerState(ctx); err != nil || st != StateOn {
		t.Fatalf("PowerState after the session expired = %s, %v", st, err)
	}
	if srv.Logins() != 1 || srv.Sessions() != 1 {
		t.Errorf("after expiry: %d logins, %d sessions; want 1, 1", srv.Logins(), srv.Sessions())
	}

	// An action is retried too, and sent once.
	srv.ExpireSessions()
	must(t, r.PowerOff(ctx))
	if got := resource(t, srv, sys)["PowerState"]; got != "Off" {
		t.Errorf("PowerState %v after PowerOff", got)
	}
	if n := len(srv.Resets()); n != 1 {
		t.Errorf("%d resets sent, want 1", n)
	}

	// Many callers hitting the expired session cost one login.
	srv.ExpireSessions()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := r.FirmwareInventory(ctx); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if srv.Logins() != 1 || srv.Sessions() != 1 {
		t.Errorf("8 concurrent callers: %d logins, %d sessions; want 1, 1", srv.Logins(), srv.Sessions())
	}

	// Close logs out of the new session.
	must(t, r.Close())
	if srv.Sessions() != 0 {
		t.Errorf("%d sessions left after Close", srv.Sessions())
	}
}

// TestSessionLoginAgainFails: when logging in again fails (the password
// was changed), the call fails once with both errors, and the next call
// tries again rather than giving up for good.
func TestSessionLoginAgainFails(t *testing.T) {
	srv, ts := startMock(t, "public-tower")
	r := dial(t, testConfig(ts.URL, ""))
	ctx := context.Background()
	srv.ExpireSessions()
	must(t, srv.InjectFault(redfishmock.Fault{Method: "POST", Path: "/redfish/v1/SessionService/Sessions", Status: 401, Times: 1,
		Body: []byte(`{"error":{"code":"Base.1.8.GeneralError","message":"Invalid username or password"}}`)}))
	_, err := r.PowerState(ctx)
	var re *RedfishError
	if err == nil || !strings.Contains(err.Error(), "logging in again failed") || !strings.Contains(err.Error(), "Invalid username or password") ||
		!errors.As(err, &re) || re.StatusCode != 401 {
		t.Errorf("PowerState with a refused login = %v", err)
	}
	noSecret(t, err)
	if _, err := r.PowerState(ctx); err != nil {
		t.Errorf("next call, with the login working again: %v", err)
	}
}

// TestBasicAuth401NotRetried: with HTTP Basic there is no session to renew;
// a 401 means wrong credentials and is returned as is.
func TestBasicAuth401NotRetried(t *testing.T) {
	srv, ts := startMock(t, "public-tower")
	cfg := testConfig(ts.URL, "")
	cfg.BasicAuth = true
	r := dial(t, cfg)
	must(t, srv.InjectFault(redfishmock.Fault{Method: "GET", Path: "/redfish/v1/Systems/437XR1238R2", Status: 401, Times: 1}))
	var re *RedfishError
	if _, err := r.PowerState(context.Background()); !errors.As(err, &re) || re.StatusCode != 401 {
		t.Errorf("PowerState = %v, want the 401", err)
	}
	if srv.Logins() != 0 {
		t.Errorf("Basic auth client logged in %d times", srv.Logins())
	}
}
