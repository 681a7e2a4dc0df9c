package bmc

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/ibex-hpc/ibex/nodeagent/redfishmock"
)

const rackBios = "/redfish/v1/Systems/437XR1138R2/Bios"

func jsonText(v any) string { b, _ := json.Marshal(v); return string(b) }

func biosAttr(t *testing.T, srv *redfishmock.Server, uri, name string) any {
	t.Helper()
	attrs, _ := resource(t, srv, uri)["Attributes"].(map[string]any)
	return attrs[name]
}

// TestBIOSApplyAtReset: SetBIOSAttributes writes pending values to the
// settings resource (OnReset, the only apply time the mock offers); the
// BIOS runs the old ones until a reset, the new ones after it, and keeps
// them across a power cycle.
func TestBIOSApplyAtReset(t *testing.T) {
	ctx := context.Background()
	srv, ts := startMock(t, "public-rackmount1")
	r := dial(t, testConfig(ts.URL, ""))
	before, err := r.BIOSAttributes(ctx)
	must(t, err)
	if before["ProcTurboMode"] != "Enabled" || before["ProcCoreDisable"] != "0" {
		t.Fatalf("baseline %v", before)
	}
	at, err := r.SetBIOSAttributes(ctx, map[string]string{"ProcTurboMode": "Disabled", "ProcCoreDisable": "2", "BootMode": "Uefi"})
	must(t, err)
	if at != "OnReset" {
		t.Errorf("apply time %q, want OnReset", at)
	}
	if got := biosAttr(t, srv, rackBios+"/Settings", "ProcCoreDisable"); jsonText(got) != "2" {
		t.Errorf("pending ProcCoreDisable %v (%T), want the number 2", got, got)
	}
	now, err := r.BIOSAttributes(ctx)
	must(t, err)
	if now["ProcTurboMode"] != "Enabled" {
		t.Fatalf("ProcTurboMode %q before any reset, want Enabled still", now["ProcTurboMode"])
	}
	must(t, r.Reset(ctx, ResetForceRestart))
	now, err = r.BIOSAttributes(ctx)
	must(t, err)
	if now["ProcTurboMode"] != "Disabled" || now["ProcCoreDisable"] != "2" {
		t.Fatalf("after reset %v", now)
	}
	must(t, r.PowerOff(ctx))
	must(t, r.PowerOn(ctx))
	now, err = r.BIOSAttributes(ctx)
	must(t, err)
	if now["ProcTurboMode"] != "Disabled" {
		t.Errorf("after a power cycle ProcTurboMode %q, want Disabled kept", now["ProcTurboMode"])
	}
	// restoring works the same way
	_, err = r.SetBIOSAttributes(ctx, map[string]string{"ProcTurboMode": before["ProcTurboMode"], "ProcCoreDisable": before["ProcCoreDisable"]})
	must(t, err)
	must(t, r.Reset(ctx, ResetForceRestart))
	now, err = r.BIOSAttributes(ctx)
	must(t, err)
	if now["ProcTurboMode"] != "Enabled" || now["ProcCoreDisable"] != "0" {
		t.Errorf("after restore %v", now)
	}
}

// TestBIOSUnknownAttributeRefused: one unknown name or one ill-typed value
// refuses the whole set before anything reaches the BMC.
func TestBIOSUnknownAttributeRefused(t *testing.T) {
	ctx := context.Background()
	for name, attrs := range map[string]map[string]string{
		"unknown":   {"ProcTurboMode": "Disabled", "NoSuchKnob": "1"},
		"not a num": {"ProcTurboMode": "Disabled", "ProcCoreDisable": "two"},
	} {
		t.Run(name, func(t *testing.T) {
			srv, ts := startMock(t, "public-rackmount1")
			r := dial(t, testConfig(ts.URL, ""))
			_, err := r.SetBIOSAttributes(ctx, attrs)
			if !errors.Is(err, ErrUnknownBIOSAttribute) {
				t.Fatalf("err %v, want ErrUnknownBIOSAttribute", err)
			}
			noSecret(t, err)
			if got := biosAttr(t, srv, rackBios+"/Settings", "ProcTurboMode"); got != "Enabled" {
				t.Errorf("pending ProcTurboMode %v: something was written", got)
			}
		})
	}
}

