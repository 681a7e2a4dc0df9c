package ibsim

import (
	"bytes"
	"fmt"

	"github.com/ibex-hpc/ibex/fabric/topology"
)

// Topology is a two-level fat tree: every leaf has HostsPerLeaf
// single-port HCAs and Uplinks parallel links to every spine. Leaf 1
// also carries the management HCA "sm01" on its last port, where
// opensm and all diagnostic clients attach, so no tenant host doubles
// as the SM node (the SM's port is always a full member of everything,
// which would spoil tenant isolation checks).
type Topology struct {
	Spines, Leaves, HostsPerLeaf int
	// Uplinks per (leaf, spine) pair; 0 means 1.
	Uplinks int
}

// Host is one simulated HCA.
type Host struct {
	// Name is the host name ("node001") and ibsim node id; the node
	// description is Name+" HCA-1", like a real mlx5 HCA.
	Name     string
	NodeGUID uint64
	// PortGUID is NodeGUID+1 (ibsim numbers CA port GUIDs this way).
	PortGUID uint64
	// Leaf (1-based) and LeafPort locate the host's cable.
	Leaf, LeafPort int
}

// Deterministic GUID bases: tests and docs can name GUIDs without
// asking the fabric. Host i (1-based) has node GUID caBase+i*0x10; the
// SM node is host 0.
const (
	caBase    = 0x0002c90300000000
	leafBase  = 0x0002c90200020000
	spineBase = 0x0002c90200010000
	smName    = "sm01"
)

// HostPortGUID returns the port GUID of host i (1-based) without
// building a topology.
func HostPortGUID(i int) uint64 { return caBase + uint64(i)*0x10 + 1 }

// LeafGUID and SpineGUID return the node GUID of leaf l and spine s
// (1-based) without building a topology.
func LeafGUID(l int) uint64  { return leafBase + uint64(l) }
func SpineGUID(s int) uint64 { return spineBase + uint64(s) }

func (t Topology) uplinks() int {
	if t.Uplinks <= 0 {
		return 1
	}
	return t.Uplinks
}

// names is the fat tree of the same shape, whose switch names the net
// file gives the switches (leaf01 or leaf001, as the scheduler's tree of
// that fat tree names them: topology.FatTree.LeafName).
func (t Topology) names() topology.FatTree {
	return topology.FatTree{Spines: t.Spines, Leaves: t.Leaves, NodesPerLeaf: t.HostsPerLeaf}
}

// NumHosts is Leaves*HostsPerLeaf (the SM node not counted).
func (t Topology) NumHosts() int { return t.Leaves * t.HostsPerLeaf }

func (t Topology) leafPorts() int  { return t.HostsPerLeaf + t.Spines*t.uplinks() + 1 }
func (t Topology) spinePorts() int { return t.Leaves * t.uplinks() }

// Validate rejects shapes ibsim cannot hold (255 ports per node).
func (t Topology) Validate() error {
	switch {
	case t.Leaves < 1 || t.HostsPerLeaf < 0 || t.Spines < 0:
		return fmt.Errorf("ibsim: topology %+v: need at least one leaf", t)
	case t.Spines == 0 && t.Leaves > 1:
		return fmt.Errorf("ibsim: topology %+v: several leaves need spines", t)
	case t.leafPorts() > 255 || t.spinePorts() > 255:
		return fmt.Errorf("ibsim: topology %+v: ibsim allows 255 ports per node", t)
	}
	return nil
}

// hostName pads to at least three digits ("node001") and more for
// larger fabrics so names sort.
func (t Topology) hostName(i int) string {
	w := len(fmt.Sprint(t.NumHosts()))
	if w < 3 {
		w = 3
	}
	return fmt.Sprintf("node%0*d", w, i)
}

// Hosts lists the tenant hosts in order node001, node002, ...
func (t Topology) Hosts() []Host {
	hs := make([]Host, 0, t.NumHosts())
	for l := 1; l <= t.Leaves; l++ {
		for p := 1; p <= t.HostsPerLeaf; p++ {
			i := (l-1)*t.HostsPerLeaf + p
			g := uint64(caBase + i*0x10)
			hs = append(hs, Host{Name: t.hostName(i), NodeGUID: g, PortGUID: g + 1, Leaf: l, LeafPort: p})
		}
	}
	return hs
}

