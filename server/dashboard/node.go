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
	// Reason says why the node is down or quarantined; Task is the agent
	// task it is working on (erase, firmware, image).
	Reason string     `json:"reason,omitempty"`
	Task   *TaskBrief `json:"task,omitempty"`

	// The fleet slots (see slots.go): null means "not reported". For a
	// non-admin they are always null and Restricted is true.
	Restricted bool          `json:"restricted"`
	Hardware   any           `json:"hardware"` // the agent's inventory, as it reported it
	Firmware   *FirmwareSlot `json:"firmware"`
	Image      *ImageSlot    `json:"image"`
	Hygiene    *HygieneSlot  `json:"hygiene"`
	// Provision is the provisioning state of a node with a BMC ("" when
	// none is registered); BMC its registration and provisioning record,
	// for admins only (provision.go).
	Provision string   `json:"provision,omitempty"`
	BMC       *BMCSlot `json:"bmc,omitempty"`
}

// TaskBrief is the agent task a node is working on.
type TaskBrief struct {
	Kind    string    `json:"kind"`
	Started time.Time `json:"started"`
}

// nodeDetail shows the node called name to v, or returns nil if there is
// no such node.
func nodeDetail(st *fsm.State, v Viewer, name string) *NodeDetail {
	n, ok := st.Nodes[name]
	if !ok {
		return nil
	}
	who := owner(st, n)
	d := &NodeDetail{
		Name: n.Name, Leaf: n.Leaf, State: n.DisplayState(), Lifecycle: string(n.State), StateSince: n.StateSince,
		Drained: n.Drained, DrainReason: n.DrainNote, DrainTime: n.DrainTime, Tenant: v.label(who),
	}
	d.Reason = n.Reason
	if n.Task != nil {
		d.Task = &TaskBrief{Kind: string(n.Task.Kind), Started: n.Task.Started}
	}
	d.Provision = string(n.ProvisionState())
	if v.Admin {
		d.DrainBy = n.DrainBy
		d.BMC = bmcSlot(n)
		fillSlots(st, n, d)
	} else {
		d.Restricted = true
	}
	if j, ok := st.Jobs[n.JobID]; ok && n.JobID != 0 {
		r := jobRow(v, j)
		d.Job = &r
	}
	return d
}
