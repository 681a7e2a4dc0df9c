package bmc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ibex-hpc/ibex/nodeagent/redfishmock"
)

// TestRedfishAgainstMockups drives every DMTF mockup through the gofish
// client and checks each effect with a fresh read of the mock's state.
func TestRedfishAgainstMockups(t *testing.T) {
	for _, mc := range mockupCases {
		t.Run(mc.name, func(t *testing.T) {
			ctx := context.Background()

			t.Run("power", func(t *testing.T) {
				srv, ts := startMock(t, mc.name)
				r := dial(t, testConfig(ts.URL, mc.systemID))
				if r.SystemURI() != mc.system {
					t.Fatalf("selected %s, want %s", r.SystemURI(), mc.system)
				}
				if ps, err := r.PowerState(ctx); err != nil || ps != StateOn {
					t.Fatalf("PowerState = %s, %v", ps, err)
				}
				steps := []struct {
					name string
					do   func() error
					want string
				}{
					{"PowerOff", func() error { return r.PowerOff(ctx) }, "Off"},
					{"PowerOff again", func() error { return r.PowerOff(ctx) }, "Off"},
					{"PowerOn", func() error { return r.PowerOn(ctx) }, "On"},
					{"PowerOn again", func() error { return r.PowerOn(ctx) }, "On"},
					{"GracefulShutdown", func() error { return r.Reset(ctx, ResetGracefulShutdown) }, "Off"},
					{"ForceRestart", func() error { return r.Reset(ctx, ResetForceRestart) }, "On"},
				}
				for _, st := range steps {
					if err := st.do(); err != nil {
						t.Fatalf("%s: %v", st.name, err)
					}
					if got := resource(t, srv, mc.system)["PowerState"]; got != st.want {
						t.Fatalf("after %s the BMC says PowerState %v, want %s", st.name, got, st.want)
					}
					if ps, _ := r.PowerState(ctx); string(ps) != st.want {
						t.Fatalf("after %s PowerState() = %s, want %s", st.name, ps, st.want)
					}
				}
				// The no-op steps sent nothing.
				var sent []string
				for _, rr := range srv.Resets() {
					sent = append(sent, rr.ResetType)
				}
				if want := []string{"ForceOff", "On", "GracefulShutdown", "ForceRestart"}; !slices.Equal(sent, want) {
					t.Errorf("resets sent %v, want %v", sent, want)
				}
				// PowerCycle is not in these systems' AllowableValues;
				// ForceRestart, which does the same job, is sent instead.
				if err := r.Reset(ctx, ResetPowerCycle); err != nil {
					t.Errorf("Reset(PowerCycle) = %v, want ForceRestart sent instead", err)
				}
				if err := r.Reset(ctx, "Explode"); err == nil {
					t.Error("Reset with an unknown kind succeeded")
				}
				resets := srv.Resets()
				if n := len(resets); n != 5 || resets[n-1].ResetType != "ForceRestart" {
					t.Errorf("resets %+v, want 5 ending with the ForceRestart for PowerCycle", resets)
				}
			})

			t.Run("boot override", func(t *testing.T) {
				srv, ts := startMock(t, mc.name)
				r := dial(t, testConfig(ts.URL, mc.systemID))
				if err := r.SetOneTimeBoot(ctx, BootHdd); err != nil {
					t.Fatal(err)
				}
				boot := bootOf(t, srv, mc.system)
				if boot["BootSourceOverrideTarget"] != "Hdd" || boot["BootSourceOverrideEnabled"] != "Once" {
					t.Fatalf("Boot after PATCH = %v", boot)
				}
				if boot["BootSourceOverrideMode"] != "UEFI" {
					t.Errorf("override mode changed: %v", boot["BootSourceOverrideMode"])
				}
				// It persists: a second client sees it too.
				r2 := dial(t, testConfig(ts.URL, mc.systemID))
				if err := r2.SetOneTimeBoot(ctx, BootPxe); err != nil {
					t.Fatal(err)
				}
				if got := bootOf(t, srv, mc.system)["BootSourceOverrideTarget"]; got != "Pxe" {
					t.Fatalf("target = %v", got)
				}
				// Booting consumes the one-time override.
				if err := r.Reset(ctx, ResetForceRestart); err != nil {
					t.Fatal(err)
				}
				if got := bootOf(t, srv, mc.system)["BootSourceOverrideEnabled"]; got != "Disabled" {
					t.Errorf("after reboot BootSourceOverrideEnabled = %v", got)
				}
				// Floppy is a Redfish value, but not an allowed one here.
				if err := r.SetOneTimeBoot(ctx, "Floppy"); !errors.Is(err, ErrUnsupported) {
					t.Errorf("SetOneTimeBoot(Floppy) = %v, want ErrUnsupported", err)
				}
				if err := r.SetOneTimeBoot(ctx, ""); err == nil {
					t.Error("empty target accepted")
				}
			})

			t.Run("firmware", func(t *testing.T) {
				_, ts := startMock(t, mc.name)
				r := dial(t, testConfig(ts.URL, mc.systemID))
				fw, err := r.FirmwareInventory(ctx)
				if err != nil {
					t.Fatal(err)
				}
				var ids []string
				for _, f := range fw {
					ids = append(ids, f.ID)
					uri := "/redfish/v1/UpdateService/FirmwareInventory/" + f.ID
					if !mc.inventory {
						// No UpdateService: the versions come from the
						// Manager and the system, and cannot be targeted.
						uri = map[string]string{"BMC": "/redfish/v1/Managers/BMC", "BIOS": mc.system}[f.ID]
					}
					if !f.Known || f.Version == "" || f.Updateable != mc.inventory || f.Name == "" || f.URI != uri {
						t.Errorf("entry %+v", f)
					}
				}
				if !slices.Equal(ids, mc.firmware) {
					t.Errorf("firmware IDs %v, want %v", ids, mc.firmware)
				}
			})

			t.Run("simple update", func(t *testing.T) {
				srv, ts := startMock(t, mc.name)
				r := dial(t, testConfig(ts.URL, mc.systemID))
				target := "/redfish/v1/UpdateService/FirmwareInventory/BIOS"
				task, err := r.SimpleUpdate(ctx, "https://fw.example/bios-1.46.bin", []string{target})
				if !mc.inventory {
					if !errors.Is(err, ErrUnsupported) {
						t.Fatalf("SimpleUpdate = %v, want ErrUnsupported", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				ups := srv.Updates()
				if len(ups) != 1 || ups[0].ImageURI != "https://fw.example/bios-1.46.bin" || !slices.Equal(ups[0].Targets, []string{target}) {
					t.Fatalf("recorded %+v", ups)
				}
				if task == "" || task != ups[0].Task {
					t.Errorf("task %q, recorded %q", task, ups[0].Task)
				}
			})
		})
	}
}

// TestFirmwareCountQuirk pins down public-rackmount1's inconsistent
// collection: Members@odata.count is 2 while Members has 3 entries. The
// client must trust the list, not the count.
func TestFirmwareCountQuirk(t *testing.T) {
	srv, ts := startMock(t, "public-rackmount1")
	coll := resource(t, srv, "/redfish/v1/UpdateService/FirmwareInventory")
	members, _ := coll["Members"].([]any)
	if fmt.Sprint(coll["Members@odata.count"]) != "2" || len(members) != 3 {
		t.Fatalf("mockup changed: count %v, %d members", coll["Members@odata.count"], len(members))
	}
	fw, err := dial(t, testConfig(ts.URL, "")).FirmwareInventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(fw) != 3 {
		t.Fatalf("got %d entries, want the 3 listed: %+v", len(fw), fw)
	}
}

// TestFirmwareUnknownVersions models iLO 5 listing a ConnectX HCA with
// Version "N/A" (and a NIC with none): both must be Known == false.
func TestFirmwareUnknownVersions(t *testing.T) {
	srv, ts := startMock(t, "public-tower")
	coll := "/redfish/v1/UpdateService/FirmwareInventory"
	add := map[string]string{"HCA1": "N/A", "NIC2": "", "NIC3": "  n/a ", "NIC4": "14.32.1010"}
	d := resource(t, srv, coll)
	members := d["Members"].([]any)
	for id, ver := range add {
		uri := coll + "/" + id
		if err := srv.SetResource(uri, map[string]any{
			"@odata.id": uri, "@odata.type": "#SoftwareInventory.v1_10_0.SoftwareInventory",
			"Id": id, "Name": "Network Controller", "Version": ver, "Updateable": false,
		}); err != nil {
			t.Fatal(err)
		}
		members = append(members, map[string]any{"@odata.id": uri})
	}
	d["Members"] = members
	if err := srv.SetResource(coll, d); err != nil {
		t.Fatal(err)
	}
	fw, err := dial(t, testConfig(ts.URL, "")).FirmwareInventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, f := range fw {
		known[f.ID] = f.Known
	}
	want := map[string]bool{"BIOS": true, "BMC": true, "HCA1": false, "NIC2": false, "NIC3": false, "NIC4": true}
	for id, k := range want {
		if got, ok := known[id]; !ok || got != k {
			t.Errorf("%s: Known = %v (present %v), want %v", id, got, ok, k)
		}
	}
}

// TestFirmwarePartial: an entry the BMC lists but cannot serve must not
// hide the others.
func TestFirmwarePartial(t *testing.T) {
	srv, ts := startMock(t, "public-rackmount1")
	if err := srv.RemoveResource("/redfish/v1/UpdateService/FirmwareInventory/SS"); err != nil {
		t.Fatal(err)
	}
	fw, err := dial(t, testConfig(ts.URL, "")).FirmwareInventory(context.Background())
	if err == nil || !strings.Contains(err.Error(), "FirmwareInventory/SS") || !strings.Contains(err.Error(), "404") {
		t.Errorf("err = %v, want one naming the missing entry", err)
	}
	var re *RedfishError
	if !errors.As(err, &re) || re.StatusCode != 404 {
		t.Errorf("err does not wrap the 404: %v", err)
	}
	if len(fw) != 2 || fw[0].ID != "BIOS" || fw[1].ID != "BMC" {
		t.Errorf("partial inventory %+v", fw)
	}
	noSecret(t, err)
}

func TestSimpleUpdateValidation(t *testing.T) {
	srv, ts := startMock(t, "public-rackmount1")
	r := dial(t, testConfig(ts.URL, ""))
	ctx := context.Background()
	for _, tc := range []struct {
		image   string
		targets []string
	}{
		{"", nil},
		{"bios.bin", nil},
		{"/srv/bios.bin", nil},
		{"https://fw.example/bios.bin", []string{"BIOS"}},
	} {
		if _, err := r.SimpleUpdate(ctx, tc.image, tc.targets); err == nil {
			t.Errorf("SimpleUpdate(%q, %q) succeeded", tc.image, tc.targets)
		}
	}
	if n := len(srv.Updates()); n != 0 {
		t.Errorf("%d invalid updates reached the BMC", n)
	}
	// An update the BMC refuses: the target does not exist there.
	_, err := r.SimpleUpdate(ctx, "https://fw.example/x.bin", []string{"/redfish/v1/UpdateService/FirmwareInventory/NIC9"})
	var re *RedfishError
	if !errors.As(err, &re) || re.StatusCode != 400 || !re.HasMessage("ActionParameterValueNotInList") {
		t.Errorf("err = %v", err)
	}
	// A BMC that completes synchronously answers 204 and gives no task.
	if err := srv.InjectFault(redfishmock.Fault{Method: "POST", Path: "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate", Status: 204, Times: 1}); err != nil {
		t.Fatal(err)
	}
	if task, err := r.SimpleUpdate(ctx, "https://fw.example/x.bin", nil); err != nil || task != "" {
		t.Errorf("sync update: task %q err %v", task, err)
	}
}

// TestImageURICredentials: credentials embedded in an image URI must not
// show up in errors either.
func TestImageURICredentials(t *testing.T) {
	srv, ts := startMock(t, "public-rackmount1")
	r := dial(t, testConfig(ts.URL, ""))
	const imagePW = "img-pass-4242"
	if err := srv.InjectFault(redfishmock.Fault{Method: "POST", Path: "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate", Status: 400,
		Body: []byte(`{"error":{"code":"Base.1.8.GeneralError","message":"cannot fetch https://u:` + imagePW + `@fw.example/x.bin"}}`)}); err != nil {
		t.Fatal(err)
	}
	_, err := r.SimpleUpdate(context.Background(), "https://u:"+imagePW+"@fw.example/x.bin", nil)
	if err == nil || strings.Contains(err.Error(), imagePW) || !strings.Contains(err.Error(), "cannot fetch") {
		t.Errorf("err = %v", err)
	}
}

func TestSmartNICSystems(t *testing.T) {
	_, ts := startMock(t, "public-smartnic")
	ctx := context.Background()

	_, err := Dial(ctx, testConfig(ts.URL, ""))
	if err == nil || !strings.Contains(err.Error(), "437XR1138R2") || !strings.Contains(err.Error(), "Card1-SoC") || !strings.Contains(err.Error(), "SystemID") {
		t.Errorf("Dial without SystemID on a 2-system BMC: %v", err)
	}
	if _, err := Dial(ctx, testConfig(ts.URL, "Nope")); err == nil || !strings.Contains(err.Error(), `"Nope" not found`) {
		t.Errorf("Dial with an unknown SystemID: %v", err)
	}
	// The NIC's SoC has no Boot object.
	soc := dial(t, testConfig(ts.URL, "Card1-SoC"))
	if err := soc.SetOneTimeBoot(ctx, BootPxe); !errors.Is(err, ErrUnsupported) {
		t.Errorf("SetOneTimeBoot on the SoC = %v, want ErrUnsupported", err)
	}
	if err := soc.PowerOff(ctx); err != nil {
		t.Errorf("PowerOff on the SoC: %v", err)
	}
}

// TestSessionsAndBasicAuth: sessions are logged out on Close, and Basic
// auth opens none.
func TestSessionsAndBasicAuth(t *testing.T) {
	srv, ts := startMock(t, "public-tower")
	ctx := context.Background()
	r, err := Dial(ctx, testConfig(ts.URL, ""))
	if err != nil {
		t.Fatal(err)
	}
	if srv.Sessions() != 1 {
		t.Errorf("%d sessions open after Dial, want 1", srv.Sessions())
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if srv.Sessions() != 0 {
		t.Errorf("%d sessions open after Close", srv.Sessions())
	}
	if _, err := r.PowerState(ctx); err == nil {
		t.Error("call after Close succeeded")
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	cfg := testConfig(ts.URL, "")
	cfg.BasicAuth = true
	b := dial(t, cfg)
	if err := b.PowerOff(ctx); err != nil {
		t.Fatal(err)
	}
	if srv.Sessions() != 0 {
		t.Errorf("Basic auth opened %d sessions", srv.Sessions())
	}
}

func TestTLS(t *testing.T) {
	srv := redfishmock.NewServer(loadMockup(t, "public-tower"), redfishmock.Options{Username: testUser, Password: testPassword})
	ts := httptest.NewUnstartedServer(srv)
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	ts.StartTLS()
	defer ts.Close()
	cfg := testConfig(ts.URL, "")
	_, err := Dial(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("Dial to a self-signed BMC without Insecure: %v", err)
	}
	noSecret(t, err)
	cfg.Insecure = true
	if _, err := dial(t, cfg).PowerState(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestContextCanceled(t *testing.T) {
	_, ts := startMock(t, "public-tower")
	r := dial(t, testConfig(ts.URL, ""))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.PowerState(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("PowerState with a canceled context = %v", err)
	}
	if _, err := Dial(ctx, testConfig(ts.URL, "")); !errors.Is(err, context.Canceled) {
		t.Errorf("Dial with a canceled context = %v", err)
	}
}

// TestConcurrentUse: one Redfish value is shared by the agent's goroutines.
func TestConcurrentUse(t *testing.T) {
	srv, ts := startMock(t, "public-rackmount1")
	r := dial(t, testConfig(ts.URL, ""))
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				var err error
				switch i {
				case 0:
					_, err = r.PowerState(ctx)
				case 1:
					err = r.SetOneTimeBoot(ctx, BootPxe)
				case 2:
					_, err = r.FirmwareInventory(ctx)
				case 3:
					err = r.Reset(ctx, ResetForceRestart)
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		// A PATCH may race a reset that changed the ETag it read; the BMC
		// then answers 412, which is the protocol working as intended.
		var re *RedfishError
		if errors.As(err, &re) && re.StatusCode == 412 {
			continue
		}
		t.Error(err)
	}
	if n := len(srv.Resets()); n != 5 {
		t.Errorf("%d resets recorded, want 5", n)
	}
}

// TestBootRetriesStaleETag: a 412 from a concurrent change is retried once.
func TestBootRetriesStaleETag(t *testing.T) {
	srv, ts := startMock(t, "public-tower")
	r := dial(t, testConfig(ts.URL, ""))
	sys := "/redfish/v1/Systems/437XR1238R2"
	must(t, srv.InjectFault(redfishmock.Fault{Method: "PATCH", Path: sys, Status: 412,
		Body: []byte(`{"error":{"code":"Base.1.8.PreconditionFailed","message":"ETag mismatch"}}`), Times: 1}))
	if err := r.SetOneTimeBoot(context.Background(), BootCd); err != nil {
		t.Fatal(err)
	}
	if got := bootOf(t, srv, sys)["BootSourceOverrideTarget"]; got != "Cd" {
		t.Errorf("target %v", got)
	}
	must(t, srv.InjectFault(redfishmock.Fault{Method: "PATCH", Path: sys, Status: 412, Times: 2}))
	var re *RedfishError
	if err := r.SetOneTimeBoot(context.Background(), BootPxe); !errors.As(err, &re) || re.StatusCode != 412 {
		t.Errorf("two 412s: %v", err)
	}
}
