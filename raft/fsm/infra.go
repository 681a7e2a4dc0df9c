package fsm

import (
	"slices"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// Which hosts of an imported fabric are nodes. The server classifies the
// dump's hosts when it imports it (fabric/ibnet.Classify: compute nodes
// have the fabric's common HCA layout; login, storage and management
// hosts are infrastructure) and the import carries the result, so every
// server applies the same. Infrastructure nodes are never scheduled
// unless an admin labels them (model.Node.Schedulable), and then only for
// jobs that ask for their labels.
//
// On a simulated cluster an import replaces the node set: a node that is
// not in the new fabric is drained with the reason (a busy one finishes
// its job first: never dropped while busy, never silently kept), and one
// an earlier import drained that is back is returned. Real machines'
// nodes come from their agents and are placed, not replaced.

// InfraHost is a host an import classified as infrastructure.
type InfraHost struct {
	Name string `json:"name"`
	Why  string `json:"why"`
}

// importActor is the DrainBy of a node drained because an import no
// longer has it.
const importActor = "ibexd (fabric import)"

// infraWhy says why the imported topology's host is infrastructure, ""
// for a compute host.
func (s *State) infraWhy(host string) string {
	if len(s.Topology.Infra) == 0 {
		return ""
	}
	if s.topoInfra == nil {
		s.topoInfra = make(map[string]string, len(s.Topology.Infra))
		for _, h := range s.Topology.Infra {
			s.topoInfra[h.Name] = h.Why
		}
	}
	return s.topoInfra[host]
}

// classifyNodes applies an import to the nodes it names (simulated
// clusters): their infrastructure mark, and with Replace the drain of the
// nodes it no longer has.
func (s *State) classifyNodes(c *ImportTopology) {
	in := make(map[string]bool, len(c.Hosts))
	for _, h := range c.Hosts {
		in[h.Name] = true
		if n := s.Nodes[h.Name]; n != nil {
			n.Infra = s.infraWhy(h.Name)
		}
	}
	if !c.Replace {
		return
	}
	names := make([]string, 0, len(s.Nodes))
	for name := range s.Nodes {
		names = append(names, name)
	}
	slices.Sort(names)
	when := c.Time.UTC().Format(time.RFC3339)
	for _, name := range names {
		n := s.Nodes[name]
		if n.Placement != nil {
			continue // a real machine: placement decides
		}
		switch {
		case !in[name] && !n.Drained:
			note := "not in the fabric imported at " + when
			n.Drained, n.DrainNote, n.DrainBy, n.DrainTime = true, note, importActor, c.Time
			s.ledgerBy(n, c.Origin, model.LedgerEntry{Time: c.Time, Step: "drain", Actor: importActor, OK: true, Evidence: note, JobID: n.JobID})
		case in[name] && n.Drained && n.DrainBy == importActor:
			s.ledgerBy(n, c.Origin, model.LedgerEntry{Time: c.Time, Step: "undrain", Actor: importActor, OK: true, Evidence: "back in the fabric imported at " + when})
			n.Drained, n.DrainNote, n.DrainBy, n.DrainTime = false, "", "", time.Time{}
		}
	}
}

// ClusterSize is the number of nodes a job can ever get: every node but
// those an import no longer has and unlabelled infrastructure. A job
// asking for more is refused at submission instead of pending forever.
func (s *State) ClusterSize() int {
	size := 0
	for _, n := range s.Nodes {
		if schedulable(n) {
			size++
		}
	}
	return size
}

// clusterHas reports whether ClusterSize() >= want, counting only until it
// gets there: every submission asks, twice (API and FSM), and counting all
// of a 100,000-node cluster for a one-node job cost ~6 ms each time, which
// capped submissions at ~170/s on such a fabric.
func (s *State) clusterHas(want int) bool {
	have := 0
	for _, n := range s.Nodes {
		if have >= want {
			return true
		}
		if schedulable(n) {
			have++
		}
	}
	return have >= want
}

// schedulable: a node ClusterSize counts.
func schedulable(n *model.Node) bool {
	return !(n.Drained && n.DrainBy == importActor) && (n.Infra == "" || len(n.Features) > 0)
}

// ImportChanges says what an import of hosts would do to the nodes of a
// simulated cluster, for a dry run: nodes added, drained (not in the
// fabric any more; "draining" while busy), returned (back in it), and
// classified infrastructure. It is what classifyNodes will do.
func (s *State) ImportChanges(hosts []NodeSpec, infra []InfraHost) map[string][]string {
	out := map[string][]string{}
	in := make(map[string]bool, len(hosts))
	isInfra := make(map[string]bool, len(infra))
	for _, h := range infra {
		isInfra[h.Name] = true
	}
	for _, h := range hosts {
		in[h.Name] = true
		n := s.Nodes[h.Name]
		switch {
		case n == nil:
			out["added"] = append(out["added"], h.Name)
		case n.Drained && n.DrainBy == importActor:
			out["returned"] = append(out["returned"], h.Name)
		}
		if isInfra[h.Name] && (n == nil || n.Infra == "") {
			out["infrastructure"] = append(out["infrastructure"], h.Name)
		}
		if !isInfra[h.Name] && n != nil && n.Infra != "" {
			out["compute"] = append(out["compute"], h.Name)
		}
	}
	for name, n := range s.Nodes {
		if n.Placement != nil || in[name] || n.Drained {
			continue
		}
		if n.State == model.NodeAllocated {
			out["draining"] = append(out["draining"], name)
		} else {
			out["drained"] = append(out["drained"], name)
		}
	}
	for _, v := range out {
		slices.Sort(v)
	}
	return out
}
