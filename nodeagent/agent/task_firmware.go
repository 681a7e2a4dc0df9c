package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/nodeagent/firmware"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// firmwareEvidence is the evidence of a FirmwareTask: per device, what
// sysfs showed, what the policy pins, and what Pin did with versions
// before and after.
type firmwareEvidence struct {
	Started, Finished time.Time
	Pins              []firmware.Rule
	Devices           []deviceFirmware
	// InventoryError is a partial sysfs read; the devices still ran.
	InventoryError string `json:",omitempty"`
	// Readings are every source's version after pinning (what the
	// verdict and the answer to the leader's challenge rest on).
	Readings []model.FirmwareDevice `json:",omitempty"`
	// Verdict is the agent's own check of the readings against the pins.
	Verdict string `json:",omitempty"`
	// Before are the readings as found, when the challenge asked.
	Before []model.FirmwareDevice `json:",omitempty"`
}

type deviceFirmware struct {
	Device string
	// Sysfs is the driver's view before the task (board_id, fw_ver),
	// with the Check verdict against the pins. Nil when the device is not
	// under the sysfs root (e.g. Config.Device is a PCI address).
	Sysfs *sysfsCheck `json:",omitempty"`
	// Pin is firmware.Pin's evidence: versions burned and running, before
	// and after, the image digest checked and the timed steps.
	Pin        firmware.Evidence
	Error      string `json:",omitempty"`
	Quarantine bool   `json:",omitempty"`
	// Settings is what applySettings read and changed.
	Settings *settingsEvidence `json:",omitempty"`
}

type sysfsCheck struct {
	PSID    string
	Running string
	Pinned  string   `json:",omitempty"`
	Status  string   // compliant, drift, unknown-psid
	Reasons []string `json:",omitempty"`
}

// runFirmware converges the HCAs to the task's pins. It reads the sysfs
// inventory and checks it against the pins for the record, then runs
// firmware.Pin on every device, drift or not: sysfs shows only the running
// firmware, so a wrong version burned to flash (waiting for the next
// reboot) is only visible to the flasher, and Pin on a compliant device is
// one query that leaves it untouched. Any failure or unverifiable result
// from Pin is ok=false, quarantine=true.
//
// Then every source is read again (readFirmware): compliant only when
// mstflint's flash and running versions and sysfs fw_ver all equal the
// pin; otherwise ok=false, quarantine=true. With the leader's challenge
// the readings are the answer, and the server checks them itself.
func (a *Agent) runFirmware(ctx context.Context, _ string, t *pb.FirmwareTask, ch *model.Challenge) *savedResult {
	var rules []firmware.Rule
	for _, p := range t.GetPins() {
		rules = append(rules, firmware.Rule{PSID: p.GetPsid(), Version: p.GetVersion(), SHA256: p.GetSha256(), Image: p.GetFile()})
	}
	return a.convergeFirmware(ctx, rules, ch)
}

// convergeFirmware brings every HCA to rules (firmware.Pin) and to the
// challenge's settings (task_fwprofile.go), then reads every source again
// and checks the readings against the rules and settings itself. The
// cleaning's firmware step runs it with the baseline pins and the
// settings to restore to their defaults; a job's profile task with the
// profile's versions and settings.
func (a *Agent) convergeFirmware(ctx context.Context, rules []firmware.Rule, ch *model.Challenge) *savedResult {
	ev := firmwareEvidence{Started: time.Now(), Pins: rules}
	policy, err := firmware.NewPolicy(ev.Pins...)
	if err != nil {
		// The task is wrong, not the node: no quarantine.
		ev.Finished = time.Now()
		return result(err, &ev)
	}

	targets, bySysfs, invErr := a.firmwareTargets()
	if invErr != nil {
		ev.InventoryError = invErr.Error()
	}
	if len(targets) == 0 {
		ev.Finished = time.Now()
		r := result(fmt.Errorf("no HCA under %s and no device configured: firmware compliance cannot be shown", a.cfg.SysfsRoot), &ev)
		r.Quarantine = true
		return r
	}
	var before []model.FirmwareDevice
	if ch != nil && ch.Before {
		// As found, before anything is touched: the server compares it
		// with what ibex left (unapproved firmware).
		before = a.readSettings(ctx, a.readFirmware(ctx, targets), ch)
		ev.Before = before
	}

	var reasons []string
	quarantine := false
	for _, name := range targets {
		df := deviceFirmware{Device: name}
		if d, ok := bySysfs[name]; ok {
			res := firmware.Check(firmware.ObservedFromHCA(d), policy)
			df.Sysfs = &sysfsCheck{PSID: res.PSID, Running: res.Running, Pinned: res.Pinned, Status: res.Status.String(), Reasons: res.Reasons}
		}
		pev, err := firmware.Pin(ctx, a.Flasher, name, policy, a.FirmwareStore)
		df.Pin = pev
		if err == nil && ch != nil {
			df.Settings, err = a.applySettings(ctx, name, pev.PSID, ch) // task_fwprofile.go
		}
		if err != nil {
			df.Error = err.Error()
			var q *firmware.QuarantineError
			df.Quarantine = errors.As(err, &q)
			quarantine = quarantine || df.Quarantine
			reasons = append(reasons, err.Error())
		} else {
			a.log.Info("firmware pinned", "device", name, "outcome", pev.Outcome, "running_before", pev.RunningBefore, "running_after", pev.RunningAfter)
		}
		ev.Devices = append(ev.Devices, df)
		if ctx.Err() != nil {
			break
		}
	}
	if ctx.Err() == nil {
		ev.Readings = a.readSettings(ctx, a.readFirmware(ctx, targets), ch)
		pins := map[string]string{}
		for _, p := range ev.Pins {
			pins[p.PSID] = p.Version
		}
		own := model.Challenge{Pins: pins}
		if ch != nil {
			own.Config, own.ConfigKeys = ch.Config, ch.ConfigKeys
		}
		v, err := model.CheckFirmware(own, model.Answer{Firmware: &model.FirmwareAnswer{Devices: ev.Readings}})
		if err != nil {
			reasons = append(reasons, err.Error())
			quarantine = true
		}
		ev.Verdict = v
	}
	var ferr error
	if len(reasons) > 0 {
		ferr = errors.New(strings.Join(reasons, "; "))
	}
	ev.Finished = time.Now()
	r := result(ferr, &ev)
	r.Quarantine = quarantine
	if ch != nil && r.OK {
		r = withAnswer(r, &model.Answer{Nonce: ch.Nonce, Firmware: &model.FirmwareAnswer{Devices: ev.Readings, Before: before}})
	}
	return r
}
