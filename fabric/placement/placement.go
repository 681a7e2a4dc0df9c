// Package placement decides where a machine that enrolled itself sits in
// the fabric. Its agent reports the port GUIDs of its HCAs (read from
// sysfs); the imported topology (an ibnetdiscover dump: what the subnet
// manager sees) knows which host and leaf switch each GUID belongs to.
// Matching the two gives the node its place, or says why it has none, or
// refuses a report that collides with another node's.
//
// A node's ports are the GUIDs of the HCA ports its agent reported that
// are not DOWN (PortUp); they are what the rule matches and where the
// node's partition keys go. The rule, in order (Place):
//
//  1. A report with no port GUID: unplaced.
//  2. A GUID that another node already holds: refused. The first node to
//     report a GUID keeps it; a second machine claiming it is either
//     misconfigured or lying, and handing it the first one's partition
//     keys would break isolation.
//  3. No topology imported: unplaced.
//  4. No reported GUID in the topology: unplaced ("port GUID 0x... not in
//     the imported topology").
//  5. GUIDs on two or more hosts of the topology: refused (one machine
//     cannot be two hosts).
//  6. The host is already another node's: refused.
//  7. The host is on no leaf switch: unplaced.
//  8. Otherwise placed on that host and its leaf. GUIDs the topology lacks
//     (an uncabled second port) are named in the note but do not stop it.
//
// Unplaced nodes are usable: the scheduler gives each one a leaf of its own
// (it shares a leaf with no one). Refused nodes are drained and never
// scheduled. Partition keys go to exactly the GUIDs the agent reported,
// placed or not.
//
// The package is pure (no I/O, no clock) because the replicated state
// machine calls it: every server must decide the same.
package placement

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// MaxPorts bounds the port GUIDs one node may report: a rail-optimised GPU
// node has 8 to 10 HCAs, some with two ports.
const MaxPorts = 64

// maxGUIDLen bounds one GUID string ("0x" and 16 digits; the sysfs form
// "0002:c903:00a1:b2c3" has 19 characters).
const maxGUIDLen = 24

