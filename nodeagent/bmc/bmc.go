// Package bmc is where the node agent touches hardware out of band: power,
// one-time boot device and firmware inventory/update through a node's
// baseboard management controller.
//
// Callers program against the BMC interface. Redfish implements it with
// gofish for real BMCs (and for the DMTF mockups served by
// nodeagent/redfishmock in tests); Fake implements it in memory, with
// injectable failures, for tests of the code above.
//
// Credentials are secrets: Config.Password is a Secret that prints as
// [REDACTED], and every error returned by Redfish is scrubbed of the
// password before it leaves the package, because BMC errors end up in logs
// and in the control plane's job records.
package bmc

import (
	"context"
	"errors"
	"strings"
)

// BMC is the out-of-band management interface ibex needs from a node. All
// methods act on a single computer system.
type BMC interface {
	// PowerState reports the current power state as the BMC sees it.
	PowerState(ctx context.Context) (PowerState, error)
	// PowerOn powers the host on. It is a no-op if it is already on, since
	// several BMCs answer an error to "On" for a running host.
	PowerOn(ctx context.Context) error
	// PowerOff cuts host power immediately (Redfish ForceOff), like
	// "ipmitool power off". It is a no-op if the host is already off. Use
	// Reset(ctx, ResetGracefulShutdown) to ask the OS to shut down instead.
	PowerOff(ctx context.Context) error
	// Reset performs a Redfish ComputerSystem.Reset of the given kind.
	Reset(ctx context.Context, kind ResetKind) error
	// SetOneTimeBoot makes the next boot, and only the next, use target.
	// It does not reset the host: follow it with PowerOn or Reset.
	SetOneTimeBoot(ctx context.Context, target BootTarget) error
	// FirmwareInventory lists the firmware components the BMC reports.
	// Entries whose version the BMC does not know have Known == false.
	FirmwareInventory(ctx context.Context) ([]Firmware, error)
	// SimpleUpdate asks the BMC to fetch imageURI and apply it to targets
	// (Firmware.URI values; none means the BMC decides). It returns the
	// task monitor URI when the BMC runs the update asynchronously, or ""
	// when it finished synchronously.
	SimpleUpdate(ctx context.Context, imageURI string, targets []string) (task string, err error)
	// Close releases the BMC session, if any. BMCs have few session slots,
	// so long-running callers must close what they open.
	Close() error
}

// ErrUnsupported is wrapped by errors for operations the BMC does not
// offer, e.g. no UpdateService, no Boot override, or a reset kind outside
// the system's allowable values. Callers can test it with errors.Is and
// fall back (for firmware versions, to reading them in-band).
var ErrUnsupported = errors.New("not supported by this BMC")

// PowerState is a Redfish PowerState value.
type PowerState string

// Power states. StateUnknown is used when the BMC reports none.
const (
	StateOn          PowerState = "On"
	StateOff         PowerState = "Off"
	StatePoweringOn  PowerState = "PoweringOn"
	StatePoweringOff PowerState = "PoweringOff"
	StatePaused      PowerState = "Paused"
	StateUnknown     PowerState = "Unknown"
)

// ResetKind is a Redfish ResetType.
type ResetKind string

// Reset kinds ibex uses; the names are Redfish's.
const (
	ResetOn               ResetKind = "On"
	ResetForceOn          ResetKind = "ForceOn"
	ResetForceOff         ResetKind = "ForceOff"
	ResetGracefulShutdown ResetKind = "GracefulShutdown"
	ResetGracefulRestart  ResetKind = "GracefulRestart"
	ResetForceRestart     ResetKind = "ForceRestart"
	ResetPowerCycle       ResetKind = "PowerCycle"
	ResetNmi              ResetKind = "Nmi"
	ResetPushPowerButton  ResetKind = "PushPowerButton"
)

var resetKinds = []ResetKind{
	ResetOn, ResetForceOn, ResetForceOff, ResetGracefulShutdown, ResetGracefulRestart,
	ResetForceRestart, ResetPowerCycle, ResetNmi, ResetPushPowerButton,
}

// Valid reports whether k is one of the kinds above. Other Redfish values
// (Suspend, Pause, ...) are refused: ibex has no use for them and a typo
// must not reach a BMC.
func (k ResetKind) Valid() bool {
	for _, v := range resetKinds {
		if k == v {
			return true
		}
	}
	return false
}

// BootTarget is a Redfish BootSourceOverrideTarget value.
type BootTarget string

// Common boot targets. Any other Redfish value may be used as well; the BMC
// checks it against its allowable values.
const (
	BootNone      BootTarget = "None"
	BootPxe       BootTarget = "Pxe"
	BootHdd       BootTarget = "Hdd"
	BootCd        BootTarget = "Cd"
	BootUsb       BootTarget = "Usb"
	BootBiosSetup BootTarget = "BiosSetup"
	BootUefiHTTP  BootTarget = "UefiHttp"
	BootUefiShell BootTarget = "UefiShell"
	BootDiags     BootTarget = "Diags"
)

// Firmware is one entry of the BMC's firmware inventory.
type Firmware struct {
	ID         string // inventory Id, e.g. "BMC", "BIOS"
	Name       string
	Version    string // as reported, possibly "N/A"
	Updateable bool
	// Known is false when Version carries no information: empty or a
	// placeholder such as "N/A" or "Unknown". iLO 5, for one, lists
	// Mellanox ConnectX HCAs with Version "N/A". Callers must then read
	// the version in-band (from the device on the host) instead of
	// comparing "N/A" against a wanted version and flashing needlessly.
	Known bool
	// URI is the entry's @odata.id, which is what SimpleUpdate targets.
	URI string
}

// versionKnown reports whether a reported firmware version is a real one.
func versionKnown(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "n/a", "na", "n.a.", "none", "null", "unknown", "not available", "-", "--", "?":
		return false
	}
	return true
}
