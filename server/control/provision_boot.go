package control

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/nodeagent/agent"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// What a deployment's check-ins must show (issue #14.7): the node's agent
// reports what it booted in every Hello (agent.BootMode, BootReport), and
// that report, not only the fact of a check-in, moves a deployment on:
//
//   - after the power cycle into the ramdisk, the agent must say it runs
//     the ramdisk: a node that came back from its disk did not take the
//     one-time boot;
//   - after the boot to disk, it must say it runs the deployed image, with
//     the digest it computed from the disk equal to the catalog's.
//
// A check-in counts only after the power cycle was sent (ResetAt), so a
// node that boots quicker than raft commits the step is not missed.
// Agents that report no boot mode (ibex-agent without --boot-mode) are
// taken at their check-in, as before, and the evidence says so.

// bootCheck is a check-in's verdict.
type bootCheck struct {
	ok       bool   // the check-in shows what the step needs
	mismatch string // it conclusively shows something else
	evidence string
}

// bootReportOf is the boot report of n's last check-in, nil when its agent
// sent none (or the report cannot be read).
func bootReportOf(n *model.Node) *pb.BootReport {
	if n.Inventory == "" || len(n.Inventory) > maxInventoryBytes {
		return nil
	}
	inv := &pb.HardwareInventory{}
	if json.Unmarshal([]byte(n.Inventory), inv) != nil {
		return nil
	}
	return inv.GetBoot()
}

// ramdiskCheckIn judges a check-in after the power cycle into the ramdisk.
func ramdiskCheckIn(n *model.Node) bootCheck {
	at := n.InventoryAt.UTC().Format(time.RFC3339Nano)
	if !n.InventoryAt.After(n.Prov.BootedAfter()) {
		return bootCheck{}
	}
	r := bootReportOf(n)
	switch {
	case r == nil:
		return bootCheck{ok: true, evidence: "the ramdisk's agent checked in at " + at + " (it reports no boot mode)"}
	case r.GetMode() == string(agent.BootRamdisk):
		return bootCheck{ok: true, evidence: "the agent checked in at " + at + " booted into the deploy ramdisk"}
	}
	return bootCheck{mismatch: fmt.Sprintf("the node checked in at %s booted from %s, not its deploy ramdisk: the one-time boot did not take", at, describeBoot(r))}
}

// diskCheckIn judges a check-in after the boot to the deployed disk.
func diskCheckIn(n *model.Node, img model.Image, known bool) bootCheck {
	at := n.InventoryAt.UTC().Format(time.RFC3339Nano)
	pr := n.Prov
	if !n.InventoryAt.After(pr.BootedAfter()) || n.Image != pr.Image {
		return bootCheck{}
	}
	r := bootReportOf(n)
	switch {
	case r == nil:
		return bootCheck{ok: true, evidence: fmt.Sprintf("agent checked in at %s on image %s (digest verified by its image task; it reports no boot mode)", at, pr.Image)}
	case r.GetMode() != string(agent.BootDisk):
		return bootCheck{mismatch: fmt.Sprintf("the node checked in at %s booted from %s, not its disk", at, describeBoot(r))}
	case r.GetError() != "":
		return bootCheck{mismatch: fmt.Sprintf("the node booted its disk, but its agent reports at %s: %s", at, r.GetError())}
	case r.GetImage() != pr.Image:
		return bootCheck{mismatch: fmt.Sprintf("the node booted image %q from its disk, not %s", r.GetImage(), pr.Image)}
	case !known:
		return bootCheck{mismatch: fmt.Sprintf("image %s is no longer in the catalog: its digest cannot be checked", pr.Image)}
	case r.GetSha256() != img.SHA256:
		return bootCheck{mismatch: fmt.Sprintf("the node runs image %s with digest sha256:%s, the catalog's is sha256:%s", pr.Image, r.GetSha256(), img.SHA256)}
	}
	return bootCheck{ok: true, evidence: fmt.Sprintf("agent checked in at %s booted from disk, running image %s with digest sha256:%s (the catalog's, hashed from the disk at boot)", at, pr.Image, r.GetSha256())}
}

func describeBoot(r *pb.BootReport) string {
	if r.GetMode() == string(agent.BootDisk) && r.GetImage() != "" {
		return "its disk (image " + r.GetImage() + ")"
	}
	if r.GetMode() == string(agent.BootDisk) {
		return "its disk"
	}
	return fmt.Sprintf("%q", r.GetMode())
}

// catalogImage is the catalog's entry for ref.
func (p *provisioner) catalogImage(ref string) (img model.Image, ok bool) {
	p.cfg.Store.Read(func(st *fsm.State) { img, ok = st.Images[ref] })
	return img, ok
}

// bmcTook is the evidence of how long an operation's BMC calls took: the
// hardware's share of a step (bench/provision reads it).
func bmcTook(start time.Time) string {
	return "BMC calls took " + time.Since(start).Round(time.Microsecond).String()
}
