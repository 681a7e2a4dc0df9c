package ibsim

import (
	"context"
	"errors"
	"fmt"

	"github.com/ibex-hpc/ibex/fabric/sm"
)

// PKeyTables reads the P_Key tables of the given port GUIDs straight
// from the simulated ports (every block up to the port's
// PartitionCap, raw values, holes included). It also checks that the
// port at the end of the route has the GUID asked for.
//
// Unreachable ports (e.g. after Console("Unlink ...")) are left out of
// the map and named in the error.
func (f *Fabric) PKeyTables(ctx context.Context, guids []uint64) (map[uint64][]uint16, error) {
	c, err := f.simClient()
	if err != nil {
		return nil, err
	}
	out := make(map[uint64][]uint16, len(guids))
	var errs []error
	for _, g := range guids {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		h, ok := f.byGUID[g]
		if !ok {
			errs = append(errs, fmt.Errorf("port 0x%016x: not in this fabric", g))
			continue
		}
		t, err := f.readTable(c, h)
		if err != nil {
			errs = append(errs, fmt.Errorf("port 0x%016x (%s): %w", g, h.Name, err))
			continue
		}
		out[g] = t
	}
	return out, errors.Join(errs...)
}

func (f *Fabric) readTable(c *simClient, h Host) ([]uint16, error) {
	path := []byte{0}
	if h.Name != smName {
		path = f.Topology.drPath(h)
	}
	r, err := c.roundTrip(drGet(attrNodeInfo, 0, path), 0xffff)
	if err != nil {
		return nil, err
	}
	ni, err := parseNodeInfo(r)
	if err != nil {
		return nil, err
	}
	if ni.portGUID != h.PortGUID {
		return nil, fmt.Errorf("route reached port 0x%016x", ni.portGUID)
	}
	var t []uint16
	for b := 0; b*32 < ni.partitionCap; b++ {
		r, err := c.roundTrip(drGet(attrPKeyTable, uint32(b), path), 0xffff)
		if err != nil {
			return nil, err
		}
		blk, err := pkeyBlock(r)
		if err != nil {
			return nil, err
		}
		t = append(t, blk...)
	}
	return t[:min(len(t), ni.partitionCap)], nil
}

// simClient returns the fabric's attached SMP client, attaching on
// first use (one slot of ibsim's ten, released by Stop).
func (f *Fabric) simClient() (*simClient, error) {
	f.clientMu.Lock()
	defer f.clientMu.Unlock()
	if f.client == nil {
		c, err := dialSim(f.SockName, smName)
		if err != nil {
			return nil, err
		}
		f.client = c
	}
	return f.client, nil
}

// Tables is PKeyTables in the subnet-manager drivers' types, so a driver
// can read the simulated fabric directly: opensm.ReaderFunc(f.Tables).
func (f *Fabric) Tables(ctx context.Context, ports []sm.GUID) (map[sm.GUID]sm.Table, error) {
	raw := make([]uint64, len(ports))
	for i, p := range ports {
		raw[i] = uint64(p)
	}
	tables, err := f.PKeyTables(ctx, raw)
	out := make(map[sm.GUID]sm.Table, len(tables))
	for g, t := range tables {
		out[sm.GUID(g)] = sm.NewTable(t...)
	}
	return out, err
}