// ParseGUIDs reads the port GUIDs an agent reported: "0x0002c90300a1b2c3"
// (what the agent sends, as ibstat prints) or the sysfs form
// "0002:c903:00a1:b2c3". Empty strings (a port without a GUID) are
// skipped. The result is sorted and without repeats. The zero GUID, more
// than MaxPorts GUIDs and anything else are errors that quote the input.
func ParseGUIDs(ss []string) ([]uint64, error) {
	if len(ss) > MaxPorts {
		return nil, fmt.Errorf("%d port GUIDs reported; at most %d are accepted", len(ss), MaxPorts)
	}
	var out []uint64
	for _, s := range ss {
		if s == "" {
			continue
		}
		g, err := ParseGUID(s)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// ParseGUID reads one port GUID (see ParseGUIDs).
func ParseGUID(s string) (uint64, error) {
	if len(s) > maxGUIDLen {
		return 0, fmt.Errorf("port GUID %.24q...: longer than %d characters", s, maxGUIDLen)
	}
	var v uint64
	var err error
	switch {
	case strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X"):
		if len(s) == 2 || len(s) > 18 {
			return 0, fmt.Errorf("port GUID %q: want 0x and 1-16 hex digits", s)
		}
		v, err = strconv.ParseUint(s[2:], 16, 64)
	case strings.Count(s, ":") == 3:
		for _, grp := range strings.Split(s, ":") {
			if len(grp) == 0 || len(grp) > 4 {
				return 0, fmt.Errorf("port GUID %q: want four groups of 1-4 hex digits", s)
			}
			n, err := strconv.ParseUint(grp, 16, 16)
			if err != nil {
				return 0, fmt.Errorf("port GUID %q: not hexadecimal", s)
			}
			v = v<<16 | n
		}
	default:
		return 0, fmt.Errorf("port GUID %q: want 0x<hex> or four colon-separated groups", s)
	}
	if err != nil {
		return 0, fmt.Errorf("port GUID %q: not hexadecimal", s)
	}
	if v == 0 {
		return 0, fmt.Errorf("port GUID %q: zero is not a GUID", s)
	}
	return v, nil
}

// PortUp reports whether a port in the given state (sysfs's
// "<code>: <name>", e.g. "4: ACTIVE") is connected to the fabric: anything
// but DOWN (code 1). A down port is not in the subnet manager's view and
// has no P_Key table it could program or read back, so it neither places
// a node nor receives partition keys. An unreadable state counts as up.
func PortUp(state string) bool {
	code, _, _ := strings.Cut(state, ":")
	return strings.TrimSpace(code) != "1"
}

// FormatGUID prints a GUID the way OpenSM and ibnetdiscover do.
func FormatGUID(g uint64) string { return fmt.Sprintf("0x%016x", g) }

// Host is one host of the imported topology: its name in the dump, the
// leaf switch of its first cabled port ("" when it is on none) and its
// port GUIDs.
type Host struct {
	Name  string   `json:"name"`
	Leaf  string   `json:"leaf,omitempty"`
	Ports []uint64 `json:"ports,omitempty"`
}

// Fabric indexes the topology's hosts by port GUID. It is immutable.
type Fabric struct {
	hosts  []Host
	byGUID map[uint64]int
}

// NewFabric indexes hosts. A GUID listed under two hosts (which a parsed
// dump never produces) belongs to the first.
func NewFabric(hosts []Host) *Fabric {
	f := &Fabric{hosts: hosts, byGUID: make(map[uint64]int, len(hosts))}
	for i, h := range hosts {
		for _, g := range h.Ports {
			if _, ok := f.byGUID[g]; !ok {
				f.byGUID[g] = i
			}
		}
	}
	return f
}

// Claims is what other nodes hold: port GUIDs and topology hosts, each
// mapped to the node that holds it.
type Claims struct {
	Ports map[uint64]string
	Hosts map[string]string
}

// Outcome is Place's verdict.
type Outcome int

// The outcomes.
const (
	Unplaced Outcome = iota // usable, on a leaf of its own; Note says why
	Placed                  // on Host, under Leaf
	Refused                 // never used; Note says why
)

func (o Outcome) String() string {
	switch o {
	case Placed:
		return "placed"
	case Refused:
		return "refused"
	}
	return "unplaced"
}

// Result is where a node goes and why.
type Result struct {
	Outcome    Outcome
	Host, Leaf string
	// Note starts with "unplaced: " or "refused: " for those outcomes; for
	// a placed node it names reported ports the topology lacks, if any.
	Note string
}

// Place applies the package's rule to node's reported ports (sorted, as
// ParseGUIDs returns them). f is nil when no topology is imported; c must
// not contain node's own claims.
func Place(node string, ports []uint64, f *Fabric, c Claims) Result {
	if len(ports) == 0 {
		return Result{Note: "unplaced: its agent reported no InfiniBand port GUID"}
	}
	for _, g := range ports {
		if other, ok := c.Ports[g]; ok && other != node {
			return Result{Outcome: Refused, Note: fmt.Sprintf("refused: port GUID %s is already node %s's", FormatGUID(g), other)}
		}
	}
	if f == nil {
		return Result{Note: "unplaced: no fabric topology imported (ibex fabric import FILE)"}
	}
	host := -1
	var missing []uint64
	for _, g := range ports {
		i, ok := f.byGUID[g]
		switch {
		case !ok:
			missing = append(missing, g)
		case host < 0:
			host = i
		case i != host:
			return Result{Outcome: Refused, Note: fmt.Sprintf("refused: its port GUIDs are on different hosts of the imported topology (%s on %s, %s on %s)",
				FormatGUID(f.hosts[host].Ports[0]), f.hosts[host].Name, FormatGUID(g), f.hosts[i].Name)}
		}
	}
	if host < 0 {
		return Result{Note: "unplaced: " + guidList(missing) + " not in the imported topology"}
	}
	h := f.hosts[host]
	if other, ok := c.Hosts[h.Name]; ok && other != node {
		return Result{Outcome: Refused, Note: fmt.Sprintf("refused: host %s of the imported topology is already node %s's", h.Name, other)}
	}
	if h.Leaf == "" {
		return Result{Note: fmt.Sprintf("unplaced: host %s of the imported topology is on no leaf switch", h.Name)}
	}
	r := Result{Outcome: Placed, Host: h.Name, Leaf: h.Leaf}
	if len(missing) > 0 {
		r.Note = guidList(missing) + " not in the imported topology (uncabled?)"
	}
	return r
}

// guidList names up to four GUIDs: "port GUID 0x..." or "port GUIDs 0x...,
// 0x... and 3 more".
func guidList(gs []uint64) string {
	const show = 4
	var parts []string
	for _, g := range gs[:min(len(gs), show)] {
		parts = append(parts, FormatGUID(g))
	}
	s := strings.Join(parts, ", ")
	if len(gs) > show {
		s += fmt.Sprintf(" and %d more", len(gs)-show)
	}
	if len(gs) == 1 {
		return "port GUID " + s
	}
	return "port GUIDs " + s
}
