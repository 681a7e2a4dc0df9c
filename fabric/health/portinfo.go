package health

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// PortInfo is the part of `smpquery portinfo` output the monitor needs.
type PortInfo struct {
	State PortState
	// Phys is PhysLinkState as printed ("LinkUp", "Polling", ...).
	Phys string
}

// ParsePortInfo reads `smpquery portinfo <lid> <port>` output:
//
//	# Port info: Lid 3 port 3
//	LinkState:.......................Active
//	PhysLinkState:...................LinkUp
//
// A missing or unknown LinkState is an error: an unreadable state must
// not pass for Active.
func ParsePortInfo(out []byte) (PortInfo, error) {
	var pi PortInfo
	seen := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		name, val, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		val = strings.TrimSpace(strings.TrimLeft(val, "."))
		switch name {
		case "LinkState":
			seen = true
			if pi.State = parseState(val); pi.State == StateUnknown {
				return pi, fmt.Errorf("smpquery portinfo: unknown LinkState %q", clip(val))
			}
		case "PhysLinkState":
			pi.Phys = val
		}
	}
	if err := sc.Err(); err != nil {
		return pi, fmt.Errorf("smpquery portinfo: %w", err)
	}
	if !seen {
		return pi, fmt.Errorf("smpquery portinfo: no LinkState in %d bytes of output", len(out))
	}
	return pi, nil
}
