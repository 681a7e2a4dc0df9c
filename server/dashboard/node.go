package dashboard

import (
	"time"

	"github.com/ibex-hpc/ibex/raft/fsm"
)

// NodeDetail is the body of GET /api/v1/nodes/{name}.
type NodeDetail struct {
	Name string `json:"name"`
	Leaf string `json:"leaf"`
	// State folds the drain flag in (see model.Node.DisplayState);
	// Lifecycle is the underlying state.
	State      string    `json:"state"`
	Lifecycle  string    `json:"lifecycle"`
	StateSince time.Time `json:"state_since,omitzero"`
	Drained    bool      `json:"drained"`
	// DrainReason is shown to everyone, as `ibex nodes` does: it explains
	// why a node is unavailable. DrainBy names a tenant, so only admins
	// get it.
	DrainReason string    `json:"drain_reason,omitempty"`
	DrainBy     string    `json:"drain_by,omitempty"`
	DrainTime   time.Time `json:"drain_time,omitzero"`
	Tenant      string    `json:"tenant,omitempty"`
	Job         *JobRow   `json:"job"`

	// The slots below are filled by later work (node inventory, firmware
	// policy, imaging, the hygiene ledger). They are in the API now so the
	// page has their place: null means "not reported".
	Hardware any `json:"hardware"`
	Firmware any `json:"firmware"`
	Image    any `json:"image"`
	Hygiene  any `json:"hygiene"`
}

// nodeDetail shows the node called name to v, or returns nil if there is
// no such node.
func nodeDetail(st *fsm.State, v viewer, name string) *NodeDetail {
	n, ok := st.Nodes[name]
	if !ok {
		return nil
	}
	who := owner(st, n)
	d := &NodeDetail{
		Name: n.Name, Leaf: n.Leaf, State: n.DisplayState(), Lifecycle: string(n.State), StateSince: n.StateSince,
		Drained: n.Drained, DrainReason: n.DrainNote, DrainTime: n.DrainTime, Tenant: v.label(who),
	}
	if v.Admin {
		d.DrainBy = n.DrainBy
	}
	if j, ok := st.Jobs[n.JobID]; ok && n.JobID != 0 {
		r := jobRow(v, j)
		d.Job = &r
	}
	return d
}
