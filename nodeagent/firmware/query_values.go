package firmware

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/ibex-hpc/ibex/nodeagent/hca"
)

func parseDeviceID(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a decimal PCI device id", s)
	}
	return int(n), nil
}

// parseGUID takes mstflint's GUID spelling: 16 hex digits, no separators.
func parseGUID(s string) (hca.GUID, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 8 {
		return 0, fmt.Errorf("GUID %q: want 16 hex digits", s)
	}
	return hca.GUID(binary.BigEndian.Uint64(b)), nil
}

// parseMAC takes mstflint's MAC spelling: 12 hex digits, no separators.
func parseMAC(s string) (net.HardwareAddr, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 6 {
		return nil, fmt.Errorf("MAC %q: want 12 hex digits", s)
	}
	return net.HardwareAddr(b), nil
}

// parseBase parses "<value> <count>" from the FS3/FS4 GUID table. The value
// may be N/A (image files carry no GUIDs) while the count is still printed.
func parseBase[T any](s string, parse func(string) (T, error)) (T, int, error) {
	var zero T
	f := strings.Fields(s)
	if len(f) == 0 || len(f) > 3 {
		return zero, 0, fmt.Errorf("%q: want \"<value> <count>\"", s)
	}
	count := 0
	if len(f) >= 2 {
		n, err := strconv.ParseUint(f[1], 10, 16)
		if err != nil {
			return zero, 0, fmt.Errorf("%q: count %q is not a number", s, f[1])
		}
		count = int(n)
	}
	if f[0] == "N/A" {
		return zero, count, nil
	}
	v, err := parse(f[0])
	return v, count, err
}

// parseList parses the space-separated FS2 "GUIDs:"/"MACs:" values.
func parseList[T any](s string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for _, f := range strings.Fields(s) {
		v, err := parse(f)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
