// Package bmc is where the node agent touches hardware out of band: power,
// one-time boot device and firmware inventory/update through a node's
// baseboard management controller.
//
// Callers program against the BMC interface, and VirtualMedia for
// booting an ISO. Redfish implements both with gofish for real BMCs (and
// for the DMTF mockups served by nodeagent/redfishmock in tests): it picks
// one system on multi-system BMCs (Config.SystemID) and reports only that
// system's firmware, logs in again when the BMC ends its session, honours
// the reset types and boot modes the BMC allows, and can pin the BMC's CA
// (Config.CAFile). Lazy wraps it for long-running callers, connecting on
// first use and again after failures, so that a dead BMC neither delays
// nor permanently disables them. Fake implements both in memory, with
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
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
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

// VirtualMedia is implemented by BMCs that can attach an ISO image as a
// virtual CD/DVD, so that a node boots an installer or ramdisk without
// network boot. It is separate from BMC so that BMC implementations
// elsewhere keep compiling; test for it with a type assertion. To boot the
// image once, insert it, then SetOneTimeBoot(ctx, BootCd) (which asks for
// UEFI mode) and reset the host.
type VirtualMedia interface {
	// InsertMedia attaches the image at imageURL (http, https, nfs, ...;
	// the BMC fetches it) to the BMC's virtual CD/DVD, read-only. Media
	// already inserted is ejected first; inserting the image that is
	// already inserted is a no-op.
	InsertMedia(ctx context.Context, imageURL string) error
	// EjectMedia detaches the virtual CD/DVD's image. It is a no-op when
	// nothing is inserted.
	EjectMedia(ctx context.Context) error
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
	ID   string // inventory Id, e.g. "BMC", "BIOS"
	Name string
	// Version is as reported, possibly "N/A", with non-printable bytes
	// shown as \xNN escapes and cut at 128 bytes.
	Version    string
	Updateable bool
	// Known is false when Version carries no information: empty, a
	// placeholder such as "N/A", "Unknown" or "undefined", all zeros, or
	// not printable text (see versionKnown). iLO 5, for one, lists
	// Mellanox ConnectX HCAs with Version "N/A". Callers must then read
	// the version in-band (from the device on the host) instead of
	// comparing "N/A" against a wanted version and flashing needlessly.
	Known bool
	// URI is the entry's @odata.id, which is what SimpleUpdate targets.
	URI string
}

// maxVersionLength bounds a firmware version string. Real ones are short
// (Cray EX BMC versions, among the longest, are about 64 bytes); anything
// longer is not a version and is not carried whole.
const maxVersionLength = 128

// placeholderVersions are what BMCs put in Version when they do not know
// it, lower-cased: "N/A" (iLO 5 for ConnectX HCAs), "undefined" (some
// OpenBMC builds before the host has booted), and their relatives.
var placeholderVersions = []string{
	"n/a", "na", "n.a.", "n.a", "none", "null", "nil", "unknown", "unknown version", "undefined",
	"not available", "notavailable", "not applicable", "notapplicable", "unavailable",
	"not supported", "unsupported", "not present", "not installed", "invalid", "tbd",
}

// versionKnown reports whether a reported firmware version is a real one:
// printable, bounded, not a placeholder, not all zeros (unprogrammed
// version registers) and not all Fs (erased flash).
func versionKnown(v string) bool {
	if !utf8.ValidString(v) || len(v) > maxVersionLength {
		return false
	}
	for _, r := range v {
		// U+FFFD is what encoding/json makes of bytes that are not UTF-8.
		if !unicode.IsPrint(r) || r == utf8.RuneError {
			return false
		}
	}
	t := strings.ToLower(strings.TrimSpace(v))
	for _, p := range []string{"()", "[]", "<>", `""`, "''"} {
		if len(t) >= 2 && t[0] == p[0] && t[len(t)-1] == p[1] {
			t = strings.TrimSpace(t[1 : len(t)-1])
		}
	}
	if !strings.ContainsFunc(t, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) {
		return false // "", "-", "?", "..."
	}
	for _, p := range placeholderVersions {
		if t == p {
			return false
		}
	}
	if strings.Trim(t, "0.") == "" {
		return false // "0", "0.0.0"
	}
	if h := strings.TrimPrefix(t, "0x"); len(h) >= 4 && strings.Trim(h, "f") == "" {
		return false // "ffff", "0xffffffff"
	}
	return true
}

// displayVersion returns a reported version in a form that is safe to
// show, log and put in a protobuf string (valid UTF-8, printable, one
// line, bounded), and whether it is a known version.
func displayVersion(v string) (string, bool) {
	known := versionKnown(v)
	var b strings.Builder
	i := 0
	for i < len(v) && b.Len() < maxVersionLength {
		r, size := utf8.DecodeRuneInString(v[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, v[i])
		case !unicode.IsPrint(r) || r == utf8.RuneError:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
		i += size
	}
	out := b.String()
	if len(out) > maxVersionLength || i < len(v) && strings.TrimSpace(v[i:]) != "" {
		out = strings.ToValidUTF8(out[:min(len(out), maxVersionLength)], "") + "..."
	}
	out = strings.TrimSpace(out)
	return out, known
}
