package simnode

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/ibex-hpc/ibex/nodeagent/firmware"
)

// Firmware of the simulated HCAs. Nodes boot with ShippedFirmware; the
// pin (Pin) names PinnedFirmware, so a node's first cleaning burns,
// resets and verifies, and later cleanings find it compliant, as on a
// fleet whose policy was raised once.
const (
	PSID            = "MT_0000000223" // a ConnectX-6 HDR board id
	ShippedFirmware = "20.31.1014"
	PinnedFirmware  = "20.31.2006"
	// FirmwareFile is the pinned image's name in the FirmwareStore.
	FirmwareFile = "fw-ConnectX6-" + PinnedFirmware + ".bin"
	// TinkerFirmware is a second image the simulated HCAs accept, for
	// firmware profiles (`ibex firmware profile add --version`).
	TinkerFirmware = "20.32.1010"
	TinkerFile     = "fw-ConnectX6-" + TinkerFirmware + ".bin"
)

// tinkerImage is TinkerFirmware's content.
var tinkerImage = []byte(fmt.Sprintf("ibex simulated HCA firmware\nPSID: %s\nFW Version: %s\n", PSID, TinkerFirmware))

// Settings are the simulated HCAs' mstconfig parameters with their
// firmware defaults (what a ConnectX-6 reports, as numbers).
var Settings = map[string]string{"SRIOV_EN": "0", "NUM_OF_VFS": "0", "LINK_TYPE_P1": "1", "ADVANCED_PCI_SETTINGS": "0"}

// Tinker returns the profile rule line for TinkerFirmware.
func Tinker() FirmwarePin {
	sum := sha256.Sum256(tinkerImage)
	return FirmwarePin{PSID: PSID, Version: TinkerFirmware, SHA256: hex.EncodeToString(sum[:]), File: TinkerFile}
}

// firmwareImage is the pinned image's content. The simulated flasher
// knows images by digest, like the real tool knows them by content.
var firmwareImage = []byte(fmt.Sprintf("ibex simulated HCA firmware\nPSID: %s\nFW Version: %s\n", PSID, PinnedFirmware))

// FirmwarePin is the firmware policy line that pins the simulated HCAs:
// what `ibexd --firmware-policy` would hold for them.
type FirmwarePin struct {
	PSID, Version, SHA256, File string
}

// Pin returns the policy line for the simulated HCAs.
func Pin() FirmwarePin {
	sum := sha256.Sum256(firmwareImage)
	return FirmwarePin{PSID: PSID, Version: PinnedFirmware, SHA256: hex.EncodeToString(sum[:]), File: FirmwareFile}
}

// firmwareStore serves the pinned image from memory, and anything else
// from Dir when it is set (an operator's --firmware-policy may name its
// own files for its own PSIDs).
type firmwareStore struct{ dir string }

func (s firmwareStore) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	switch name {
	case FirmwareFile:
		return io.NopCloser(bytes.NewReader(firmwareImage)), nil
	case TinkerFile:
		return io.NopCloser(bytes.NewReader(tinkerImage)), nil
	}
	if s.dir == "" {
		return nil, fmt.Errorf("simulated node: no firmware file %q (the simulated HCAs only carry %s)", name, FirmwareFile)
	}
	return firmware.DirStore{Dir: s.dir}.Open(ctx, name)
}

// flasher is firmware.Fake for the node's one HCA, with what a real
// adapter adds: the running version shows in sysfs fw_ver after a reset,
// and flash survives a restart of the simulation (the versions are kept in
// a file in the node's directory).
type flasher struct {
	*firmware.Fake
	sysfs *sysfs
	state string // file with the burned and running versions
}

