package model

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Firmware profiles: "firmware tinkering" a tenant may ask for, approved
// by an admin beforehand. A profile is either HCA firmware (a version,
// with the image's digest, and/or mstconfig settings per board id) or a
// BIOS configuration (Redfish BIOS attributes); both kinds are one record
// so one catalog, one approval and one job field serve them. The agent
// applies an HCA profile before the job starts (TaskFirmwareProfile) and
// the node's cleaning restores the pinned baseline (TaskFirmware) before
// anyone else gets it.

// ProfileKind is what a firmware profile changes.
type ProfileKind string

const (
	ProfileHCA  ProfileKind = "hca"  // HCA firmware and mstconfig settings, applied by the node agent
	ProfileBIOS ProfileKind = "bios" // Redfish BIOS attributes, applied through the BMC (not applied yet)
)

// TaskFirmwareProfile applies a job's approved firmware profile to its
// node before the job starts. Its value is the ledger's step name.
const TaskFirmwareProfile TaskKind = "firmware-profile"

// Bounds of a profile: it comes from an admin over the API and travels in
// every profile task and challenge.
const (
	MaxProfileRules     = 8
	MaxProfileSettings  = 32
	MaxProfileNameLen   = 64
	MaxProfileDescBytes = 256
	maxSettingKeyLen    = 64
	maxSettingValueLen  = 64
)

// FirmwareProfile is one approved profile.
type FirmwareProfile struct {
	Name        string      `json:"name"`
	Kind        ProfileKind `json:"kind"`
	Description string      `json:"description,omitempty"`
	// HCA rules, one per board id (PSID), for Kind hca.
	HCA []HCAProfileRule `json:"hca,omitempty"`
	// BIOS attributes (Redfish Bios.Attributes names and values), for
	// Kind bios.
	BIOS map[string]string `json:"bios,omitempty"`
	// Who approved it, and when (set by the state machine's command).
	ApprovedBy string    `json:"approved_by,omitempty"`
	ApprovedAt time.Time `json:"approved_at,omitzero"`
}

// HCAProfileRule is what a profile does to the HCAs of one board id: run
// Version (an image whose sha256 the admin approved, by its file name in
// the agents' firmware store), and/or hold the mstconfig settings Config.
// An empty Version keeps the baseline pin's firmware and changes settings
// only.
type HCAProfileRule struct {
	PSID    string            `json:"psid"`
	Version string            `json:"version,omitempty"`
	SHA256  string            `json:"sha256,omitempty"`
	File    string            `json:"file,omitempty"`
	Config  map[string]string `json:"config,omitempty"`
}

// Rule returns the profile's rule for a board id.
func (p FirmwareProfile) Rule(psid string) (HCAProfileRule, bool) {
	for _, r := range p.HCA {
		if r.PSID == psid {
			return r, true
		}
	}
	return HCAProfileRule{}, false
}

