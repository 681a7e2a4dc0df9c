package bmc

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func TestFakePowerAndBoot(t *testing.T) {
	ctx := context.Background()
	var b BMC = NewFake(StateOff)
	f := b.(*Fake)

	must(t, b.SetOneTimeBoot(ctx, BootPxe))
	must(t, b.PowerOn(ctx))
	must(t, b.PowerOn(ctx)) // no-op
	if ps, _ := b.PowerState(ctx); ps != StateOn {
		t.Errorf("PowerState = %s", ps)
	}
	must(t, b.Reset(ctx, ResetForceRestart))
	must(t, b.PowerOff(ctx))
	must(t, b.PowerOff(ctx)) // no-op
	if ps, _ := b.PowerState(ctx); ps != StateOff {
		t.Errorf("PowerState = %s", ps)
	}
	if got, want := f.Resets(), []ResetKind{ResetOn, ResetForceRestart, ResetForceOff}; !slices.Equal(got, want) {
		t.Errorf("Resets = %v, want %v", got, want)
	}
	// The first boot used PXE, the restart the normal order.
	if got, want := f.Boots(), []BootTarget{BootPxe, ""}; !slices.Equal(got, want) {
		t.Errorf("Boots = %v, want %v", got, want)
	}
	if f.PendingBoot() != "" {
		t.Errorf("PendingBoot = %q", f.PendingBoot())
	}
	if err := b.Reset(ctx, "Bogus"); err == nil {
		t.Error("bogus reset accepted")
	}
	if err := b.SetOneTimeBoot(ctx, ""); err == nil {
		t.Error("empty boot target accepted")
	}
	must(t, b.Reset(ctx, ResetPushPowerButton))
	must(t, b.Reset(ctx, ResetPushPowerButton))
	if ps, _ := b.PowerState(ctx); ps != StateOff {
		t.Errorf("after two button presses PowerState = %s", ps)
	}
	var zero Fake
	if ps, err := zero.PowerState(ctx); ps != StateOff || err != nil {
		t.Errorf("zero Fake: %s, %v", ps, err)
	}
}

func TestFakeFirmwareAndUpdates(t *testing.T) {
	ctx := context.Background()
	f := NewFake(StateOn,
		Firmware{ID: "BMC", Version: "1.2", URI: "/redfish/v1/UpdateService/FirmwareInventory/BMC"},
		Firmware{ID: "HCA", Version: "N/A"})
	fw, err := f.FirmwareInventory(ctx)
	if err != nil || len(fw) != 2 || !fw[0].Known || fw[1].Known {
		t.Fatalf("FirmwareInventory = %+v, %v", fw, err)
	}
	fw[0].Version = "mutated"
	f.SetFirmware(Firmware{ID: "BIOS", Version: "2.0"})
	if fw, _ := f.FirmwareInventory(ctx); len(fw) != 1 || fw[0].ID != "BIOS" {
		t.Errorf("after SetFirmware: %+v", fw)
	}
	targets := []string{"/redfish/v1/UpdateService/FirmwareInventory/BMC"}
	if task, err := f.SimpleUpdate(ctx, "https://fw/bmc.bin", targets); err != nil || task != "" {
		t.Fatalf("SimpleUpdate = %q, %v", task, err)
	}
	targets[0] = "mutated"
	if u := f.Updates(); len(u) != 1 || u[0].Targets[0] != "/redfish/v1/UpdateService/FirmwareInventory/BMC" {
		t.Errorf("Updates = %+v", u)
	}
	if _, err := f.SimpleUpdate(ctx, "", nil); err == nil {
		t.Error("empty image accepted")
	}
}

func TestFakeFailures(t *testing.T) {
	ctx := context.Background()
	f := NewFake(StateOn)
	boom := errors.New("boom")
	calls := map[Method]func() error{
		MethodPowerState:        func() error { _, err := f.PowerState(ctx); return err },
		MethodPowerOn:           func() error { return f.PowerOn(ctx) },
		MethodPowerOff:          func() error { return f.PowerOff(ctx) },
		MethodReset:             func() error { return f.Reset(ctx, ResetForceOff) },
		MethodSetOneTimeBoot:    func() error { return f.SetOneTimeBoot(ctx, BootPxe) },
		MethodFirmwareInventory: func() error { _, err := f.FirmwareInventory(ctx); return err },
		MethodSimpleUpdate:      func() error { _, err := f.SimpleUpdate(ctx, "https://x/y", nil); return err },
		MethodClose:             func() error { return f.Close() },
	}
	for m, call := range calls {
		f.FailWith(m, boom)
		if err := call(); !errors.Is(err, boom) {
			t.Errorf("%s: err = %v, want boom", m, err)
		}
		f.FailWith(m, nil)
	}
	// Failed calls changed nothing.
	if ps, _ := f.PowerState(ctx); ps != StateOn || len(f.Resets()) != 0 || len(f.Updates()) != 0 || f.PendingBoot() != "" {
		t.Errorf("failed calls changed state: %s %v %v %q", ps, f.Resets(), f.Updates(), f.PendingBoot())
	}
	if n := len(f.Calls()); n != len(calls)+1 {
		t.Errorf("Calls() has %d entries, want %d", n, len(calls)+1)
	}

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := f.PowerOff(canceled); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled context: %v", err)
	}
	must(t, f.Close())
	if _, err := f.PowerState(ctx); err == nil {
		t.Error("call after Close succeeded")
	}
}

func TestFakeVirtualMedia(t *testing.T) {
	ctx := context.Background()
	f := NewFake(StateOff)
	var vm VirtualMedia = f
	must(t, vm.InsertMedia(ctx, "http://images.example/ramdisk.iso"))
	if f.Media() != "http://images.example/ramdisk.iso" {
		t.Errorf("Media() = %q", f.Media())
	}
	if err := vm.InsertMedia(ctx, "ramdisk.iso"); err == nil {
		t.Error("relative image URL accepted")
	}
	f.FailWith(MethodEjectMedia, errors.New("BMC busy"))
	if err := vm.EjectMedia(ctx); err == nil || f.Media() == "" {
		t.Errorf("failing eject: %v, media %q", err, f.Media())
	}
	f.FailWith(MethodEjectMedia, nil)
	must(t, vm.EjectMedia(ctx))
	if f.Media() != "" {
		t.Errorf("Media() after eject = %q", f.Media())
	}
}
