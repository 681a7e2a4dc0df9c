package control

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/nodeagent/bmc"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// verdict is an inspection's outcome: evidence always; mismatch when the
// BMC and the agent disagree (the registered BMC is not this node's, or
// its firmware changed under the agent), wait when evidence is missing.
type verdict struct {
	evidence, mismatch, wait string
}

// maxInventoryBytes bounds the agent report an inspection parses.
const maxInventoryBytes = 1 << 20

// crossCheck compares what the node's BMC reports (power, firmware
// inventory) with the node's agent's own report (n.Inventory, what the
// agent read in-band and from its side of the BMC) and its connection:
//
//   - an agent that is connected runs on a powered host, so a BMC that
//     says Off describes another machine;
//   - the power state the agent reported must agree with the BMC's;
//   - firmware both report with a known version must have the same
//     version, and an agent listing firmware must share some with the BMC.
//
// A node whose agent enrolled but has not reported yet waits for the
// report; a node without an agent is inspected on the BMC's word alone,
// and the evidence says so.
func crossCheck(n *model.Node, power bmc.PowerState, fw []bmc.Firmware, connected bool) (v verdict) {
	var ev []string
	ev = append(ev, fmt.Sprintf("BMC: power %s, %d firmware entries%s", power, len(fw), fwList(fw)))
	defer func() { v.evidence = strings.Join(ev, "; ") }()
	if connected && power == bmc.StateOff {
		v.mismatch = fmt.Sprintf("the node's agent is connected, but the BMC at %s reports the host Off: it is not this node's BMC (or --system names another system)", n.BMC.Endpoint)
		return v
	}
	if n.Agent == nil || n.Agent.Revoked {
		ev = append(ev, "no agent enrolled: the BMC's report is not cross-checked")
		return v
	}
	if n.Inventory == "" {
		v.wait = "the node's agent has not reported its hardware"
		return v
	}
	inv := &pb.HardwareInventory{}
	if len(n.Inventory) > maxInventoryBytes || json.Unmarshal([]byte(n.Inventory), inv) != nil {
		v.mismatch = "the agent's hardware report cannot be read"
		return v
	}
	ev = append(ev, fmt.Sprintf("agent report at %s: power %q, %d BMC firmware entries", n.InventoryAt.UTC().Format("2006-01-02T15:04:05Z"),
		inv.GetPowerState(), len(inv.GetBmcFirmware())))
	if ap := inv.GetPowerState(); ap != "" && power != bmc.StateUnknown && ap != string(power) {
		v.mismatch = fmt.Sprintf("the agent reported power %s, the BMC at %s reports %s", ap, n.BMC.Endpoint, power)
		return v
	}
	byID := map[string]bmc.Firmware{}
	for _, f := range fw {
		byID[f.ID] = f
	}
	agree, shared := 0, 0
	var differ []string
	for _, a := range inv.GetBmcFirmware() {
		b, ok := byID[a.GetId()]
		if !ok {
			continue
		}
		shared++
		if !a.GetKnown() || !b.Known {
			continue
		}
		if a.GetVersion() != b.Version {
			differ = append(differ, fmt.Sprintf("%s: agent %q, BMC %q", a.GetId(), a.GetVersion(), b.Version))
			continue
		}
		agree++
	}
	switch {
	case len(differ) > 0:
		slices.Sort(differ)
		v.mismatch = "firmware versions differ: " + strings.Join(differ, "; ")
	case len(inv.GetBmcFirmware()) > 0 && len(fw) > 0 && shared == 0:
		v.mismatch = "the agent's firmware entries and the BMC's have no id in common: they describe different machines"
	default:
		ev = append(ev, fmt.Sprintf("%d firmware versions agree", agree))
	}
	return v
}

func fwList(fw []bmc.Firmware) string {
	if len(fw) == 0 {
		return ""
	}
	parts := make([]string, 0, len(fw))
	for _, f := range fw {
		parts = append(parts, f.ID+" "+f.Version)
	}
	slices.Sort(parts)
	if len(parts) > 8 {
		parts = append(parts[:8], "...")
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
