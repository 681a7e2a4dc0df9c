package health

import (
	"strings"
	"time"

	"github.com/ibex-hpc/ibex/fabric/ibnet"
)

// LinkStatus is a link's health.
type LinkStatus uint8

// Link statuses, from best to worst.
const (
	LinkHealthy LinkStatus = iota
	// LinkDegraded: up, but erroring, flapping, or slower than it should be.
	LinkDegraded
	// LinkDown: missing from the discovery, or a port not Active.
	LinkDown
)

var linkStatusNames = [...]string{"healthy", "degraded", "down"}

func (s LinkStatus) String() string {
	if int(s) < len(linkStatusNames) {
		return linkStatusNames[s]
	}
	return "unknown"
}

// NodeStatus is a host's health as the scheduler needs it.
type NodeStatus uint8

// Node statuses, from best to worst.
const (
	NodeHealthy NodeStatus = iota
	// NodeDegraded: usable (at least one link up) but flagged.
	NodeDegraded
	// NodeUnhealthy: every HCA link is down; must leave scheduling.
	NodeUnhealthy
)

var nodeStatusNames = [...]string{"healthy", "degraded", "unhealthy"}

func (s NodeStatus) String() string {
	if int(s) < len(nodeStatusNames) {
		return nodeStatusNames[s]
	}
	return "unknown"
}

// LinkHealth is one cable in a report.
type LinkHealth struct {
	ID   LinkID
	Kind LinkKind
	// A is the host (LinkHost) or the leaf (LinkUplink); B the other end.
	A, B   End
	Status LinkStatus
	// Reasons say why the link is not healthy; empty when it is.
	Reasons []string
	// Rate is what the link runs at now; Expected the rate it is held
	// to (the better of Config.MinRate and its own best).
	Rate, Expected ibnet.Rate
	// StateA and StateB are the ports' last known logical states.
	StateA, StateB PortState
	// ErrorsA and ErrorsB are the ports' error rates over the window.
	ErrorsA, ErrorsB ErrorRates
	// Since is when the link last appeared or disappeared.
	Since time.Time
}

// NodeHealth is one host.
type NodeHealth struct {
	Name   string
	Status NodeStatus
	// Reasons, e.g. "link to leaf01 port 3 down (not in the last
	// discovery)"; empty when healthy.
	Reasons []string
	// Links and Up count the host's HCA links and those not down.
	Links, Up int
}

// Reason joins Reasons for a drain note.
func (n NodeHealth) Reason() string { return strings.Join(n.Reasons, "; ") }

// LeafHealth counts one leaf's uplinks, for placement: a leaf with fewer
// healthy uplinks has less bandwidth out, so multi-leaf jobs prefer
// others.
type LeafHealth struct {
	Name string
	GUID uint64
	// Uplinks is every known uplink; Healthy + Degraded + Down = Uplinks.
	Uplinks, Healthy, Degraded, Down int
}

// Report is the fabric's health after one sample.
type Report struct {
	Time time.Time
	// Stale is set when this sample's discovery failed or was not
	// believed; links keep their previous presence and StaleReason
	// says why. Counters were still applied.
	Stale       bool
	StaleReason string
	// Samples is how many samples the monitor has observed.
	Samples int
	// Links sorted by kind, then by A's name and port; Nodes and Leaves
	// by name.
	Links  []LinkHealth
	Nodes  []NodeHealth
	Leaves []LeafHealth

	nodeIdx, leafIdx map[string]int
}

// Node returns the named host's health.
func (r *Report) Node(name string) (NodeHealth, bool) {
	i, ok := r.nodeIdx[name]
	if !ok {
		return NodeHealth{}, false
	}
	return r.Nodes[i], true
}

// Leaf returns the named leaf's uplink counts.
func (r *Report) Leaf(name string) (LeafHealth, bool) {
	i, ok := r.leafIdx[name]
	if !ok {
		return LeafHealth{}, false
	}
	return r.Leaves[i], true
}

// Unhealthy lists the hosts that must leave scheduling.
func (r *Report) Unhealthy() []NodeHealth {
	var out []NodeHealth
	for _, n := range r.Nodes {
		if n.Status == NodeUnhealthy {
			out = append(out, n)
		}
	}
	return out
}

// NodeChange is a host whose status differs from the previous report.
type NodeChange struct {
	Name     string
	From, To NodeStatus
	// Reason is the new reason (empty when To is NodeHealthy).
	Reason string
}

// Changes lists hosts whose status changed since prev (nil prev: since
// nothing, i.e. every host not healthy), so the caller commits a drain
// or undrain only on transitions. A host missing from r is not
// reported: the monitor never forgets hosts by itself.
func (r *Report) Changes(prev *Report) []NodeChange {
	var out []NodeChange
	for _, n := range r.Nodes {
		from := NodeHealthy
		if prev != nil {
			if p, ok := prev.Node(n.Name); ok {
				from = p.Status
			}
		}
		if from != n.Status {
			out = append(out, NodeChange{Name: n.Name, From: from, To: n.Status, Reason: n.Reason()})
		}
	}
	return out
}