// newFlasher loads the HCA's versions from state, or ships it with
// ShippedFirmware, and shows the running one in sysfs.
func newFlasher(sys *sysfs, state string) (*flasher, error) {
	st := firmwareState{Burned: ShippedFirmware, Running: ShippedFirmware}
	if b, err := os.ReadFile(state); err == nil {
		if s, ok := parseFirmwareState(b); ok {
			st = s
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	cfg := map[string]firmware.Setting{}
	for k, def := range Settings {
		cfg[k] = firmware.Setting{Default: def, Current: def, Next: def}
		if v, ok := st.Current[k]; ok {
			c := cfg[k]
			c.Current = v
			cfg[k] = c
		}
		if v, ok := st.Next[k]; ok {
			c := cfg[k]
			c.Next = v
			cfg[k] = c
		}
	}
	burned, running := st.Burned, st.Running
	f := firmware.NewFake()
	f.AddDevice(HCAName, firmware.FakeDevice{PSID: PSID, Burned: burned, Running: running, Config: cfg})
	f.AddImage(firmwareImage, firmware.FakeImage{PSID: PSID, Version: PinnedFirmware})
	f.AddImage(tinkerImage, firmware.FakeImage{PSID: PSID, Version: TinkerFirmware})
	fl := &flasher{Fake: f, sysfs: sys, state: state}
	if err := sys.setFirmware(running); err != nil {
		return nil, err
	}
	return fl, nil
}

// maxStateSize bounds the firmware state file: two short versions and
// the few settings.
const maxStateSize = 4 << 10

// firmwareState is the state file: versions, and settings that differ
// from their defaults (current, and for the next reset).
type firmwareState struct {
	Burned, Running string
	Current, Next   map[string]string `json:",omitempty"`
}

// parseFirmwareState reads the state file save writes. ok is false for
// anything else (a damaged file), which ships the node with
// ShippedFirmware again.
func parseFirmwareState(b []byte) (firmwareState, bool) {
	var v firmwareState
	if len(b) > maxStateSize || json.Unmarshal(b, &v) != nil || !validVersion(v.Burned) || !validVersion(v.Running) {
		return firmwareState{}, false
	}
	for _, m := range []map[string]string{v.Current, v.Next} {
		for k, val := range m {
			if _, known := Settings[k]; !known || !validVersion(val) {
				return firmwareState{}, false
			}
		}
	}
	return v, true
}

// validVersion accepts what a state file written by save can hold: a
// short dotted version.
func validVersion(v string) bool {
	if v == "" || len(v) > 32 {
		return false
	}
	for _, r := range v {
		if (r < '0' || r > '9') && r != '.' {
			return false
		}
	}
	return true
}

func (f *flasher) Burn(ctx context.Context, device, imagePath string) error {
	if err := f.Fake.Burn(ctx, device, imagePath); err != nil {
		return err
	}
	return f.save(device)
}

func (f *flasher) Reset(ctx context.Context, device string) error {
	if err := f.Fake.Reset(ctx, device); err != nil {
		return err
	}
	d, ok := f.Device(device)
	if !ok {
		return fmt.Errorf("simulated flasher: no device %s", device)
	}
	if err := f.sysfs.setFirmware(d.Running); err != nil {
		return fmt.Errorf("simulated flasher: update sysfs fw_ver: %w", err)
	}
	return f.save(device)
}

// SetConfig keeps the settings across a restart of the simulation, like
// the adapter's non-volatile configuration.
func (f *flasher) SetConfig(ctx context.Context, device string, values map[string]string) error {
	if err := f.Fake.SetConfig(ctx, device, values); err != nil {
		return err
	}
	return f.save(device)
}

func (f *flasher) save(device string) error {
	d, _ := f.Device(device)
	st := firmwareState{Burned: d.Burned, Running: d.Running}
	for k, s := range d.Config {
		if s.Current != s.Default {
			if st.Current == nil {
				st.Current = map[string]string{}
			}
			st.Current[k] = s.Current
		}
		if s.Next != s.Default {
			if st.Next == nil {
				st.Next = map[string]string{}
			}
			st.Next[k] = s.Next
		}
	}
	b, _ := json.Marshal(st)
	tmp := f.state + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("simulated flasher: %w", err)
	}
	if err := os.Rename(tmp, f.state); err != nil {
		return fmt.Errorf("simulated flasher: %w", err)
	}
	return nil
}

// running is the firmware the node's HCA runs.
func (f *flasher) running() string {
	d, _ := f.Device(HCAName)
	return d.Running
}

// Setting is the HCA's setting key as the node runs it now (current) and
// after the next firmware reset (next).
func (f *flasher) setting(key string) (current, next string) {
	d, _ := f.Device(HCAName)
	s := d.Config[key]
	return s.Current, s.Next
}