// TestBIOSMockRefusesBadPatch: the mock itself refuses unknown names,
// wrong types, the current Bios resource and an apply time it does not
// offer, so a client that skipped its own checks fails here too.
func TestBIOSMockRefusesBadPatch(t *testing.T) {
	ctx := context.Background()
	_, ts := startMock(t, "public-rackmount1")
	r := dial(t, testConfig(ts.URL, ""))
	c, err := r.current(ctx)
	must(t, err)
	for name, tc := range map[string]struct {
		uri  string
		body map[string]any
	}{
		"unknown":   {rackBios + "/Settings", map[string]any{"Attributes": map[string]any{"NoSuchKnob": "x"}}},
		"type":      {rackBios + "/Settings", map[string]any{"Attributes": map[string]any{"ProcCoreDisable": "2"}}},
		"applytime": {rackBios + "/Settings", map[string]any{"Attributes": map[string]any{"ProcTurboMode": "Disabled"}, "@Redfish.SettingsApplyTime": map[string]any{"ApplyTime": "Immediate"}}},
		"current":   {rackBios, map[string]any{"Attributes": map[string]any{"ProcTurboMode": "Disabled"}}},
	} {
		resp, err := c.Patch(tc.uri, tc.body)
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: PATCH accepted", name)
		}
	}
	got, err := r.BIOSAttributes(ctx)
	must(t, err)
	must(t, r.Reset(ctx, ResetForceRestart))
	after, err := r.BIOSAttributes(ctx)
	must(t, err)
	if got["ProcTurboMode"] != "Enabled" || after["ProcTurboMode"] != "Enabled" {
		t.Errorf("ProcTurboMode %q then %q, want Enabled", got["ProcTurboMode"], after["ProcTurboMode"])
	}
}

// TestBIOSNoBiosResource: a system without a Bios resource is unsupported.
func TestBIOSNoBiosResource(t *testing.T) {
	srv, ts := startMock(t, "public-rackmount1")
	sys := resource(t, srv, "/redfish/v1/Systems/437XR1138R2")
	delete(sys, "Bios")
	must(t, srv.SetResource("/redfish/v1/Systems/437XR1138R2", sys))
	r := dial(t, testConfig(ts.URL, ""))
	if _, err := r.BIOSAttributes(context.Background()); !errors.Is(err, ErrUnsupported) {
		t.Errorf("err %v, want ErrUnsupported", err)
	}
}

// FuzzBIOSValue: a profile's text value converted to the type of the
// BIOS's current value either is refused or renders back as the same
// text, so that what ibex writes is what it later compares against.
func FuzzBIOSValue(f *testing.F) {
	for _, s := range []string{"0", "2", "-1", "true", "Disabled", "", "1e3", "007", " 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		for _, cur := range []any{"Enabled", float64(0), true, nil} {
			v, err := biosValue("X", text, cur)
			if err != nil {
				if !errors.Is(err, ErrUnknownBIOSAttribute) {
					t.Fatalf("%q: error %v not ErrUnknownBIOSAttribute", text, err)
				}
				continue
			}
			data, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			var back any
			if err := json.Unmarshal(data, &back); err != nil {
				t.Fatal(err)
			}
			if got := FormatBIOSValue(back); got != text {
				t.Fatalf("%q as %T renders back as %q", text, cur, got)
			}
		}
	})
}

// TestBIOSApplyTimeFromSettingsAnnotation: with no SupportedApplyTimes
// in the Bios's @Redfish.Settings, the client takes the apply times from
// the settings resource's @Redfish.SettingsApplyTime annotation, and
// refuses (writing nothing) when OnReset and Immediate are both missing.
func TestBIOSApplyTimeFromSettingsAnnotation(t *testing.T) {
	ctx := context.Background()
	srv, ts := startMock(t, "public-rackmount1")
	bios := resource(t, srv, rackBios)
	delete(bios["@Redfish.Settings"].(map[string]any), "SupportedApplyTimes")
	must(t, srv.SetResource(rackBios, bios))
	r := dial(t, testConfig(ts.URL, ""))
	at, err := r.SetBIOSAttributes(ctx, map[string]string{"ProcTurboMode": "Disabled"})
	must(t, err)
	if at != "OnReset" {
		t.Fatalf("apply time %q, want OnReset from the settings annotation", at)
	}
	set := resource(t, srv, rackBios+"/Settings")
	set["@Redfish.SettingsApplyTime"] = map[string]any{"ApplyTime": "AtMaintenanceWindowStart", "ApplyTime@Redfish.AllowableValues": []string{"AtMaintenanceWindowStart"}}
	set["Attributes"].(map[string]any)["ProcTurboMode"] = "Enabled"
	must(t, srv.SetResource(rackBios+"/Settings", set))
	if _, err := r.SetBIOSAttributes(ctx, map[string]string{"ProcTurboMode": "Disabled"}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("maintenance-window only: %v, want ErrUnsupported", err)
	}
	if got := biosAttr(t, srv, rackBios+"/Settings", "ProcTurboMode"); got != "Enabled" {
		t.Errorf("pending ProcTurboMode %v: something was written", got)
	}
}
