package ufm

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/ibex-hpc/ibex/fabric/sm"
)

// PKeyReader reads P_Key tables from the fabric itself (for example
// opensm.SMPQuery on a host with an HCA). Same method as
// opensm.PKeyReader, declared here to keep the packages independent.
type PKeyReader interface {
	ReadPKeys(ctx context.Context, ports []sm.GUID) (map[sm.GUID]sm.Table, error)
}

// Config wires a Driver to a UFM.
type Config struct {
	Client *Client
	// Min and Max bound the keys ibex owns. Keys outside are never
	// created, changed or deleted: UFM also carries partitions that
	// other teams manage (storage, management).
	Min, Max sm.PKey
	// Rules describe the default partition. UFM manages 0x7fff itself
	// (its own settings), so they are only used to predict tables in
	// Observe; configure UFM to make tenants limited members.
	Rules sm.DefaultRules
	// Reader, if set, makes Observe read the fabric instead of
	// deriving tables from UFM's configuration.
	Reader PKeyReader
}

// Driver implements sm.Driver on UFM.
type Driver struct{ cfg Config }

// New checks cfg.
func New(cfg Config) (*Driver, error) {
	if cfg.Client == nil || !cfg.Min.Valid() || !cfg.Max.Valid() || cfg.Min > cfg.Max {
		return nil, errors.New("ufm: Config needs a Client and a key range within 0x0001..0x7ffe")
	}
	return &Driver{cfg: cfg}, nil
}

func (d *Driver) owns(k sm.PKey) bool { return k >= d.cfg.Min && k <= d.cfg.Max }

// Apply makes UFM's keys in [Min, Max] equal to desired: create what
// is missing, replace member lists that differ, delete owned keys no
// longer desired; then read UFM's view back to confirm. Calls are made
// only for differences, so a repeated Apply costs one GET; after a
// failure part way, calling Apply again finishes the job.
func (d *Driver) Apply(ctx context.Context, desired []sm.Partition) error {
	if err := sm.ValidateDesired(desired); err != nil {
		return err
	}
	for _, p := range desired {
		if !d.owns(p.PKey) {
			return fmt.Errorf("ufm: partition %q: P_Key %s outside the owned range %s..%s", p.Name, p.PKey, d.cfg.Min, d.cfg.Max)
		}
	}
	desired = sm.Normalize(desired)
	cur, err := d.list(ctx)
	if err != nil {
		return err
	}
	for _, p := range desired {
		have, ok := cur[p.PKey]
		switch {
		case !ok:
			if err := d.cfg.Client.CreatePKey(ctx, p.PKey, p.Name, p.IPoIB); err != nil {
				return err
			}
			if len(p.Members) > 0 {
				if err := d.cfg.Client.AddGUIDs(ctx, p.PKey, p.Members, p.IPoIB); err != nil {
					return err
				}
			}
		case slices.Equal(have.Members, p.Members) && have.IPoIB == p.IPoIB:
			// nothing to do
		case len(p.Members) == 0 || have.IPoIB != p.IPoIB:
			// An empty list cannot be PUT, and ip_over_ib is a
			// property of the key: recreate it.
			if err := d.cfg.Client.DeletePKey(ctx, p.PKey); err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
			if err := d.cfg.Client.CreatePKey(ctx, p.PKey, p.Name, p.IPoIB); err != nil {
				return err
			}
			if len(p.Members) > 0 {
				if err := d.cfg.Client.SetGUIDs(ctx, p.PKey, p.Members, p.IPoIB); err != nil {
					return err
				}
			}
		default:
			if err := d.cfg.Client.SetGUIDs(ctx, p.PKey, p.Members, p.IPoIB); err != nil {
				return err
			}
		}
	}
	want := map[sm.PKey]bool{}
	for _, p := range desired {
		want[p.PKey] = true
	}
	for k := range cur {
		if d.owns(k) && !want[k] {
			if err := d.cfg.Client.DeletePKey(ctx, k); err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
		}
	}
	return d.confirm(ctx, desired)
}

// confirm re-reads UFM and compares with desired.
func (d *Driver) confirm(ctx context.Context, desired []sm.Partition) error {
	cur, err := d.list(ctx)
	if err != nil {
		return err
	}
	var errs []error
	want := map[sm.PKey]bool{}
	for _, p := range desired {
		want[p.PKey] = true
		if have, ok := cur[p.PKey]; !ok || !slices.Equal(have.Members, p.Members) {
			errs = append(errs, fmt.Errorf("ufm: P_Key %s does not hold the desired members after Apply", p.PKey))
		}
	}
	for k := range cur {
		if d.owns(k) && !want[k] {
			errs = append(errs, fmt.Errorf("ufm: P_Key %s still exists after Apply", k))
		}
	}
	return errors.Join(errs...)
}

// list returns UFM's keys with members sorted by GUID.
func (d *Driver) list(ctx context.Context) (map[sm.PKey]PKeyInfo, error) {
	all, err := d.cfg.Client.ListPKeys(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[sm.PKey]PKeyInfo, len(all))
	for _, in := range all {
		in.Members = sm.Normalize([]sm.Partition{{Members: in.Members}})[0].Members
		out[in.PKey] = in
	}
	return out, nil
}

// Observe returns, per port, the table UFM's configuration implies
// (default partition per Rules plus every key listing the port), or
// with cfg.Reader, the tables read from the fabric.
func (d *Driver) Observe(ctx context.Context, ports []sm.GUID) (map[sm.GUID]sm.Table, error) {
	if d.cfg.Reader != nil {
		return d.cfg.Reader.ReadPKeys(ctx, ports)
	}
	all, err := d.cfg.Client.ListPKeys(ctx)
	if err != nil {
		return nil, err
	}
	parts := make([]sm.Partition, 0, len(all))
	for _, in := range all {
		if in.PKey != sm.DefaultPKey {
			parts = append(parts, sm.Partition{PKey: in.PKey, Members: in.Members})
		}
	}
	return sm.Expected(parts, d.cfg.Rules, ports), nil
}

var _ sm.Driver = (*Driver)(nil)
