package hca

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
)

// GUID is a 64-bit InfiniBand globally unique identifier (node, system
// image or port GUID). The zero GUID means "unknown": the spec reserves it,
// so no real adapter has it.
type GUID uint64

// String formats the GUID the way sysfs prints it: "0a7f:bc12:45ef:d23b".
func (g GUID) String() string {
	return fmt.Sprintf("%04x:%04x:%04x:%04x", uint16(g>>48), uint16(g>>32), uint16(g>>16), uint16(g))
}

// Hex formats the GUID the way ibstat and ibnetdiscover print it:
// "0x0a7fbc1245efd23b". Fabric tools key on this form.
func (g GUID) Hex() string { return fmt.Sprintf("%#016x", uint64(g)) }

// ParseGUID accepts the GUID spellings the node agent meets:
//
//	0a7f:bc12:45ef:d23b       sysfs node_guid, sys_image_guid (4 groups of 1-4 hex digits)
//	0a:7f:bc:12:45:ef:d2:3b   colon-separated bytes (8 groups of 1-2 hex digits)
//	0x0a7fbc1245efd23b        ibstat, ibnetdiscover (0x or 0X, 1-16 hex digits)
//	043f720300f04c46          mstflint "Base GUID" (exactly 16 hex digits)
//
// Bare hex shorter than 16 digits is refused because it cannot be told
// apart from a decimal number.
func ParseGUID(s string) (GUID, error) {
	t := strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(t, "0x"); ok {
		return parseGUIDHex(s, rest, 16)
	}
	if rest, ok := strings.CutPrefix(t, "0X"); ok {
		return parseGUIDHex(s, rest, 16)
	}
	if !strings.Contains(t, ":") {
		if len(t) != 16 {
			return 0, fmt.Errorf("GUID %q: want 16 hex digits, 0x<hex> or colon-separated groups", s)
		}
		return parseGUIDHex(s, t, 16)
	}
	groups := strings.Split(t, ":")
	var bits, digits int
	switch len(groups) {
	case 4:
		bits, digits = 16, 4
	case 8:
		bits, digits = 8, 2
	default:
		return 0, fmt.Errorf("GUID %q: want 4 or 8 colon-separated groups, got %d", s, len(groups))
	}
	var v uint64
	for _, grp := range groups {
		n, err := parseHex(grp, digits)
		if err != nil {
			return 0, fmt.Errorf("GUID %q: group %w", s, err)
		}
		v = v<<bits | n
	}
	return GUID(v), nil
}

func parseGUIDHex(orig, digits string, max int) (GUID, error) {
	v, err := parseHex(digits, max)
	if err != nil {
		return 0, fmt.Errorf("GUID %q: %w", orig, err)
	}
	return GUID(v), nil
}

// GID is a 128-bit InfiniBand global identifier as found in ports/N/gids/M.
// On an InfiniBand port, GID 0 is the subnet prefix followed by the port
// GUID; on a RoCE port it is derived from the netdev's MAC or IP address.
// The zero GID means "unknown".
type GID [16]byte

// String formats the GID the way sysfs prints it (8 groups, no "::").
func (g GID) String() string {
	var b strings.Builder
	for i := 0; i < 16; i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02x%02x", g[i], g[i+1])
	}
	return b.String()
}

// Prefix returns the upper 64 bits: the subnet prefix on InfiniBand.
func (g GID) Prefix() uint64 { return binary.BigEndian.Uint64(g[:8]) }

// InterfaceID returns the lower 64 bits: the port GUID on InfiniBand.
func (g GID) InterfaceID() GUID { return GUID(binary.BigEndian.Uint64(g[8:])) }

// ParseGID parses a GID in IPv6 text form, as sysfs prints it
// ("fe80:0000:0000:0000:0002:c903:00a1:b2c3") or compressed ("fe80::2:c903:a1:b2c3",
// "::ffff:192.0.2.1" for RoCEv2 IPv4 GIDs). IPv6 zones and bare IPv4
// addresses are refused: neither is a GID.
func ParseGID(s string) (GID, error) {
	t := strings.TrimSpace(s)
	a, err := netip.ParseAddr(t)
	if err != nil {
		return GID{}, fmt.Errorf("GID %q: %w", s, err)
	}
	if !a.Is6() || a.Zone() != "" {
		return GID{}, fmt.Errorf("GID %q: not a 128-bit address without zone", s)
	}
	return GID(a.As16()), nil
}
