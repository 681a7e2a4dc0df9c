package bmc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Method names a BMC method, for Fake.FailWith and Fake.Calls.
type Method string

// The BMC methods.
const (
	MethodPowerState        Method = "PowerState"
	MethodPowerOn           Method = "PowerOn"
	MethodPowerOff          Method = "PowerOff"
	MethodReset             Method = "Reset"
	MethodSetOneTimeBoot    Method = "SetOneTimeBoot"
	MethodFirmwareInventory Method = "FirmwareInventory"
	MethodSimpleUpdate      Method = "SimpleUpdate"
	MethodInsertMedia       Method = "InsertMedia"
	MethodEjectMedia        Method = "EjectMedia"
	MethodClose             Method = "Close"
	MethodBIOSAttributes    Method = "BIOSAttributes"
	MethodSetBIOSAttributes Method = "SetBIOSAttributes"
)

// FakeUpdate is a SimpleUpdate call recorded by Fake.
type FakeUpdate struct {
	ImageURI string
	Targets  []string
}

// Fake is an in-memory BMC for testing code that drives BMCs. It models
// power the way Redfish BMCs do (resets that boot consume the one-time boot
// target) and can be told to fail any method. The zero value is a powered
// off node with no firmware; it is safe for concurrent use.
type Fake struct {
	mu       sync.Mutex
	power    PowerState
	oneTime  BootTarget // pending one-time boot target, "" if none
	booted   []BootTarget
	firmware []Firmware
	updates  []FakeUpdate
	resets   []ResetKind
	media    string // image in the virtual CD, "" if none
	errs     map[Method]error
	calls    []Method
	closed   bool
	bios     map[string]string // what the BIOS runs (fake_bios.go)
	biosNext map[string]string // pending until the next boot
}

var (
	_ BMC          = (*Fake)(nil)
	_ VirtualMedia = (*Fake)(nil)
)

// NewFake returns a Fake in the given power state with the given firmware.
func NewFake(state PowerState, firmware ...Firmware) *Fake {
	return &Fake{power: state, firmware: slices.Clone(firmware)}
}

// FailWith makes every later call of m return err (nil restores success).
// A failing call changes no state.
func (f *Fake) FailWith(m Method, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.errs == nil {
		f.errs = make(map[Method]error)
	}
	if err == nil {
		delete(f.errs, m)
		return
	}
	f.errs[m] = err
}

// begin records a call and returns the error it must fail with, if any.
// The caller holds f.mu.
func (f *Fake) begin(ctx context.Context, m Method) error {
	f.calls = append(f.calls, m)
	if err := f.errs[m]; err != nil {
		return err
	}
	if m != MethodClose && f.closed {
		return errors.New("bmc: fake: client is closed")
	}
	return ctx.Err()
}

// PowerState implements BMC.
func (f *Fake) PowerState(ctx context.Context) (PowerState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, MethodPowerState); err != nil {
		return StateUnknown, err
	}
	if f.power == "" {
		return StateOff, nil
	}
	return f.power, nil
}

// PowerOn implements BMC.
func (f *Fake) PowerOn(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, MethodPowerOn); err != nil {
		return err
	}
	if f.power != StateOn {
		f.apply(ResetOn)
	}
	return nil
}

// PowerOff implements BMC.
func (f *Fake) PowerOff(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, MethodPowerOff); err != nil {
		return err
	}
	if f.power != StateOff && f.power != "" {
		f.apply(ResetForceOff)
	}
	return nil
}

// Reset implements BMC.
func (f *Fake) Reset(ctx context.Context, kind ResetKind) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, MethodReset); err != nil {
		return err
	}
	if !kind.Valid() {
		return fmt.Errorf("bmc: reset: unknown reset kind %q", kind)
	}
	f.apply(kind)
	return nil
}

// apply changes power like the Redfish mock does and records the reset.
func (f *Fake) apply(kind ResetKind) {
	f.resets = append(f.resets, kind)
	wasOn := f.power == StateOn
	boots := false
	switch kind {
	case ResetOn, ResetForceOn:
		f.power, boots = StateOn, !wasOn
	case ResetForceOff, ResetGracefulShutdown:
		f.power = StateOff
	case ResetGracefulRestart, ResetForceRestart, ResetPowerCycle:
		f.power, boots = StateOn, true
	case ResetPushPowerButton:
		if wasOn {
			f.power = StateOff
		} else {
			f.power, boots = StateOn, true
		}
	}
	if boots {
		f.applyBIOS()
		f.booted = append(f.booted, f.oneTime)
		f.oneTime = ""
	}
}

// SetOneTimeBoot implements BMC.
func (f *Fake) SetOneTimeBoot(ctx context.Context, target BootTarget) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, MethodSetOneTimeBoot); err != nil {
		return err
	}
	if target == "" {
		return errors.New("bmc: set one-time boot: empty target")
	}
	f.oneTime = target
	return nil
}

// FirmwareInventory implements BMC.
func (f *Fake) FirmwareInventory(ctx context.Context) ([]Firmware, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, MethodFirmwareInventory); err != nil {
		return nil, err
	}
	out := slices.Clone(f.firmware)
	for i := range out {
		out[i].Known = versionKnown(out[i].Version)
	}
	return out, nil
}

// SimpleUpdate implements BMC. It records the request and completes
// synchronously (no task).
func (f *Fake) SimpleUpdate(ctx context.Context, imageURI string, targets []string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, MethodSimpleUpdate); err != nil {
		return "", err
	}
	if imageURI == "" {
		return "", errors.New("bmc: simple update: empty image URI")
	}
	f.updates = append(f.updates, FakeUpdate{ImageURI: imageURI, Targets: slices.Clone(targets)})
	return "", nil
}

// InsertMedia implements VirtualMedia.
func (f *Fake) InsertMedia(ctx context.Context, imageURL string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, MethodInsertMedia); err != nil {
		return err
	}
	if _, err := checkImageURL(imageURL); err != nil {
		return fmt.Errorf("bmc: insert virtual media: %w", err)
	}
	f.media = imageURL
	return nil
}

// EjectMedia implements VirtualMedia.
func (f *Fake) EjectMedia(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, MethodEjectMedia); err != nil {
		return err
	}
	f.media = ""
	return nil
}

// Media returns the image in the virtual CD, "" if none.
func (f *Fake) Media() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.media
}

// Close implements BMC.
func (f *Fake) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(context.Background(), MethodClose); err != nil {
		return err
	}
	f.closed = true
	return nil
}

// Calls returns the methods called so far, failed ones included.
func (f *Fake) Calls() []Method {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Resets returns the resets performed, including those PowerOn and
// PowerOff sent.
func (f *Fake) Resets() []ResetKind {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.resets)
}

// PendingBoot returns the one-time boot target not yet consumed by a boot.
func (f *Fake) PendingBoot() BootTarget {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.oneTime
}

// Boots returns, for each boot so far, the one-time target it used ("" for
// the normal boot order).
func (f *Fake) Boots() []BootTarget {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.booted)
}

// Updates returns the SimpleUpdate requests recorded.
func (f *Fake) Updates() []FakeUpdate {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := slices.Clone(f.updates)
	for i := range out {
		out[i].Targets = slices.Clone(out[i].Targets)
	}
	return out
}

// SetFirmware replaces the inventory the fake reports.
func (f *Fake) SetFirmware(fw ...Firmware) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.firmware = slices.Clone(fw)
}
