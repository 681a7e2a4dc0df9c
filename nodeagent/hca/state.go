package hca

import (
	"fmt"
	"strings"
)

// Port state codes from the InfiniBand spec (PortInfo.PortState); the kernel
// prints them in ports/N/state.
const (
	PortDown        = 1
	PortInit        = 2
	PortArmed       = 3
	PortActive      = 4
	PortActiveDefer = 5
)

// PhysLinkUp is the PortInfo.PortPhysicalState code for a trained link; the
// kernel prints it in ports/N/phys_state as "5: LinkUp".
const PhysLinkUp = 5

// State is a numbered state as the kernel prints it in sysfs, "<code>: <name>"
// (ports/N/state "4: ACTIVE", ports/N/phys_state "5: LinkUp", node_type
// "1: CA"). Both parts are kept as reported: drivers do not always agree with
// the spec's names (one real mlx5 tree reports phys_state "4: ACTIVE"), and
// the code is what logic should test. The zero State means "unknown" (file
// missing); the kernel never prints an empty name.
type State struct {
	Code int
	Name string
}

// Known reports whether the state was read from sysfs.
func (s State) Known() bool { return s.Name != "" }

// String formats the state the way sysfs prints it, or "unknown".
func (s State) String() string {
	if !s.Known() {
		return "unknown"
	}
	return fmt.Sprintf("%d: %s", s.Code, s.Name)
}

// ParseState parses "<code>: <name>". The code is 0-255 (the spec fields are
// at most 8 bits) and the name must be non-empty printable text.
func ParseState(s string) (State, error) {
	s = strings.TrimSpace(s)
	num, name, ok := strings.Cut(s, ":")
	if !ok {
		return State{}, fmt.Errorf("state %q: want \"<code>: <name>\"", s)
	}
	code, err := parseDecimal(num, 3)
	if err != nil || code > 255 {
		return State{}, fmt.Errorf("state %q: code %q is not a number 0-255", s, num)
	}
	name = strings.TrimSpace(name)
	if name == "" {
		return State{}, fmt.Errorf("state %q: empty name", s)
	}
	if err := checkPrintable(name); err != nil {
		return State{}, fmt.Errorf("state %q: name %w", s, err)
	}
	return State{Code: int(code), Name: name}, nil
}
