package agent

import (
	"context"
	"fmt"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/nodeagent/hca"
)

// Firmware readings: every source of an HCA's firmware version, read
// now. Compliance needs all of them to agree with the pin: mstflint's
// flash (what boots next) and running version, and the driver's fw_ver in
// sysfs (what the kernel probed). A disagreement is not compliance with a
// footnote: it is a device whose state nobody can vouch for.

// firmwareTargets are the HCAs to pin and read: every one in sysfs, or
// Config.Device.
func (a *Agent) firmwareTargets() (targets []string, bySysfs map[string]hca.Device, invErr error) {
	sc := hca.NewScanner(a.cfg.SysfsRoot)
	sc.NoCounters = true // each counter read is a PMA query; not needed here
	devs, invErr := sc.Inventory()
	bySysfs = map[string]hca.Device{}
	for _, d := range devs {
		bySysfs[d.Name] = d
		targets = append(targets, d.Name)
	}
	if a.cfg.Device != "" {
		targets = []string{a.cfg.Device}
	}
	return targets, bySysfs, invErr
}

// readFirmware reads every source of every target.
func (a *Agent) readFirmware(ctx context.Context, targets []string) []model.FirmwareDevice {
	sc := hca.NewScanner(a.cfg.SysfsRoot)
	sc.NoCounters = true
	devs, _ := sc.Inventory() // re-read: fw_ver changes with a firmware reset
	out := make([]model.FirmwareDevice, 0, len(targets))
	for _, name := range targets {
		fd := model.FirmwareDevice{Device: name}
		if q, err := a.Flasher.Query(ctx, name); err != nil {
			fd.Readings = append(fd.Readings,
				model.FirmwareReading{Source: model.ReadingFlash, Error: err.Error()},
				model.FirmwareReading{Source: model.ReadingRunning, Error: err.Error()})
		} else {
			fd.PSID = q.PSID
			fd.Readings = append(fd.Readings,
				model.FirmwareReading{Source: model.ReadingFlash, Version: q.FWVersion},
				model.FirmwareReading{Source: model.ReadingRunning, Version: q.Running()})
		}
		found := false
		for _, d := range devs {
			if d.Name == name || d.PCIAddress != "" && d.PCIAddress == name {
				found = true
				fd.Readings = append(fd.Readings, model.FirmwareReading{Source: model.ReadingSysfs, Version: d.FWVersion})
				if fd.PSID == "" {
					fd.PSID = d.PSID()
				}
				break
			}
		}
		if !found {
			fd.Readings = append(fd.Readings, model.FirmwareReading{Source: model.ReadingSysfs,
				Error: fmt.Sprintf("no device %s under %s: the driver's view of the firmware cannot be read", name, a.cfg.SysfsRoot)})
		}
		out = append(out, fd)
	}
	return out
}
