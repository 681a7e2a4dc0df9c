package bmc

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/nodeagent/redfishmock"
)

func resetsOf(srv *redfishmock.Server) []string {
	var out []string
	for _, r := range srv.Resets() {
		out = append(out, r.ResetType+" "+r.Before+"->"+r.After)
	}
	return out
}

// TestResetOffThenOn: HPE Cray EX nodes allow only ForceOff, On and Off.
// A power cycle there is ForceOff, a wait until the node reports Off, and
// On. The mock keeps PoweringOff visible for a few reads and refuses
// resets until then, as BMCs do, so a client that did not wait fails.
func TestResetOffThenOn(t *testing.T) {
	ctx := context.Background()
	node := "/redfish/v1/Systems/Node0"
	for _, kind := range []ResetKind{ResetForceRestart, ResetPowerCycle} {
		t.Run(string(kind), func(t *testing.T) {
			srv, ts := startMock(t, exBlade)
			srv.SetPowerTransition(3)
			r := dial(t, testConfig(ts.URL, "Node0"))
			r.pollInterval = time.Millisecond
			must(t, r.Reset(ctx, kind))
			if got, want := resetsOf(srv), []string{"ForceOff On->Off", "On Off->On"}; !slices.Equal(got, want) {
				t.Errorf("resets %v, want %v", got, want)
			}
			// The other node was not touched.
			if got := resource(t, srv, "/redfish/v1/Systems/Node1")["PowerState"]; got != "On" {
				t.Errorf("Node1 PowerState %v", got)
			}
		})
	}

	t.Run("already off", func(t *testing.T) {
		srv, ts := startMock(t, exBlade)
		r := dial(t, testConfig(ts.URL, "Node0"))
		must(t, r.PowerOff(ctx))
		must(t, r.Reset(ctx, ResetForceRestart))
		if got, want := resetsOf(srv), []string{"ForceOff On->Off", "On Off->On"}; !slices.Equal(got, want) {
			t.Errorf("resets %v, want %v", got, want)
		}
	})

	t.Run("never reaches Off", func(t *testing.T) {
		srv, ts := startMock(t, exBlade)
		srv.SetPowerTransition(1 << 20)
		cfg := testConfig(ts.URL, "Node0")
		cfg.PowerWait = time.Nanosecond
		r := dial(t, cfg)
		r.pollInterval = time.Millisecond
		err := r.Reset(ctx, ResetForceRestart)
		if err == nil || !strings.Contains(err.Error(), "still reports PoweringOff") || !strings.Contains(err.Error(), "not powering it on") {
			t.Errorf("Reset = %v", err)
		}
		if got, want := resetsOf(srv), []string{"ForceOff On->Off"}; !slices.Equal(got, want) {
			t.Errorf("resets %v, want only the ForceOff", got)
		}
		if got := resource(t, srv, node)["PowerState"]; got != "PoweringOff" {
			t.Errorf("PowerState %v", got)
		}
	})

	t.Run("context ends while waiting", func(t *testing.T) {
		srv := redfishmock.NewServer(loadMockup(t, exBlade), redfishmock.Options{Username: testUser, Password: testPassword})
		srv.SetPowerTransition(1 << 20)
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		// The caller gives up as soon as the BMC has taken the ForceOff.
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			srv.ServeHTTP(w, req)
			if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "ComputerSystem.Reset") {
				cancel()
			}
		}))
		defer ts.Close()
		r := dial(t, testConfig(ts.URL, "Node0"))
		r.pollInterval = time.Millisecond
		if err := r.Reset(cctx, ResetForceRestart); !errors.Is(err, context.Canceled) {
			t.Errorf("Reset with the context canceled while waiting = %v", err)
		}
		if got, want := resetsOf(srv), []string{"ForceOff On->Off"}; !slices.Equal(got, want) {
			t.Errorf("resets %v, want only the ForceOff", got)
		}
	})

	t.Run("other kinds are refused", func(t *testing.T) {
		srv, ts := startMock(t, exBlade)
		r := dial(t, testConfig(ts.URL, "Node0"))
		for _, kind := range []ResetKind{ResetGracefulRestart, ResetGracefulShutdown, ResetNmi} {
			if err := r.Reset(ctx, kind); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "ForceOff On Off") {
				t.Errorf("Reset(%s) = %v, want ErrUnsupported listing the allowed types", kind, err)
			}
		}
		if n := len(srv.Resets()); n != 0 {
			t.Errorf("%d refused resets reached the BMC", n)
		}
	})
}

// TestResetInlineAllowableValues: the vmedia-server mockup lists its reset
// types inline (ResetType@Redfish.AllowableValues) and offers neither
// ForceRestart nor PowerCycle, nor ForceOn.
func TestResetInlineAllowableValues(t *testing.T) {
	srv, ts := startMock(t, vmediaServer)
	r := dial(t, testConfig(ts.URL, ""))
	ctx := context.Background()
	must(t, r.Reset(ctx, ResetPowerCycle))
	must(t, r.Reset(ctx, ResetForceOn)) // On instead; a no-op reset of a running host
	must(t, r.Reset(ctx, ResetGracefulRestart))
	want := []string{"ForceOff On->Off", "On Off->On", "On On->On", "GracefulRestart On->On"}
	if got := resetsOf(srv); !slices.Equal(got, want) {
		t.Errorf("resets %v, want %v", got, want)
	}
}

// TestPowerOnPushButton: a BMC offering neither On nor ForceOn is powered
// on with the power button, but only when it reports Off, since the button
// toggles.
func TestPowerOnPushButton(t *testing.T) {
	srv, ts := startMock(t, vmediaServer)
	sys := "/redfish/v1/Systems/system"
	d := resource(t, srv, sys)
	d["Actions"].(map[string]any)["#ComputerSystem.Reset"].(map[string]any)["ResetType@Redfish.AllowableValues"] = []string{"ForceOff", "PushPowerButton"}
	must(t, srv.SetResource(sys, d))
	r := dial(t, testConfig(ts.URL, ""))
	ctx := context.Background()
	must(t, r.PowerOff(ctx))
	must(t, r.PowerOn(ctx))
	must(t, r.PowerOn(ctx))
	if got, want := resetsOf(srv), []string{"ForceOff On->Off", "PushPowerButton Off->On"}; !slices.Equal(got, want) {
		t.Errorf("resets %v, want %v", got, want)
	}
	d = resource(t, srv, sys)
	d["PowerState"] = "PoweringOff"
	must(t, srv.SetResource(sys, d))
	if err := r.PowerOn(ctx); !errors.Is(err, ErrUnsupported) {
		t.Errorf("PowerOn of a host powering off = %v, want ErrUnsupported (no button press)", err)
	}
}
