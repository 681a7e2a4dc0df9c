package fsm

import (
	"sort"
	"strings"
	"time"

	"github.com/ibex-hpc/ibex/fabric/placement"
	"github.com/ibex-hpc/ibex/model"
)

// Nodes of real machines. Without --simulate a node exists because its
// agent enrolled: an admin's join token for a name no node has yet is
// marked Register (the API does that on a real-machine cluster), and the
// enrollment that consumes it creates the node, to be cleaned before
// anyone gets it. Its place in the fabric comes from the port GUIDs its
// agent reports in every hello (NodeInventory.Ports), matched against the
// imported topology by fabric/placement, whose package comment is the
// rule. The matching runs here, in the state machine, so that the first
// node to claim a GUID keeps it on every server alike.

// placementActor is the DrainBy of a node drained because it was refused.
const placementActor = "ibexd (placement)"

// validNodeName accepts the names an agent accepts (its certificate CN):
// 1-63 of [A-Za-z0-9._-], starting with a letter or digit.
func validNodeName(n string) bool {
	if n == "" || len(n) > 63 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return false
		}
	}
	return true
}

// newRealNode is a node whose agent just enrolled: nothing about it is
// known or verified yet. It starts ready only so that enroll's usual path
// puts it into cleaning.
func newRealNode(name string, t time.Time) *model.Node {
	return &model.Node{Name: name, State: model.NodeReady, StateSince: t,
		Placement: &model.Placement{Note: "unplaced: no hardware report from its agent yet"}}
}

// fabricIndex is the imported topology's hosts by port GUID, built once
// per import (it is immutable, so clones share it); nil without a
// topology or with one imported before GUIDs were recorded.
func (s *State) fabricIndex() *placement.Fabric {
	if len(s.Topology.Hosts) == 0 {
		return nil
	}
	if s.topoIdx == nil {
		s.topoIdx = placement.NewFabric(s.Topology.Hosts)
	}
	return s.topoIdx
}

// claims are the ports and hosts every real node but except holds.
func (s *State) claims(except string) placement.Claims {
	c := placement.Claims{Ports: map[uint64]string{}, Hosts: map[string]string{}}
	for _, n := range s.Nodes {
		if n.Name == except || !n.Placement.Held() {
			continue
		}
		for _, g := range n.Placement.Ports {
			c.Ports[g] = n.Name
		}
		if n.Placement.Host != "" {
			c.Hosts[n.Placement.Host] = n.Name
		}
	}
	return c
}

// place decides n's place from its reported ports and records it: leaf,
// host, note; a refused node is drained (and undrained when a later
// report or import clears what refused it). The ledger gets an entry
// when the outcome changes.
func (s *State) place(n *model.Node, o Origin, t time.Time) {
	p := n.Placement
	var r placement.Result
	if len(s.Topology.Hosts) == 0 && s.Topology.Text != "" {
		// Imported by a server that recorded no GUIDs: say how to fix it
		// rather than claim there is no topology.
		r = placement.Place(n.Name, p.Ports, nil, s.claims(n.Name))
		if r.Outcome == placement.Unplaced && len(p.Ports) > 0 {
			r.Note = "unplaced: the imported topology has no port GUIDs recorded (imported by an older ibexd): run ibex fabric import again"
		}
	} else {
		r = placement.Place(n.Name, p.Ports, s.fabricIndex(), s.claims(n.Name))
	}
	s.record(n, o, r, t)
}

// refuse records a report that cannot be placed at all (unreadable GUIDs).
func (s *State) refuse(n *model.Node, o Origin, note string, t time.Time) {
	n.Placement.Ports = nil
	s.record(n, o, placement.Result{Outcome: placement.Refused, Note: "refused: " + note}, t)
}

func (s *State) record(n *model.Node, o Origin, r placement.Result, t time.Time) {
	p := n.Placement
	old := *p
	p.Host, p.Refused, p.Note = r.Host, r.Outcome == placement.Refused, r.Note
	n.Leaf = r.Leaf
	n.Infra = ""
	if r.Outcome == placement.Placed {
		n.Infra = s.infraWhy(r.Host)
	}
	switch {
	case p.Refused && (!n.Drained || n.DrainBy == placementActor):
		n.Drained, n.DrainNote, n.DrainBy, n.DrainTime = true, r.Note, placementActor, t
	case !p.Refused && n.Drained && n.DrainBy == placementActor:
		n.Drained, n.DrainNote, n.DrainBy, n.DrainTime = false, "", "", time.Time{}
	}
	if old.Host == p.Host && old.Refused == p.Refused && old.Note == p.Note {
		return
	}
	ev := r.Note
	if r.Outcome == placement.Placed {
		ev = "placed on host " + r.Host + " under leaf " + r.Leaf + " by port GUIDs " + guids(p.Ports)
		if r.Note != "" {
			ev += "; " + r.Note
		}
	}
	s.ledgerBy(n, o, model.LedgerEntry{Time: t, Step: "place", Actor: "ibexd", OK: r.Outcome != placement.Refused, Evidence: ev})
}

// placeAll matches every real node again after a new topology: those that
// hold their ports first (so a node that was refused cannot push out one
// that was not), each group in name order, so every server agrees.
func (s *State) placeAll(o Origin, t time.Time) {
	var nodes []*model.Node
	for _, n := range s.Nodes {
		if n.Placement != nil {
			nodes = append(nodes, n)
		}
	}
	sort.Slice(nodes, func(i, j int) bool {
		if a, b := nodes[i].Placement.Refused, nodes[j].Placement.Refused; a != b {
			return !a
		}
		return nodes[i].Name < nodes[j].Name
	})
	for _, n := range nodes {
		// A node refused for an unreadable report has no ports to match:
		// only its next report can change that.
		if n.Placement.Refused && len(n.Placement.Ports) == 0 {
			continue
		}
		s.place(n, o, t)
	}
}

func guids(gs []uint64) string {
	parts := make([]string, len(gs))
	for i, g := range gs {
		parts[i] = placement.FormatGUID(g)
	}
	return strings.Join(parts, ",")
}
