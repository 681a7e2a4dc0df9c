package control

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// TestDeployChecksTheBootReport: a deployment moves on by what the node's
// agent says it booted. A node that comes back from its disk after the
// power cycle into the ramdisk did not take the one-time boot (retry from
// the power cycle); one that boots a disk whose digest is not the
// catalog's is not deployed (retry from the boot to disk); the right
// report completes the deployment with the digest in the ledger.
func TestDeployChecksTheBootReport(t *testing.T) {
	h := newProvHarness(t, 1, 2, nil)
	h.available("node001", true)
	h.cfg.DefaultImage = testImage
	h.newLeader()
	id := h.submit(1)
	h.allocate()
	ctx := context.Background()
	h.loops.jobs.reconcile(ctx)
	h.loops.jobs.steps.wait()
	var sha string
	h.store.Read(func(st *fsm.State) { sha = st.Images[testImage].SHA256 })
	prov := func() model.Provision { return *h.node("node001").Prov }
	hello := func(r *pb.BootReport) {
		t.Helper()
		h.store.Advance(time.Millisecond)
		b, _ := json.Marshal(&pb.HardwareInventory{PowerState: "On",
			BmcFirmware: []*pb.FirmwareInfo{{Id: "BMC", Name: "BMC", Version: "1.45", Known: true}}, Boot: r})
		h.apply(&fsm.NodeInventory{Node: "node001", Inventory: string(b), Time: h.store.Now()})
	}
	until := func(step model.DeployStep) {
		t.Helper()
		for i := 0; prov().Step != step; i++ {
			if i > 20 {
				t.Fatalf("never at step %s: %+v", step, prov())
			}
			h.store.Advance(time.Second)
			h.provPass()
			h.agentsWork()
		}
	}
	until(model.StepRamdisk)
	if prov().ResetAt.IsZero() {
		t.Fatalf("the ramdisk step does not record when the power cycle was sent: %+v", prov())
	}
	hello(&pb.BootReport{Mode: "disk", Image: "old:1", Sha256: strings.Repeat("0", 64)})
	h.provPass()
	if p := prov(); p.Step != model.StepPowerCycle || p.Attempts != 1 || !strings.Contains(p.Reason, "one-time boot did not take") {
		t.Fatalf("after a check-in from the old disk: %+v", p)
	}
	h.store.Advance(2 * time.Minute) // the retry's rest
	until(model.StepRamdisk)
	hello(&pb.BootReport{Mode: "ramdisk"})
	until(model.StepCheckIn)
	hello(&pb.BootReport{Mode: "disk", Image: testImage, Sha256: strings.Repeat("0", 64)})
	h.provPass()
	if p := prov(); p.Step != model.StepBootDisk || p.Attempts != 2 || !strings.Contains(p.Reason, "the catalog's is sha256:"+sha) {
		var ev []string
		h.store.Read(func(st *fsm.State) {
			for _, e := range st.Ledger["node001"] {
				ev = append(ev, e.Step+": "+e.Evidence)
			}
		})
		t.Fatalf("after a check-in with the wrong digest: %+v\n%s", p, strings.Join(ev, "\n"))
	}
	h.store.Advance(2 * time.Minute)
	until(model.StepCheckIn)
	hello(&pb.BootReport{Mode: "disk", Image: testImage, Sha256: sha})
	h.provPass()
	if n := h.node("node001"); n.ProvisionState() != model.ProvActive {
		t.Fatalf("not active after the right check-in: %s %+v", n.ProvisionState(), *n.Prov)
	}
	if ev := h.lastLedger("node001").Evidence; !strings.Contains(ev, "running image "+testImage+" with digest sha256:"+sha) {
		t.Fatalf("deployed without the digest in evidence: %s", ev)
	}
	h.loops.jobs.reconcile(ctx)
	h.loops.jobs.steps.wait()
	if j := h.job(id); j.State != model.JobRunning {
		t.Fatalf("job %s", j.State)
	}
}
