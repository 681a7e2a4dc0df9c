package bmc

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/nodeagent/redfishmock"
)

const vmediaServer = "handwritten/vmedia-server"

// TestOneTimeBootUEFI: a one-time PXE (or virtual media) boot asks for
// UEFI mode where the BMC allows it, instead of leaving the override in
// Legacy; a disk boot leaves the mode alone.
func TestOneTimeBootUEFI(t *testing.T) {
	ctx := context.Background()
	sys := "/redfish/v1/Systems/system"

	t.Run("Legacy with UEFI allowed", func(t *testing.T) {
		srv, ts := startMock(t, vmediaServer)
		r := dial(t, testConfig(ts.URL, ""))
		must(t, r.SetOneTimeBoot(ctx, BootHdd))
		if b := bootOf(t, srv, sys); b["BootSourceOverrideMode"] != "Legacy" || b["BootSourceOverrideTarget"] != "Hdd" {
			t.Errorf("after Hdd: %v", b)
		}
		for _, target := range []BootTarget{BootPxe, BootUefiHTTP, BootCd} {
			b := bootOf(t, srv, sys)
			b["BootSourceOverrideMode"] = "Legacy"
			d := resource(t, srv, sys)
			d["Boot"] = b
			must(t, srv.SetResource(sys, d))
			must(t, r.SetOneTimeBoot(ctx, target))
			b = bootOf(t, srv, sys)
			if b["BootSourceOverrideMode"] != "UEFI" || b["BootSourceOverrideTarget"] != string(target) || b["BootSourceOverrideEnabled"] != "Once" {
				t.Errorf("after %s: %v", target, b)
			}
		}
	})
	t.Run("Legacy only", func(t *testing.T) {
		srv, ts := startMock(t, vmediaServer)
		d := resource(t, srv, sys)
		d["Boot"].(map[string]any)["BootSourceOverrideMode@Redfish.AllowableValues"] = []string{"Legacy"}
		must(t, srv.SetResource(sys, d))
		must(t, dial(t, testConfig(ts.URL, "")).SetOneTimeBoot(ctx, BootPxe))
		if b := bootOf(t, srv, sys); b["BootSourceOverrideMode"] != "Legacy" || b["BootSourceOverrideTarget"] != "Pxe" {
			t.Errorf("Legacy-only BMC: %v", b)
		}
	})
	t.Run("no allowable modes declared", func(t *testing.T) {
		// public-rackmount1 gives no allowable values for the mode.
		srv, ts := startMock(t, "public-rackmount1")
		rsys := "/redfish/v1/Systems/437XR1138R2"
		d := resource(t, srv, rsys)
		d["Boot"].(map[string]any)["BootSourceOverrideMode"] = "Legacy"
		must(t, srv.SetResource(rsys, d))
		must(t, dial(t, testConfig(ts.URL, "")).SetOneTimeBoot(ctx, BootPxe))
		if b := bootOf(t, srv, rsys); b["BootSourceOverrideMode"] != "UEFI" {
			t.Errorf("rackmount1: %v", b)
		}
	})
	t.Run("no override at all", func(t *testing.T) {
		// HPE Cray EX nodes have a Boot object with only BootOrder.
		srv, ts := startMock(t, exBlade)
		err := dial(t, testConfig(ts.URL, "Node0")).SetOneTimeBoot(ctx, BootPxe)
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "no boot override") {
			t.Errorf("SetOneTimeBoot on a Cray EX node = %v, want ErrUnsupported", err)
		}
		if _, ok := bootOf(t, srv, "/redfish/v1/Systems/Node0")["BootSourceOverrideTarget"]; ok {
			t.Error("a PATCH reached the BMC")
		}
	})
}

// TestVirtualMediaActions drives a BMC with InsertMedia/EjectMedia
// actions: the CD (not the USB stick) gets the image, re-inserting the same
// image is a no-op, another image is swapped in by ejecting first, and the
// node can then boot it once in UEFI mode.
func TestVirtualMediaActions(t *testing.T) {
	srv, ts := startMock(t, vmediaServer)
	r := dial(t, testConfig(ts.URL, ""))
	ctx := context.Background()
	cd := "/redfish/v1/Managers/bmc/VirtualMedia/CD1"
	var vm VirtualMedia = r

	must(t, vm.InsertMedia(ctx, "http://images.example/ramdisk.iso"))
	dev := resource(t, srv, cd)
	if dev["Image"] != "http://images.example/ramdisk.iso" || dev["Inserted"] != true || dev["WriteProtected"] != true ||
		dev["TransferProtocolType"] != "HTTP" {
		t.Errorf("CD1 after insert: %v", dev)
	}
	if usb := resource(t, srv, "/redfish/v1/Managers/bmc/VirtualMedia/USB1"); usb["Inserted"] != false {
		t.Errorf("the USB stick got the image: %v", usb)
	}
	must(t, vm.InsertMedia(ctx, "http://images.example/ramdisk.iso"))
	must(t, vm.InsertMedia(ctx, "https://images.example/installer.iso"))
	if got := resource(t, srv, cd)["Image"]; got != "https://images.example/installer.iso" {
		t.Errorf("image after the swap: %v", got)
	}
	must(t, vm.EjectMedia(ctx))
	must(t, vm.EjectMedia(ctx))
	if dev := resource(t, srv, cd); dev["Inserted"] != false || dev["Image"] != nil {
		t.Errorf("CD1 after eject: %v", dev)
	}
	var via []string
	for _, m := range srv.Media() {
		if m.Device != cd {
			t.Errorf("request to %s", m.Device)
		}
		via = append(via, m.Via)
	}
	if want := []string{"InsertMedia", "EjectMedia", "InsertMedia", "EjectMedia"}; !slices.Equal(via, want) {
		t.Errorf("requests %v, want %v", via, want)
	}

	// Boot it once, in UEFI mode, though the BMC is in Legacy.
	must(t, vm.InsertMedia(ctx, "http://images.example/ramdisk.iso"))
	must(t, r.SetOneTimeBoot(ctx, BootCd))
	must(t, r.Reset(ctx, ResetGracefulRestart))
	if b := bootOf(t, srv, "/redfish/v1/Systems/system"); b["BootSourceOverrideMode"] != "UEFI" || b["BootSourceOverrideTarget"] != "Cd" ||
		b["BootSourceOverrideEnabled"] != "Disabled" {
		t.Errorf("boot after the one-time CD boot: %v", b)
	}

	// The BMC fetches over HTTP(S) only.
	if err := vm.InsertMedia(ctx, "nfs://images.example/export/ramdisk.iso"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("InsertMedia over NFS = %v, want ErrUnsupported", err)
	}
	for _, bad := range []string{"", "ramdisk.iso", "/srv/ramdisk.iso", "http://images.example/a b.iso", "http://x/\x00"} {
		if err := vm.InsertMedia(ctx, bad); err == nil {
			t.Errorf("InsertMedia(%q) succeeded", bad)
		}
	}
}

