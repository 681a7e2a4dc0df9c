package agentgw

import (
	"encoding/json"
	"time"

	"github.com/ibex-hpc/ibex/fabric/placement"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// inventoryCommand records a hello's hardware report with the GUIDs of
// the HCA ports that are not down, parsed here so that the state machine
// places (or refuses) a real machine's node by them. Unreadable GUIDs are
// not dropped: they travel as PortsError, and the node is refused with it.
func inventoryCommand(node string, inv *pb.HardwareInventory, now time.Time) (*fsm.NodeInventory, error) {
	b, err := json.Marshal(inv)
	if err != nil {
		return nil, err
	}
	cmd := &fsm.NodeInventory{Node: node, Inventory: string(b), Time: now}
	var guids []string
	for _, h := range inv.GetHcas() {
		for _, p := range h.GetPorts() {
			if placement.PortUp(p.GetState()) {
				guids = append(guids, p.GetGuid())
			}
		}
	}
	if cmd.Ports, err = placement.ParseGUIDs(guids); err != nil {
		cmd.Ports, cmd.PortsError = nil, err.Error()
	}
	return cmd, nil
}
