package agent

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/nodeagent/firmware"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// Firmware profiles on the node: a job's approved profile is applied
// before the job starts (runFirmwareProfile: the profile's firmware
// through firmware.Pin, then its settings through the flasher's
// Configurer, a firmware reset, and every reading again), and the
// cleaning's firmware step puts the settings the profile changed back to
// the firmware's defaults (the challenge's ConfigKeys) while it re-pins
// the baseline. Either way the answer is read back from the device, and
// the server checks it against what it asked.

// settingsEvidence is what applySettings read, changed and read again.
type settingsEvidence struct {
	Want   map[string]string           `json:",omitempty"` // "" : the default
	Before map[string]firmware.Setting `json:",omitempty"`
	Set    map[string]string           `json:",omitempty"`
	Reset  bool                        `json:",omitempty"`
}

func (a *Agent) runFirmwareProfile(ctx context.Context, _ string, t *pb.FirmwareProfileTask, ch *model.Challenge) *savedResult {
	if ch == nil {
		return result(fmt.Errorf("firmware profile %s: %w", t.GetProfile(), errNoChallenge), nil)
	}
	var rules []firmware.Rule
	for _, p := range t.GetPins() {
		rules = append(rules, firmware.Rule{PSID: p.GetPsid(), Version: p.GetVersion(), SHA256: p.GetSha256(), Image: p.GetFile()})
	}
	// The settings the server verifies are the challenge's; the task's
	// must be the same, or the agent would apply one thing and be judged
	// on another.
	for _, s := range t.GetSettings() {
		if want := ch.Config[s.GetPsid()][s.GetKey()]; want != s.GetValue() {
			return result(fmt.Errorf("firmware profile %s: setting %s=%s for %s is not what the challenge verifies (%q)",
				t.GetProfile(), s.GetKey(), s.GetValue(), s.GetPsid(), want), nil)
		}
	}
	return a.convergeFirmware(ctx, rules, ch)
}

// applySettings brings device (of board psid) to the challenge's
// settings: the profile's values, the defaults for ConfigKeys. It sets
// what differs for the next boot and resets the firmware when a value in
// effect differs. Any failure is a *firmware.QuarantineError: the device
// may be in a state nobody chose.
func (a *Agent) applySettings(ctx context.Context, device, psid string, ch *model.Challenge) (*settingsEvidence, error) {
	want := ch.WantSettings(psid)
	if len(want) == 0 {
		return nil, nil
	}
	ev := &settingsEvidence{Want: want}
	q := func(step, reason string, err error, touched bool) error {
		return &firmware.QuarantineError{Device: device, Step: step, Reason: reason, Err: err, Touched: touched}
	}
	cf, ok := a.Flasher.(firmware.Configurer)
	if !ok {
		return ev, q("settings", fmt.Sprintf("the flasher (%T) cannot read or change settings", a.Flasher), nil, false)
	}
	keys := slices.Sorted(maps.Keys(want))
	got, err := cf.QueryConfig(ctx, device, keys)
	if err != nil {
		return ev, q("settings-query", "cannot read the settings", err, false)
	}
	ev.Before = got
	set := map[string]string{}
	reset := false
	for _, k := range keys {
		v := want[k]
		if v == "" {
			v = got[k].Default
		}
		if v == "" {
			return ev, q("settings", fmt.Sprintf("%s has no default to restore", k), nil, false)
		}
		if !model.SameSetting(got[k].Next, v) {
			set[k] = v
		}
		if !model.SameSetting(got[k].Current, v) {
			reset = true
		}
	}
	if len(set) > 0 {
		ev.Set = set
		if err := cf.SetConfig(ctx, device, set); err != nil {
			return ev, q("settings-set", "setting failed; next-boot settings unknown", err, true)
		}
		reset = true
	}
	if reset {
		ev.Reset = true
		if err := a.Flasher.Reset(ctx, device); err != nil {
			return ev, q("settings-reset", "firmware reset failed; settings in effect unknown", err, true)
		}
	}
	return ev, nil
}

// readSettings adds to each device's readings the settings the challenge
// names (every one, whatever its value), as the device reports them now.
func (a *Agent) readSettings(ctx context.Context, devs []model.FirmwareDevice, ch *model.Challenge) []model.FirmwareDevice {
	if ch == nil {
		return devs
	}
	cf, _ := a.Flasher.(firmware.Configurer)
	for i, d := range devs {
		keys := slices.Sorted(maps.Keys(ch.WantSettings(d.PSID)))
		if len(keys) == 0 {
			continue
		}
		var got map[string]firmware.Setting
		err := fmt.Errorf("the flasher (%T) cannot read settings", a.Flasher)
		if cf != nil {
			got, err = cf.QueryConfig(ctx, d.Device, keys)
		}
		for _, k := range keys {
			r := model.ConfigReading{Key: k}
			if err != nil {
				r.Error = err.Error()
			} else {
				s := got[k]
				r.Default, r.Current, r.Next = s.Default, s.Current, s.Next
			}
			devs[i].Config = append(devs[i].Config, r)
		}
	}
	return devs
}
