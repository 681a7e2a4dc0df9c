package hca

import (
	"fmt"
	"strings"
)

// ParseCounter parses one sysfs counter file. ok is false, with no error,
// when the driver says the counter does not exist on this port: iWARP and
// some RoCE drivers have no Performance Management Agent and print
// "N/A (no PMA)" in every counters/* file. That is a fact about the
// adapter, not a fault, so callers should record it rather than fail.
func ParseCounter(s string) (value uint64, ok bool, err error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "N/A") {
		return 0, false, nil
	}
	v, err := parseDecimal(t, 20)
	if err != nil {
		return 0, false, fmt.Errorf("counter %q: %w", s, err)
	}
	return v, true, nil
}

// ParseLID parses ports/N/lid or sm_lid, which the kernel prints as
// "0x<hex>". A LID is 16 bits; 0 means unassigned.
func ParseLID(s string) (uint16, error) {
	t := strings.TrimSpace(s)
	h, ok := strings.CutPrefix(t, "0x")
	if !ok {
		return 0, fmt.Errorf("LID %q: want 0x<hex>", s)
	}
	v, err := parseHex(h, 4)
	if err != nil {
		return 0, fmt.Errorf("LID %q: %w", s, err)
	}
	return uint16(v), nil
}
