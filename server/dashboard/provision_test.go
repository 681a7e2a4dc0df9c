package dashboard

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// TestNodeProvisioning: the node page shows a BMC node's provisioning
// state to everyone, its BMC record to admins only, and never the login.
func TestNodeProvisioning(t *testing.T) {
	src := newFake(topology.FatTree{Spines: 1, Leaves: 1, NodesPerLeaf: 2}, admin, alice)
	src.update(func(st *fsm.State) {
		n := st.Nodes["node001"]
		n.BMC = &model.NodeBMC{Endpoint: "https://10.0.0.17", SystemID: "1", Credentials: model.Sealed{KeyID: "k1", Box: []byte("SEALED-BOX")}}
		n.Prov = &model.Provision{State: model.ProvDeploying, Step: model.StepImage, Attempts: 1, Reason: "image task failed", Job: 4, Image: "rocky:9", Since: t0}
	})
	h := newHandler(src, Options{})
	w := get(t, h, "/api/v1/nodes/node001", "tok-admin")
	var d NodeDetail
	if err := json.Unmarshal(w.Body.Bytes(), &d); err != nil {
		t.Fatal(err)
	}
	if d.Provision != "deploying" || d.BMC == nil || d.BMC.Credentials != "set" || d.BMC.Step != "image" || d.BMC.Attempts != 1 || d.BMC.Budget != model.ProvRetryBudget {
		t.Fatalf("admin's view: %s", w.Body)
	}
	if strings.Contains(w.Body.String(), "SEALED") || strings.Contains(w.Body.String(), "U0VBTEVE") {
		t.Fatalf("the sealed login is on the page: %s", w.Body)
	}
	w = get(t, h, "/api/v1/nodes/node001", "tok-alice")
	if !strings.Contains(w.Body.String(), `"provision":"deploying"`) || strings.Contains(w.Body.String(), `"bmc"`) {
		t.Fatalf("a tenant's view: %s", w.Body)
	}
	if w = get(t, h, "/api/v1/nodes/node002", "tok-admin"); strings.Contains(w.Body.String(), `"provision"`) {
		t.Fatalf("a node without a BMC has a provisioning state: %s", w.Body)
	}
}
