package health

import (
	"fmt"
	"strings"

	"github.com/ibex-hpc/ibex/fabric/ibnet"
)

// PortID names one end of a cable. GUID is the switch's node GUID for a
// switch port and the port GUID for an HCA port: `ibnetdiscover -p` prints
// nothing else, and partitions are keyed by port GUID too.
type PortID struct {
	GUID uint64
	Port int
}

func (p PortID) String() string { return fmt.Sprintf("0x%016x[%d]", p.GUID, p.Port) }

func (p PortID) less(q PortID) bool {
	return p.GUID < q.GUID || p.GUID == q.GUID && p.Port < q.Port
}

// LinkID names a cable by its two ends, ordered so that either end's view
// gives the same ID.
type LinkID struct{ A, B PortID }

// MakeLinkID orders the ends.
func MakeLinkID(a, b PortID) LinkID {
	if b.less(a) {
		a, b = b, a
	}
	return LinkID{a, b}
}

func (l LinkID) String() string { return l.A.String() + "<->" + l.B.String() }

// End is one end of an observed link with what the discovery knew about
// its node. Names are kept by the Monitor, so a link that disappears is
// still reported as "link to leaf01 port 3".
type End struct {
	Port PortID
	// Node is the resolved name: the host name of an HCA ("node003"),
	// the switch name ("leaf01"), as fabric/ibnet derives them.
	Node string
	Kind ibnet.NodeKind
	// Host is true for a host HCA (not a SHARP aggregation node or a
	// CA inside a switch chassis).
	Host bool
	// Level is the switch level: 1 for leaves, 2 above them; 0 for CAs.
	Level int
	// LID addresses the port for perfquery/smpquery: the switch's LID
	// (port 0) for switch ports, the port's own LID for HCAs.
	LID uint16
}

// Switch reports whether the end is a switch port.
func (e End) Switch() bool { return e.Kind == ibnet.KindSwitch }

// Where renders "leaf01 port 3" for reasons and logs.
func (e End) Where() string {
	n := e.Node
	if n == "" {
		n = fmt.Sprintf("0x%016x", e.Port.GUID)
	}
	return fmt.Sprintf("%s port %d", n, e.Port.Port)
}

// LinkObs is one link as a discovery saw it.
type LinkObs struct {
	A, B End
	// Rate is what the link trained to (the slower end's report).
	Rate ibnet.Rate
}

// ID returns the link's ID.
func (o LinkObs) ID() LinkID { return MakeLinkID(o.A.Port, o.B.Port) }

// LinkKind tells host cables from switch-to-switch ones.
type LinkKind uint8

// Link kinds.
const (
	// LinkOther: anything else (CA to CA, router, unknown levels).
	LinkOther LinkKind = iota
	// LinkHost: a host HCA to a switch.
	LinkHost
	// LinkUplink: a leaf (level 1) to a switch above it.
	LinkUplink
	// LinkCore: between switches above the leaves.
	LinkCore
)

var linkKindNames = [...]string{"other", "host", "uplink", "core"}

func (k LinkKind) String() string {
	if int(k) < len(linkKindNames) {
		return linkKindNames[k]
	}
	return "unknown"
}

// kindOf classifies a link from its ends; it returns the ends reordered
// so that the host (for LinkHost) or the leaf (for LinkUplink) is first.
func kindOf(a, b End) (LinkKind, End, End) {
	switch {
	case a.Host && b.Switch():
		return LinkHost, a, b
	case b.Host && a.Switch():
		return LinkHost, b, a
	case a.Switch() && b.Switch():
		lo, hi := a, b
		if hi.Level < lo.Level {
			lo, hi = hi, lo
		}
		switch {
		case lo.Level == 1 && hi.Level > 1:
			return LinkUplink, lo, hi
		case lo.Level > 1:
			return LinkCore, lo, hi
		}
	}
	return LinkOther, a, b
}

// PortState is a port's logical link state (PortInfo:LinkState).
type PortState uint8

// Port states. StateUnknown means not checked in this sample.
const (
	StateUnknown PortState = iota
	StateDown
	StateInit
	StateArmed
	StateActive
)

var stateNames = [...]string{"unknown", "Down", "Init", "Armed", "Active"}

func (s PortState) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// parseState reads smpquery's LinkState value ("Active", "Initialize",
// "Init", "Armed", "Down").
func parseState(s string) PortState {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "down":
		return StateDown
	case "init", "initialize":
		return StateInit
	case "armed":
		return StateArmed
	case "active":
		return StateActive
	}
	return StateUnknown
}