// TestVirtualMediaPatch: BMCs without the actions (the DMTF mockups) take
// a PATCH of Image and Inserted; the device is found under the system
// (rackmount1) or under its Manager (tower). Both start with an image
// inserted through the vendor's applet, which is ejected first.
func TestVirtualMediaPatch(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ mockup, cd string }{
		{"public-rackmount1", "/redfish/v1/Systems/437XR1138R2/VirtualMedia/CD1"},
		{"public-tower", "/redfish/v1/Managers/BMC/VirtualMedia/CD1"},
	} {
		t.Run(tc.mockup, func(t *testing.T) {
			srv, ts := startMock(t, tc.mockup)
			r := dial(t, testConfig(ts.URL, ""))
			must(t, r.InsertMedia(ctx, "https://images.example/ramdisk.iso"))
			dev := resource(t, srv, tc.cd)
			if dev["Image"] != "https://images.example/ramdisk.iso" || dev["Inserted"] != true || dev["ConnectedVia"] != "URI" {
				t.Errorf("CD1 after insert: %v", dev)
			}
			must(t, r.EjectMedia(ctx))
			if dev := resource(t, srv, tc.cd); dev["Inserted"] != false {
				t.Errorf("CD1 after eject: %v", dev)
			}
			var via []string
			for _, m := range srv.Media() {
				via = append(via, m.Via)
			}
			if want := []string{"PATCH", "PATCH", "PATCH"}; !slices.Equal(via, want) {
				t.Errorf("requests %v, want %v", via, want)
			}
		})
	}
}

// TestVirtualMediaErrors: refusals come back as Redfish errors without the
// image password, and a BMC with no virtual CD says so.
func TestVirtualMediaErrors(t *testing.T) {
	srv, ts := startMock(t, vmediaServer)
	r := dial(t, testConfig(ts.URL, ""))
	ctx := context.Background()
	const imagePW = "iso-pass-9911"
	target := "/redfish/v1/Managers/bmc/VirtualMedia/CD1/Actions/VirtualMedia.InsertMedia"
	must(t, srv.InjectFault(redfishmock.Fault{Method: "POST", Path: target, Status: 400, Times: 1,
		Body: []byte(`{"error":{"code":"Base.1.8.GeneralError","message":"cannot reach http://u:` + imagePW + `@images.example/x.iso"}}`)}))
	err := r.InsertMedia(ctx, "http://u:"+imagePW+"@images.example/x.iso")
	var re *RedfishError
	if !errors.As(err, &re) || re.StatusCode != 400 || strings.Contains(err.Error(), imagePW) || !strings.Contains(err.Error(), "cannot reach") {
		t.Errorf("refused insert: %v", err)
	}

	// A BMC that says it inserted but reports nothing.
	must(t, srv.InjectFault(redfishmock.Fault{Method: "POST", Path: target, Status: 204, Times: 1}))
	if err := r.InsertMedia(ctx, "http://images.example/x.iso"); err == nil || !strings.Contains(err.Error(), "reports nothing inserted") {
		t.Errorf("insert the BMC did not do: %v", err)
	}

	// The SmartNIC's SoC has no virtual media of its own, and its
	// Manager's are a floppy and a CD; the tower has only the CD.
	srv2, ts2 := startMock(t, "public-smartnic")
	must(t, srv2.RemoveResource("/redfish/v1/Managers/BMC/VirtualMedia/CD1"))
	coll := resource(t, srv2, "/redfish/v1/Managers/BMC/VirtualMedia")
	coll["Members"] = []any{map[string]any{"@odata.id": "/redfish/v1/Managers/BMC/VirtualMedia/Floppy1"}}
	must(t, srv2.SetResource("/redfish/v1/Managers/BMC/VirtualMedia", coll))
	err = dial(t, testConfig(ts2.URL, "Card1-SoC")).InsertMedia(ctx, "http://images.example/x.iso")
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "Floppy1") {
		t.Errorf("InsertMedia without a CD = %v, want ErrUnsupported naming the devices", err)
	}
	_, ts3 := startMock(t, exBlade)
	if err := dial(t, testConfig(ts3.URL, "Node0")).EjectMedia(ctx); !errors.Is(err, ErrUnsupported) {
		t.Errorf("EjectMedia on a BMC without virtual media = %v, want ErrUnsupported", err)
	}
}
