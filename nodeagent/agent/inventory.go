package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/ibex-hpc/ibex/nodeagent/hca"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// inventory collects what the Hello reports: HCAs from sysfs, and, when a
// BMC is configured, its firmware inventory and the power state. Parts
// that fail are left out and the error returned for the log; a partial
// inventory is still worth sending, and refusing to connect because a BMC
// is slow would leave the node without tasks.
func (a *Agent) inventory(ctx context.Context) (*pb.HardwareInventory, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.InventoryTimeout)
	defer cancel()
	inv := &pb.HardwareInventory{}
	var errs []error

	sc := hca.NewScanner(a.cfg.SysfsRoot)
	sc.NoCounters = true
	devs, err := sc.Inventory()
	if err != nil {
		errs = append(errs, fmt.Errorf("hca inventory: %w", err))
	}
	for _, d := range devs {
		h := &pb.HCAInfo{Name: d.Name, FwVersion: d.FWVersion, Psid: d.PSID()}
		if d.NodeGUID != 0 {
			h.NodeGuid = d.NodeGUID.Hex()
		}
		for _, p := range d.Ports {
			hp := &pb.HCAPort{Number: uint32(p.Number), State: p.State.String(), Rate: p.Rate.String()}
			// A RoCE port's "GUID" is only its GID's interface id (from
			// the MAC): no InfiniBand port, so none to place the node by
			// or to give partition keys to.
			if p.GUID != 0 && p.LinkLayer != "Ethernet" {
				hp.Guid = p.GUID.Hex()
			}
			h.Ports = append(h.Ports, hp)
		}
		inv.Hcas = append(inv.Hcas, h)
	}

	if a.BMC != nil {
		if st, err := a.BMC.PowerState(ctx); err != nil {
			errs = append(errs, fmt.Errorf("bmc power state: %w", err))
		} else {
			inv.PowerState = string(st)
		}
		fws, err := a.BMC.FirmwareInventory(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("bmc firmware inventory: %w", err))
		}
		for _, f := range fws {
			inv.BmcFirmware = append(inv.BmcFirmware, &pb.FirmwareInfo{Id: f.ID, Name: f.Name, Version: f.Version, Known: f.Known})
		}
	}
	inv.Boot = a.bootReport(ctx)
	return inv, errors.Join(errs...)
}
