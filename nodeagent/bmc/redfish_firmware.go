package bmc

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/stmcginnis/gofish"
	"github.com/stmcginnis/gofish/schemas"
)

// updateService reads the UpdateService, or reports ErrUnsupported when
// the BMC has none (public-smartnic, many SmartNIC and switch BMCs).
func (r *Redfish) updateService(ctx context.Context, op string) (*gofish.APIClient, *schemas.UpdateService, updateServiceDoc, error) {
	var doc updateServiceDoc
	c, err := r.client(ctx)
	if err != nil {
		return nil, nil, doc, err
	}
	us, err := c.Service.UpdateService()
	if err != nil {
		return nil, nil, doc, r.wrap(op, err)
	}
	if us == nil {
		return nil, nil, doc, fmt.Errorf("bmc: %s: no UpdateService: %w", op, ErrUnsupported)
	}
	if doc, err = parseUpdateService(us.RawData); err != nil {
		return nil, nil, doc, r.wrap(op, err)
	}
	return c, us, doc, nil
}

// FirmwareInventory implements BMC. It lists the members the collection
// actually names, not Members@odata.count: public-rackmount1 (like some
// real BMCs) says 2 but lists 3. Entries come back sorted by ID because
// gofish fetches them concurrently, in no particular order.
//
// If some entries cannot be read, the readable ones are returned together
// with an error naming the others, so one broken entry does not hide the
// BIOS version.
func (r *Redfish) FirmwareInventory(ctx context.Context) ([]Firmware, error) {
	const op = "firmware inventory"
	c, _, doc, err := r.updateService(ctx, op)
	if err != nil {
		return nil, err
	}
	if doc.FirmwareInventory == "" {
		return nil, fmt.Errorf("bmc: %s: UpdateService has no FirmwareInventory: %w", op, ErrUnsupported)
	}
	items, err := schemas.GetCollectionObjects[schemas.SoftwareInventory](c, doc.FirmwareInventory)
	fw := make([]Firmware, 0, len(items))
	for _, it := range items {
		fw = append(fw, Firmware{
			ID:         it.ID,
			Name:       it.Name,
			Version:    it.Version,
			Updateable: it.Updateable,
			Known:      versionKnown(it.Version),
			URI:        it.ODataID,
		})
	}
	slices.SortFunc(fw, func(a, b Firmware) int {
		return cmp.Or(cmp.Compare(a.ID, b.ID), cmp.Compare(a.URI, b.URI))
	})
	if err != nil {
		if len(fw) == 0 {
			return nil, r.wrap(op, err)
		}
		return fw, r.wrap(op+" incomplete", err)
	}
	return fw, nil
}

// SimpleUpdate implements BMC. imageURI must be absolute (the BMC fetches
// it itself); credentials in it are allowed but never appear in errors.
// targets must be resource URIs (Firmware.URI), not inventory Ids, which
// BMCs reject with unhelpful messages.
func (r *Redfish) SimpleUpdate(ctx context.Context, imageURI string, targets []string) (string, error) {
	u, err := url.Parse(imageURI)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", errors.New("bmc: simple update: image URI must be absolute, like https://host/path/image.bin")
	}
	op := "simple update from " + u.Redacted()
	var imagePassword []string
	if pw, ok := u.User.Password(); ok {
		imagePassword = append(imagePassword, pw)
	}
	for _, t := range targets {
		if !strings.HasPrefix(t, "/") {
			return "", fmt.Errorf("bmc: %s: target %q is not a resource URI; use Firmware.URI", op, t)
		}
	}
	_, us, doc, err := r.updateService(ctx, op)
	if err != nil {
		return "", err
	}
	if doc.SimpleUpdate == nil {
		return "", fmt.Errorf("bmc: %s: UpdateService has no SimpleUpdate action: %w", op, ErrUnsupported)
	}
	task, err := us.SimpleUpdate(&schemas.UpdateServiceSimpleUpdateParameters{
		ImageURI: imageURI,
		Targets:  targets,
	})
	if err != nil {
		return "", r.wrap(op, err, imagePassword...)
	}
	if task == nil {
		return "", nil
	}
	return task.TaskMonitor, nil
}