// SMHost is the management HCA the SM and diagnostic tools attach to.
func (t Topology) SMHost() Host {
	return Host{Name: smName, NodeGUID: caBase, PortGUID: caBase + 1, Leaf: 1, LeafPort: t.leafPorts()}
}

// NetFile renders the ibsim net file (a subset of ibnetdiscover
// output). The "# lid 0 4xEDR" trailers let ibsim set link width and
// speed and silence a per-port parse warning.
func (t Topology) NetFile() []byte {
	var b bytes.Buffer
	u := t.uplinks()
	const link = "\t# lid 0 4xEDR"
	fmt.Fprintf(&b, "# ibex fat tree: %d spines x %d leaves x %d hosts/leaf, %d uplink(s)/pair\n\n",
		t.Spines, t.Leaves, t.HostsPerLeaf, u)
	ca := func(h Host) {
		fmt.Fprintf(&b, "caguid=0x%016x\nHca\t1 %q\t# \"%s HCA-1\"\n[1]\t\"L%02d\"[%d]%s\n\n",
			h.NodeGUID, h.Name, h.Name, h.Leaf, h.LeafPort, link)
	}
	sm := t.SMHost()
	ca(sm) // first node: ibsim's default attach point
	hosts := t.Hosts()
	for _, h := range hosts {
		ca(h)
	}
	for l := 1; l <= t.Leaves; l++ {
		fmt.Fprintf(&b, "switchguid=0x%016x\nSwitch\t%d \"L%02d\"\t# %q\n", leafBase+l, t.leafPorts(), l, t.names().LeafName(l))
		for p := 1; p <= t.HostsPerLeaf; p++ {
			fmt.Fprintf(&b, "[%d]\t%q[1]%s\n", p, hosts[(l-1)*t.HostsPerLeaf+p-1].Name, link)
		}
		for s := 1; s <= t.Spines; s++ {
			for k := 1; k <= u; k++ {
				fmt.Fprintf(&b, "[%d]\t\"S%02d\"[%d]%s\n", t.HostsPerLeaf+(s-1)*u+k, s, (l-1)*u+k, link)
			}
		}
		if l == 1 {
			fmt.Fprintf(&b, "[%d]\t%q[1]%s\n", sm.LeafPort, sm.Name, link)
		}
		b.WriteString("\n")
	}
	for s := 1; s <= t.Spines; s++ {
		fmt.Fprintf(&b, "switchguid=0x%016x\nSwitch\t%d \"S%02d\"\t# %q\n", spineBase+s, t.spinePorts(), s, t.names().SpineName(s))
		for l := 1; l <= t.Leaves; l++ {
			for k := 1; k <= u; k++ {
				fmt.Fprintf(&b, "[%d]\t\"L%02d\"[%d]%s\n", (l-1)*u+k, l, t.HostsPerLeaf+(s-1)*u+k, link)
			}
		}
		b.WriteString("\n")
	}
	return b.Bytes()
}

// simLimits returns ibsim -N/-S/-P flags when the fabric exceeds its
// compiled-in tables (2048 nodes, 256 switches, 13312 ports; -P is not
// derived from -N/-S).
func (t Topology) simLimits() []string {
	nodes := t.NumHosts() + 1 + t.Leaves + t.Spines
	sw := t.Leaves + t.Spines
	ports := t.Leaves*(t.leafPorts()+1) + t.Spines*(t.spinePorts()+1) + t.NumHosts() + 1
	var a []string
	if nodes > 2048 {
		a = append(a, "-N", fmt.Sprint(nodes))
	}
	if sw > 256 {
		a = append(a, "-S", fmt.Sprint(sw))
	}
	if ports > 13312 {
		a = append(a, "-P", fmt.Sprint(ports))
	}
	return a
}

// drPath is the directed route from the SM node's HCA to host h: out
// of the HCA, then (for other leaves) up leaf 1's first uplink to
// spine 1 and down to h's leaf. Element 0 is unused, as in the SMP.
func (t Topology) drPath(h Host) []byte {
	if h.Leaf == 1 {
		return []byte{0, 1, byte(h.LeafPort)}
	}
	u := t.uplinks()
	return []byte{0, 1, byte(t.HostsPerLeaf + 1), byte((h.Leaf-1)*u + 1), byte(h.LeafPort)}
}