// ConfigKeys are the mstconfig settings the profile changes, sorted: the
// ones the node's cleaning restores to their defaults.
func (p FirmwareProfile) ConfigKeys() []string {
	var keys []string
	for _, r := range p.HCA {
		for k := range r.Config {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	return keys
}

// Clone returns a deep copy.
func (p FirmwareProfile) Clone() FirmwareProfile {
	c := p
	c.BIOS = maps.Clone(p.BIOS)
	c.HCA = make([]HCAProfileRule, len(p.HCA))
	for i, r := range p.HCA {
		r.Config = maps.Clone(r.Config)
		c.HCA[i] = r
	}
	if p.HCA == nil {
		c.HCA = nil
	}
	return c
}

// ErrInvalidProfile is wrapped by every Validate error.
var ErrInvalidProfile = errors.New("invalid firmware profile")

// Validate checks a profile an admin submits before anything is written.
func (p FirmwareProfile) Validate() error {
	var errs []error
	if err := CheckProfileName(p.Name); err != nil {
		errs = append(errs, err)
	}
	if err := CheckText("description", p.Description, MaxProfileDescBytes); err != nil {
		errs = append(errs, err)
	}
	switch p.Kind {
	case ProfileHCA:
		if len(p.BIOS) > 0 {
			errs = append(errs, errors.New("an hca profile carries no BIOS attributes"))
		}
		if len(p.HCA) == 0 || len(p.HCA) > MaxProfileRules {
			errs = append(errs, fmt.Errorf("%d HCA rules, want 1..%d", len(p.HCA), MaxProfileRules))
		}
		seen := map[string]bool{}
		for i, r := range p.HCA {
			if err := r.validate(); err != nil {
				errs = append(errs, fmt.Errorf("rule %d: %w", i, err))
			}
			if seen[r.PSID] {
				errs = append(errs, fmt.Errorf("rule %d: PSID %s appears twice", i, r.PSID))
			}
			seen[r.PSID] = true
		}
	case ProfileBIOS:
		if len(p.HCA) > 0 {
			errs = append(errs, errors.New("a bios profile carries no HCA rules"))
		}
		if len(p.BIOS) == 0 || len(p.BIOS) > MaxProfileSettings {
			errs = append(errs, fmt.Errorf("%d BIOS attributes, want 1..%d", len(p.BIOS), MaxProfileSettings))
		}
		for k, v := range p.BIOS {
			if err := checkSetting(k, v); err != nil {
				errs = append(errs, fmt.Errorf("BIOS attribute: %w", err))
			}
		}
	default:
		errs = append(errs, fmt.Errorf("kind %q: want %q or %q", p.Kind, ProfileHCA, ProfileBIOS))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w %q: %w", ErrInvalidProfile, p.Name, errors.Join(errs...))
}

// CheckProfileName applies the image name rules to a profile name (it
// appears in task ids, ledger entries and tables).
func CheckProfileName(name string) error {
	if len(name) > MaxProfileNameLen {
		return fmt.Errorf("%w: name is %d bytes, the limit is %d", ErrInvalidProfile, len(name), MaxProfileNameLen)
	}
	if err := checkImageToken("profile name", name, ""); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidProfile, err)
	}
	return nil
}

func (r HCAProfileRule) validate() error {
	if !validPSID(r.PSID) {
		return fmt.Errorf("PSID %q: want 1-16 of A-Z a-z 0-9 _", r.PSID)
	}
	switch {
	case r.Version == "" && (r.SHA256 != "" || r.File != ""):
		return fmt.Errorf("PSID %s: an image (sha256, file) needs its version", r.PSID)
	case r.Version != "":
		if err := checkImageToken("version", r.Version, ""); err != nil {
			return fmt.Errorf("PSID %s: %w", r.PSID, err)
		}
		if err := checkSHA256(r.SHA256); err != nil {
			return fmt.Errorf("PSID %s: %w", r.PSID, err)
		}
		if err := checkImageToken("file", r.File, ""); err != nil {
			return fmt.Errorf("PSID %s: firmware %w", r.PSID, err)
		}
	case len(r.Config) == 0:
		return fmt.Errorf("PSID %s: neither a firmware version nor settings: the rule changes nothing", r.PSID)
	}
	if len(r.Config) > MaxProfileSettings {
		return fmt.Errorf("PSID %s: %d settings, at most %d", r.PSID, len(r.Config), MaxProfileSettings)
	}
	for k, v := range r.Config {
		if err := checkSetting(k, v); err != nil {
			return fmt.Errorf("PSID %s: setting %w", r.PSID, err)
		}
	}
	return nil
}

// checkSetting: a key like mstconfig's (SRIOV_EN, NUM_OF_VFS) or a Redfish
// attribute name (ProcTurboMode), a value of letters, digits and ._-():
// both go on a tool's command line on the node.
func checkSetting(k, v string) error {
	if k == "" || len(k) > maxSettingKeyLen || !isAlnum(k[0]) || strings.IndexFunc(k, func(r rune) bool {
		return !(r < 0x80 && (isAlnum(byte(r)) || r == '_'))
	}) >= 0 {
		return fmt.Errorf("name %q: want 1-%d of A-Z a-z 0-9 _, starting with a letter or digit", k, maxSettingKeyLen)
	}
	if v == "" || len(v) > maxSettingValueLen || strings.IndexFunc(v, func(r rune) bool {
		return !(r < 0x80 && (isAlnum(byte(r)) || strings.ContainsRune("._-()", r)))
	}) >= 0 {
		return fmt.Errorf("%s value %q: want 1-%d of A-Z a-z 0-9 . _ - ( )", k, v, maxSettingValueLen)
	}
	return nil
}

func validPSID(p string) bool {
	if p == "" || len(p) > 16 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if !isAlnum(p[i]) && p[i] != '_' {
			return false
		}
	}
	return true
}

// SameSetting compares two mstconfig values. mstconfig prints enumerated
// values as NAME(n) ("True(1)", "IB(1)") and takes either the name or the
// number, so "1", "True" and "True(1)" are one value; other values compare
// exactly (case-insensitively for names).
func SameSetting(a, b string) bool {
	na, ia := settingParts(a)
	nb, ib := settingParts(b)
	switch {
	case a == "" || b == "":
		return false
	case strings.EqualFold(a, b):
		return true
	case ia != "" && ib != "":
		return ia == ib
	case ia != "" && nb == "":
		return ia == b || strings.EqualFold(na, b)
	case ib != "" && na == "":
		return ib == a || strings.EqualFold(nb, a)
	}
	return false
}

// settingParts splits "NAME(n)" into NAME and n; other values give ("", "").
func settingParts(s string) (name, num string) {
	open := strings.LastIndexByte(s, '(')
	if open <= 0 || !strings.HasSuffix(s, ")") {
		return "", ""
	}
	num = s[open+1 : len(s)-1]
	if num == "" || strings.Trim(num, "0123456789") != "" {
		return "", ""
	}
	return s[:open], num
}

// FirmwareSeen is what the node's last verified firmware step (the
// baseline, or a job's profile) left on its HCAs: the version per PSID,
// and the settings it checked. The next cleaning compares what it finds
// before touching anything with it: anything else was changed behind
// ibex's back (unapproved firmware), and quarantines the node.
type FirmwareSeen struct {
	Profile  string                       `json:"profile,omitempty"`
	Versions map[string]string            `json:"versions"`
	Config   map[string]map[string]string `json:"config,omitempty"`
}

// Clone returns a deep copy.
func (f *FirmwareSeen) Clone() *FirmwareSeen {
	if f == nil {
		return nil
	}
	c := &FirmwareSeen{Profile: f.Profile, Versions: maps.Clone(f.Versions)}
	if f.Config != nil {
		c.Config = make(map[string]map[string]string, len(f.Config))
		for k, v := range f.Config {
			c.Config[k] = maps.Clone(v)
		}
	}
	return c
}
