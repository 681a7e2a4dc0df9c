package ibnet

import (
	"slices"
	"strings"

	"github.com/ibex-hpc/ibex/hostlist"
)

// analyze derives roles, names, hosts and levels; Parse calls it once the
// graph is complete because every step looks at neighbours.
func analyze(f *Fabric, m NameMap) {
	for _, n := range f.Nodes {
		n.Role = classify(n, m)
	}
	nameNodes(f, m)
	buildHosts(f)
	computeLevels(f)
}

// classify decides what a node is for. Aggregation nodes must not count as
// hosts: Quantum switches each carry one, cabled to an extra switch port,
// and counting them would make every switch a leaf.
func classify(n *Node, m NameMap) Role {
	switch n.Kind {
	case KindSwitch:
		return RoleNone
	case KindRouter:
		return RoleRouter
	}
	if v, ok := m.lookup(n); ok && v == Excluded {
		return RoleExcluded
	}
	if isAggregationNode(n) {
		return RoleAggregation
	}
	// A CA sharing the system image GUID of the switch it is cabled to
	// sits inside that switch (SHARP, gateways, management HCAs).
	if n.SystemGUID != 0 {
		for _, p := range n.Ports {
			if r := p.Remote(); r != nil && r.Node.Kind == KindSwitch &&
				(r.Node.GUID == n.SystemGUID || r.Node.SystemGUID == n.SystemGUID) {
				return RoleEmbedded
			}
		}
	}
	return RoleHost
}

// isAggregationNode recognises SHARP aggregation nodes by their fixed
// description ("Mellanox Technologies Aggregation Node") or by the
// Mellanox device ID they report (0xcf09 in the lab dump).
func isAggregationNode(n *Node) bool {
	if strings.Contains(strings.ToLower(n.Desc), "aggregation node") {
		return true
	}
	return n.VendorID == 0x2c9 && n.DeviceID == 0xcf09
}

// buildHosts groups host CAs by name. A host appears once however many
// HCAs it has, with one HCA entry per cabled port, so rail-optimised nodes
// keep all their leaves.
func buildHosts(f *Fabric) {
	f.hostByName = make(map[string]*Host)
	f.hosts = nil
	for _, n := range f.Nodes {
		if n.Kind != KindCA || n.Role != RoleHost {
			continue
		}
		h := f.hostByName[n.Name]
		if h == nil {
			h = &Host{Name: n.Name}
			f.hostByName[n.Name] = h
			f.hosts = append(f.hosts, h)
		}
		cabled := false
		for _, p := range n.Ports {
			r := p.Remote()
			if r == nil {
				continue
			}
			cabled = true
			a := HCA{CA: n, Port: p.Num, Rate: p.Link.Rate}
			if r.Node.Kind == KindSwitch {
				a.Leaf, a.LeafPort = r.Node, r.Num
			}
			h.HCAs = append(h.HCAs, a)
		}
		if !cabled {
			h.HCAs = append(h.HCAs, HCA{CA: n})
		}
	}
	slices.SortFunc(f.hosts, func(a, b *Host) int { return hostlist.Compare(a.Name, b.Name) })
	f.leafHosts = make(map[*Node][]*Host)
	for _, h := range f.hosts {
		slices.SortStableFunc(h.HCAs, func(a, b HCA) int {
			if c := hostlist.Compare(a.CA.Desc, b.CA.Desc); c != 0 {
				return c
			}
			if c := strings.Compare(a.CA.ID, b.CA.ID); c != 0 {
				return c
			}
			return a.Port - b.Port
		})
		for _, leaf := range f.HostLeaves(h.Name) {
			f.leafHosts[leaf] = append(f.leafHosts[leaf], h)
		}
	}
}
