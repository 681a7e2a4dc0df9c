// Package sm defines what ibex asks of an InfiniBand subnet manager:
// make the fabric's partitions (P_Keys) equal to a desired set, and
// report what the ports' P_Key tables really hold.
//
// The types here are shared by every driver (sm/opensm writes OpenSM's
// partitions.conf, sm/ufm talks to NVIDIA UFM's REST API) so the
// scheduler can reason about isolation without knowing which SM runs
// the fabric.
//
// Why the whole desired set and not incremental add/remove calls:
// OpenSM re-reads one file and reprograms the fabric in one heavy sweep,
// so many allocations starting at once must coalesce into one rewrite
// and one SIGHUP. A driver that receives the full set can also repair
// drift (an SM restart, a lost signal) simply by being called again:
// Apply is idempotent.
package sm

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// GUID is an InfiniBand port GUID (not a node GUID: partitions are
// per end port).
type GUID uint64

// String renders the GUID the way OpenSM and ibnetdiscover print it.
func (g GUID) String() string { return fmt.Sprintf("0x%016x", uint64(g)) }

// ParseGUID accepts "0x0002c90300000011", "0002c90300000011" or a
// decimal number, as OpenSM's partitions.conf does.
func ParseGUID(s string) (GUID, error) {
	s = strings.TrimSpace(s)
	base := 0
	if !strings.HasPrefix(s, "0x") && !strings.HasPrefix(s, "0X") && len(s) == 16 {
		base = 16 // UFM prints GUIDs as bare 16-digit hex
	}
	v, err := strconv.ParseUint(s, base, 64)
	if err != nil {
		return 0, fmt.Errorf("sm: bad GUID %q: %w", s, err)
	}
	if v == 0 {
		return 0, fmt.Errorf("sm: bad GUID %q: zero", s)
	}
	return GUID(v), nil
}

// PKey is a 15-bit partition key (0x0001..0x7fff). The membership bit
// (bit 15) is not part of the key; see Membership and Entry.
type PKey uint16

// DefaultPKey is the management partition every port is in.
const DefaultPKey PKey = 0x7fff

// String renders the key as 0x%04x.
func (p PKey) String() string { return fmt.Sprintf("0x%04x", uint16(p)) }

// Valid reports whether p can be given to a tenant partition: non-zero,
// 15 bits, and not the default key.
func (p PKey) Valid() bool { return p != 0 && p < DefaultPKey }

// Membership is a port's kind of membership in a partition. Two limited
// members cannot talk to each other; a full member talks to everyone in
// the partition.
type Membership uint8

const (
	// Limited membership: may only talk to full members.
	Limited Membership = iota
	// Full membership.
	Full
)

// String returns "limited" or "full" (OpenSM's and UFM's spelling).
func (m Membership) String() string {
	if m == Full {
		return "full"
	}
	return "limited"
}

// Member is one port of a partition.
type Member struct {
	GUID       GUID
	Membership Membership
}

// Partition is one desired partition.
type Partition struct {
	// Name is for logs and the SM's own bookkeeping. OpenSM keeps at
	// most 31 bytes and would read a name starting with a digit as a
	// P_Key, so ValidateDesired restricts it (see NameOK).
	Name string
	// PKey is the 15-bit key, 0x0001..0x7ffe.
	PKey PKey
	// Members lists the ports; order does not matter.
	Members []Member
	// IPoIB asks the SM to create the partition's IPoIB broadcast group.
	IPoIB bool
}

// DefaultRules say who is in the default partition 0x7fff and how.
// Tenant nodes must be limited members: two limited members cannot
// talk, so the default partition stops being a backdoor between
// tenants, while every node can still reach the SM (a full member).
type DefaultRules struct {
	// Tenants is the membership of every CA port not listed in Full.
	Tenants Membership
	// Full lists extra ports with full membership (login, storage and
	// service nodes that every tenant must reach).
	Full []GUID
	// Switches gives switch management ports full membership.
	Switches bool
	// IPoIB creates the default partition's IPoIB broadcast group.
	IPoIB bool
}

// TenantIsolation is the rule ibex uses: tenants limited, switches and
// the SM full.
var TenantIsolation = DefaultRules{Tenants: Limited, Switches: true, IPoIB: true}

// Driver is a subnet-manager back end.
type Driver interface {
	// Apply makes the SM's partitions equal to desired (the complete
	// set: a partition left out is deleted) and returns once the
	// driver has verified the result as far as it can. It is
	// idempotent; calling it again repairs drift.
	Apply(ctx context.Context, desired []Partition) error
	// Observe returns the P_Key tables of the given ports as the
	// driver sees them (for OpenSM: read from the fabric itself).
	// Ports that could not be read are missing from the map and
	// named in the error.
	Observe(ctx context.Context, ports []GUID) (map[GUID]Table, error)
}
