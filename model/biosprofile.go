package model

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// NodeBIOS is what ibex verified of a node's BIOS attributes through its
// BMC (bios firmware profiles, applied by the leader, not the agent).
// While Profile is set the node runs that profile for job Job and its
// cleaning must put Baseline back, read it back and record it, before the
// node can be clean. Verified is what ibex last read back; a BIOS found
// different from it was changed behind ibex's back.
type NodeBIOS struct {
	Profile  string            `json:"profile,omitempty"`
	Job      uint64            `json:"job,omitempty"`
	Baseline map[string]string `json:"baseline,omitempty"`
	Verified map[string]string `json:"verified,omitempty"`
	// Applied is set once the profile was read back: a failed apply
	// records Profile and Baseline (for the cleaning) without it.
	Applied bool `json:"applied,omitempty"`
}

// Clone returns a deep copy (nil for nil).
func (b *NodeBIOS) Clone() *NodeBIOS {
	if b == nil {
		return nil
	}
	c := *b
	c.Baseline = maps.Clone(b.Baseline)
	c.Verified = maps.Clone(b.Verified)
	return &c
}

// TaskBIOSRestore counts failed BIOS restores in Node.StepFailures: it is
// a cleaning step the leader runs through the BMC, not an agent task.
const TaskBIOSRestore TaskKind = "bios-restore"

// CheckBIOSReadings reports the first attribute of want whose reading in
// got differs, as "Name: read X, want Y", or nil when all match.
func CheckBIOSReadings(want, got map[string]string) error {
	var bad []string
	for _, k := range slices.Sorted(maps.Keys(want)) {
		v, ok := got[k]
		switch {
		case !ok:
			bad = append(bad, fmt.Sprintf("%s: not read back, want %q", k, want[k]))
		case v != want[k]:
			bad = append(bad, fmt.Sprintf("%s: read %q, want %q", k, v, want[k]))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("BIOS attributes differ: %s", strings.Join(bad, "; "))
	}
	return nil
}

// ValidateBIOSReadings bounds readings carried in a command: at most
// MaxProfileSettings attributes, each a valid setting.
func ValidateBIOSReadings(m map[string]string) error {
	if len(m) > MaxProfileSettings {
		return fmt.Errorf("%d BIOS attributes, at most %d", len(m), MaxProfileSettings)
	}
	for k, v := range m {
		if err := checkSetting(k, v); err != nil {
			return fmt.Errorf("BIOS attribute: %w", err)
		}
	}
	return nil
}

// DescribeBIOS renders attributes for a ledger entry: "A=x, B=y" sorted.
func DescribeBIOS(m map[string]string) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ", ")
}
