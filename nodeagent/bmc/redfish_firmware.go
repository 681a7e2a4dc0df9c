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
func (r *Redfish) updateService(c *gofish.APIClient, op string) (*schemas.UpdateService, updateServiceDoc, error) {
	var doc updateServiceDoc
	us, err := c.Service.UpdateService()
	if err != nil {
		return nil, doc, r.wrap(op, err)
	}
	if us == nil {
		return nil, doc, fmt.Errorf("bmc: %s: no UpdateService: %w", op, ErrUnsupported)
	}
	if doc, err = parseUpdateService(us.RawData); err != nil {
		return nil, doc, r.wrap(op, err)
	}
	return us, doc, nil
}

// FirmwareInventory implements BMC. It lists the members the collection
// actually names, not Members@odata.count: public-rackmount1 (like some
// real BMCs) says 2 but lists 3. Entries come back sorted by ID.
//
// On a BMC with several systems, entries that belong to another system are
// left out (see ownsEntry). Where the BMC has no firmware inventory (no
// UpdateService, or one without FirmwareInventory), the BMC and BIOS
// versions are taken from the Manager's FirmwareVersion and the system's
// BiosVersion instead.
//
// If some entries cannot be read, the readable ones are returned together
// with an error naming the others, so one broken entry does not hide the
// BIOS version.
func (r *Redfish) FirmwareInventory(ctx context.Context) ([]Firmware, error) {
	var fw []Firmware
	err := r.do(ctx, func(c *gofish.APIClient) error {
		var err error
		fw, err = r.firmwareInventory(c)
		return err
	})
	return fw, err
}

func (r *Redfish) firmwareInventory(c *gofish.APIClient) ([]Firmware, error) {
	const op = "firmware inventory"
	_, doc, err := r.updateService(c, op)
	if errors.Is(err, ErrUnsupported) || (err == nil && doc.FirmwareInventory == "") {
		return r.firmwareFromResources(c, op)
	}
	if err != nil {
		return nil, err
	}
	raw, err := getRaw(c, doc.FirmwareInventory)
	if isNotFound(err) {
		return r.firmwareFromResources(c, op)
	}
	if err != nil {
		return nil, r.wrap(op, err)
	}
	members, err := parseCollection(raw)
	if err != nil {
		return nil, r.wrap(op, err)
	}
	var fw []Firmware
	var errs []error
	for _, m := range members {
		raw, err := getRaw(c, m)
		var sw softwareDoc
		if err == nil {
			sw, err = parseSoftware(raw)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", m, r.convert(err)))
			continue
		}
		if sw.ODataID == "" {
			sw.ODataID = m
		}
		if r.ownsEntry(sw) {
			fw = append(fw, newFirmware(sw.ID, sw.Name, sw.Version, sw.Updateable, sw.ODataID))
		}
	}
	sortFirmware(fw)
	if err := errors.Join(errs...); err != nil {
		if len(fw) == 0 {
			return nil, r.wrap(op, err)
		}
		return fw, r.wrap(op+" incomplete", err)
	}
	return fw, nil
}

// ownsEntry reports whether a firmware inventory entry is the selected
// system's, or the BMC's or enclosure's that it shares, rather than another
// system's. Redfish links an entry to what it belongs to with RelatedItem;
// HPE Cray EX blade BMCs give none and name per-node entries
// "<SystemId>.<component>" (Node0.BIOS, Node1.HPCNet0), which is the
// fallback. An entry linked to nothing and named after no system (BMC,
// Recovery, FPGA0) is shared and kept.
func (r *Redfish) ownsEntry(sw softwareDoc) bool {
	if len(r.others) == 0 {
		return true
	}
	for _, it := range sw.RelatedItem {
		if under(it, r.systemURI) {
			return true
		}
	}
	for _, it := range sw.RelatedItem {
		for _, o := range r.others {
			if o.URI != "" && under(it, o.URI) {
				return false
			}
		}
	}
	if namedAfter(sw.ID, r.systemID) {
		return true
	}
	for _, o := range r.others {
		if namedAfter(sw.ID, o.ID) {
			return false
		}
	}
	return true
}

