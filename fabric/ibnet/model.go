package ibnet

import "fmt"

// NodeKind tells switches from channel adapters and routers.
type NodeKind uint8

// Node kinds. KindUnknown only exists while parsing, for an ibsim-style
// node that has been referenced but not yet declared.
const (
	KindUnknown NodeKind = iota
	KindSwitch
	KindCA
	KindRouter
)

func (k NodeKind) String() string {
	switch k {
	case KindSwitch:
		return "switch"
	case KindCA:
		return "CA"
	case KindRouter:
		return "router"
	}
	return "unknown"
}

// Role says what a non-switch node is for. Only RoleHost nodes become hosts;
// the others are attached to switches but must not make them leaves.
type Role uint8

// Roles of CAs and routers.
const (
	RoleNone        Role = iota // switches
	RoleHost                    // an HCA in a compute, login or storage host
	RoleAggregation             // SHARP aggregation node inside a switch
	RoleEmbedded                // other CA inside a switch chassis (same system image GUID)
	RoleRouter                  // an IB router
	RoleExcluded                // excluded by the name map ("-" as host name)
)

var roleNames = [...]string{"none", "host", "aggregation-node", "switch-embedded", "router", "excluded"}

func (r Role) String() string {
	if int(r) < len(roleNames) {
		return roleNames[r]
	}
	return "unknown"
}

// Node is a switch, CA or router of the fabric.
type Node struct {
	// ID is the node's name in the dump: "S-<guid>"/"H-<guid>"/"R-<guid>"
	// for ibnetdiscover, any quoted string for ibsim files.
	ID         string
	Kind       NodeKind
	GUID       uint64 // node GUID; 0 when the dump has none (ibsim)
	SystemGUID uint64 // sysimgguid, shared by all nodes in one chassis or card
	VendorID   uint32
	DeviceID   uint32
	Desc       string // node description, e.g. "node042 HCA-1"
	// LID is the switch's port-0 LID, or a CA's base LID on its lowest
	// numbered port that has one.
	LID      uint16
	NumPorts int
	// Ports is indexed by port number; nil entries are ports the dump does
	// not mention, i.e. down or unconnected ones.
	Ports []*Port
	// Name is the resolved name: from the NameMap if it has the node,
	// else the host part of a host CA's description ("node042 HCA-1"),
	// else a switch description that is a usable name ("MF0;leaf01:
	// MQM8700/U1" gives "leaf01"), else the ID.
	Name  string
	Level int  // switches: 1 = leaf, 2 = one hop above, ...; 0 = not above any leaf
	Role  Role // non-switch nodes
	Line  int  // line of the node's declaration (or first mention)

	declared bool
}

func (n *Node) String() string {
	if n.Name != "" && n.Name != n.ID {
		return fmt.Sprintf("%s %s (%s)", n.Kind, n.ID, n.Name)
	}
	return fmt.Sprintf("%s %s", n.Kind, n.ID)
}

// Port returns port num, or nil if the dump does not mention it.
func (n *Node) Port(num int) *Port {
	if num < 0 || num >= len(n.Ports) {
		return nil
	}
	return n.Ports[num]
}

// Port is one physical port. A port without Link is down or unconnected.
type Port struct {
	Node *Node
	Num  int
	GUID uint64 // port GUID (CAs; switches print none for their ports)
	LID  uint16 // CA/router port LID; switch ports share Node.LID
	// LMC: a CA port answers to 2^LMC LIDs from LID ("lid 3 lmc 1").
	LMC uint8
	// Rate is what this end reports; Link.Rate is the pair's combination.
	Rate Rate
	Link *Link
	Line int // first line that mentions the port

	down int // line that lists the port as down (`-p` dumps), 0 otherwise
}

func (p *Port) String() string { return fmt.Sprintf("%s[%d]", p.Node.ID, p.Num) }

