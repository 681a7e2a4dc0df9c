package dashboard

import (
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// BMCSlot is a node's BMC and provisioning record as an admin sees it on
// the node page: never the login, only that it is set.
type BMCSlot struct {
	Endpoint    string    `json:"endpoint"`
	SystemID    string    `json:"system_id,omitempty"`
	Credentials string    `json:"credentials"` // "set"
	CAPinned    bool      `json:"ca_pinned"`
	Step        string    `json:"step,omitempty"`
	Attempts    int       `json:"attempts,omitempty"`
	Budget      int       `json:"attempt_budget"`
	Since       time.Time `json:"since,omitzero"`
	Reason      string    `json:"reason,omitempty"`
	Job         uint64    `json:"job,omitempty"`
	Image       string    `json:"image,omitempty"`
}

func bmcSlot(n *model.Node) *BMCSlot {
	if n.BMC == nil {
		return nil
	}
	s := &BMCSlot{Endpoint: n.BMC.Endpoint, SystemID: n.BMC.SystemID, Credentials: "set", CAPinned: n.BMC.CAPEM != "", Budget: model.ProvRetryBudget}
	if p := n.Prov; p != nil {
		s.Step, s.Attempts, s.Since, s.Reason, s.Job, s.Image = string(p.Step), p.Attempts, p.Since, p.Reason, p.Job, p.Image
	}
	return s
}