// namedAfter reports whether an inventory Id starts with a system Id
// followed by a separator: "Node1.BIOS" is named after "Node1".
func namedAfter(entryID, systemID string) bool {
	if systemID == "" || len(entryID) <= len(systemID) || !strings.EqualFold(entryID[:len(systemID)], systemID) {
		return false
	}
	return strings.ContainsRune("._-:/", rune(entryID[len(systemID)]))
}

// firmwareFromResources reports the BMC version from the system's
// Manager(s) (FirmwareVersion) and the BIOS version from the system
// (BiosVersion), for BMCs without a firmware inventory. The entries are
// not Updateable (there is no inventory entry to target) and their URI is
// the Manager's or the system's.
func (r *Redfish) firmwareFromResources(c *gofish.APIClient, op string) ([]Firmware, error) {
	raw, err := getRaw(c, r.systemURI)
	if err != nil {
		return nil, r.wrap(op, err)
	}
	sys, err := parseSystem(raw)
	if err != nil {
		return nil, r.wrap(op, err)
	}
	managers := sys.ManagedBy
	if len(managers) == 0 {
		// HPE Cray EX systems have no Links: their BMC is the only
		// Manager.
		managers, err = r.managerLinks(c)
		if err != nil {
			return nil, r.wrap(op, err)
		}
	}
	var fw []Firmware
	var errs []error
	for _, m := range managers {
		raw, err := getRaw(c, m)
		var md managerDoc
		if err == nil {
			md, err = parseManager(raw)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", m, r.convert(err)))
			continue
		}
		if md.FirmwareVersion == nil {
			continue
		}
		id, name := "BMC", md.Name
		if len(managers) > 1 {
			id = "BMC." + md.ID
		}
		if name == "" {
			name = "BMC firmware"
		}
		fw = append(fw, newFirmware(id, name, *md.FirmwareVersion, false, m))
	}
	if sys.BiosVersion != nil {
		fw = append(fw, newFirmware("BIOS", "BIOS", *sys.BiosVersion, false, r.systemURI))
	}
	sortFirmware(fw)
	if err := errors.Join(errs...); err != nil {
		if len(fw) == 0 {
			return nil, r.wrap(op, err)
		}
		return fw, r.wrap(op+" incomplete", err)
	}
	if len(fw) == 0 {
		return nil, fmt.Errorf("bmc: %s: the BMC has no FirmwareInventory, and neither a Manager FirmwareVersion nor the system's BiosVersion: %w",
			op, ErrUnsupported)
	}
	return fw, nil
}

// managerLinks lists the members of the service root's Managers.
func (r *Redfish) managerLinks(c *gofish.APIClient) ([]string, error) {
	raw, err := getRaw(c, "/redfish/v1")
	if err != nil {
		return nil, err
	}
	root, err := objectOf(raw)
	if err != nil {
		return nil, err
	}
	coll := linkOf(root["Managers"])
	if coll == "" {
		return nil, nil
	}
	raw, err = getRaw(c, coll)
	if err != nil {
		return nil, err
	}
	return parseCollection(raw)
}

// newFirmware makes a Firmware from what a BMC reported, made safe to log
// and to send in a protobuf string (valid UTF-8, one line, bounded).
func newFirmware(id, name, version string, updateable bool, uri string) Firmware {
	v, known := displayVersion(version)
	return Firmware{
		ID:         clean(id),
		Name:       clean(name),
		Version:    v,
		Known:      known,
		Updateable: updateable,
		URI:        uriOf(uri),
	}
}

func sortFirmware(fw []Firmware) {
	slices.SortFunc(fw, func(a, b Firmware) int {
		return cmp.Or(cmp.Compare(a.ID, b.ID), cmp.Compare(a.URI, b.URI))
	})
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
	var task string
	err = r.do(ctx, func(c *gofish.APIClient) error {
		us, doc, err := r.updateService(c, op)
		if err != nil {
			return err
		}
		if doc.SimpleUpdate == nil {
			return fmt.Errorf("bmc: %s: UpdateService has no SimpleUpdate action: %w", op, ErrUnsupported)
		}
		t, err := us.SimpleUpdate(&schemas.UpdateServiceSimpleUpdateParameters{
			ImageURI: imageURI,
			Targets:  targets,
		})
		if err != nil {
			return r.wrap(op, err, imagePassword...)
		}
		if t != nil {
			task = t.TaskMonitor
		}
		return nil
	})
	return task, err
}