// Remote returns the port at the other end of the cable, or nil. It is
// safe on a nil port, so callers can range over Node.Ports directly.
func (p *Port) Remote() *Port {
	if p == nil || p.Link == nil {
		return nil
	}
	if p.Link.A == p {
		return p.Link.B
	}
	return p.Link.A
}

// Link is one cable. Both ends usually declare it; the rate is the slower
// of the two reports because that is what the link actually trained to.
type Link struct {
	A, B *Port
	Rate Rate
	// Line is where the link was first declared.
	Line int

	declA, declB int // line of each end's declaration, 0 if only the other end declared it
}

func (l *Link) String() string { return fmt.Sprintf("%s <-> %s %s", l.A, l.B, l.Rate) }

// Host is a machine with one or more host HCAs, grouped by host name.
type Host struct {
	Name string
	// HCAs lists every cabled port of every HCA of the host. A
	// rail-optimised GPU node has eight entries on eight different leaves.
	HCAs []HCA
}

// HCA is one host port and the leaf switch port it is cabled to.
type HCA struct {
	CA       *Node
	Port     int   // CA port number; 0 if the CA has no cabled port
	Leaf     *Node // nil when the port is cabled to another CA or not at all
	LeafPort int
	Rate     Rate
}

// Fabric is a parsed dump with its derived hosts and switch levels.
type Fabric struct {
	// Nodes in order of appearance in the dump.
	Nodes []*Node
	Links []*Link
	// Warnings are oddities that did not prevent a consistent model:
	// diagnostics mixed into the dump, ends reporting different rates, a
	// link only one declared end knows about.
	Warnings []string

	byID       map[string]*Node
	byGUID     map[uint64]*Node
	hosts      []*Host
	hostByName map[string]*Host
	leafHosts  map[*Node][]*Host
	levels     [][]*Node
}

// Node returns the node with the given dump ID ("S-0008f10500200b50").
func (f *Fabric) Node(id string) *Node { return f.byID[id] }

// NodeByGUID returns the node with the given node GUID (for `-p` dumps, the
// port GUID of a CA).
func (f *Fabric) NodeByGUID(guid uint64) *Node { return f.byGUID[guid] }

// Switches lists the switches in dump order.
func (f *Fabric) Switches() []*Node { return f.kind(KindSwitch) }

// CAs lists all channel adapters, hosts or not, in dump order.
func (f *Fabric) CAs() []*Node { return f.kind(KindCA) }

func (f *Fabric) kind(k NodeKind) []*Node {
	var out []*Node
	for _, n := range f.Nodes {
		if n.Kind == k {
			out = append(out, n)
		}
	}
	return out
}

// Hosts lists the hosts sorted by name (numbers compared as numbers).
func (f *Fabric) Hosts() []*Host { return f.hosts }

// Host returns the named host, or nil.
func (f *Fabric) Host(name string) *Host { return f.hostByName[name] }

// Leaves lists the level-1 switches sorted by name.
func (f *Fabric) Leaves() []*Node {
	if len(f.levels) == 0 {
		return nil
	}
	return f.levels[0]
}

// Levels returns the switches by level: Levels()[0] are the leaves,
// Levels()[1] the switches one hop above them, and so on. Switches that no
// leaf can reach (level 0) are left out. Each level is sorted by name.
func (f *Fabric) Levels() [][]*Node { return f.levels }

// LeafHosts lists the hosts with at least one HCA on the given leaf.
func (f *Fabric) LeafHosts(leaf *Node) []*Host { return f.leafHosts[leaf] }

// HostLeaves lists the distinct leaf switches the named host's HCAs are
// cabled to, in HCA order; nil for an unknown host.
func (f *Fabric) HostLeaves(host string) []*Node {
	h := f.hostByName[host]
	if h == nil {
		return nil
	}
	var out []*Node
	seen := make(map[*Node]bool, len(h.HCAs))
	for _, a := range h.HCAs {
		if a.Leaf != nil && !seen[a.Leaf] {
			seen[a.Leaf] = true
			out = append(out, a.Leaf)
		}
	}
	return out
}
