package model

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// The firmware challenge's settings part, and the check for unapproved
// firmware: what the server, not the agent, decides about HCA settings.

// ConfigReading is one mstconfig setting of one HCA: the firmware's
// default, the value in effect and the one the next boot (or firmware
// reset) takes.
type ConfigReading struct {
	Key     string `json:"key"`
	Default string `json:"default,omitempty"`
	Current string `json:"current,omitempty"`
	Next    string `json:"next,omitempty"`
	Error   string `json:"error,omitempty"`
}

func (c Challenge) validateConfig() error {
	if len(c.Config) > MaxProfileRules || len(c.ConfigKeys) > MaxProfileRules*MaxProfileSettings {
		return fmt.Errorf("challenge: %d PSIDs with settings, %d default settings", len(c.Config), len(c.ConfigKeys))
	}
	for psid, set := range c.Config {
		if !validPSID(psid) || len(set) > MaxProfileSettings {
			return fmt.Errorf("challenge: settings for PSID %q: %d", psid, len(set))
		}
		for k, v := range set {
			if err := checkSetting(k, v); err != nil {
				return fmt.Errorf("challenge: %w", err)
			}
		}
	}
	for _, k := range c.ConfigKeys {
		if err := checkSetting(k, "0"); err != nil {
			return fmt.Errorf("challenge: %w", err)
		}
	}
	return nil
}

// WantSettings is what the challenge asks of a device's settings: each
// key with the value it must hold ("" for the firmware's default).
func (c Challenge) WantSettings(psid string) map[string]string {
	want := map[string]string{}
	for _, k := range c.ConfigKeys {
		want[k] = ""
	}
	for k, v := range c.Config[psid] {
		want[k] = v
	}
	return want
}

// checkDeviceConfig checks d's settings against the challenge: each key
// read without error, current and next boot equal to the profile's value
// or, for ConfigKeys, to the firmware's default.
func (c Challenge) checkDeviceConfig(d FirmwareDevice) []string {
	want := c.WantSettings(d.PSID)
	var errs []string
	for _, k := range slices.Sorted(maps.Keys(want)) {
		i := slices.IndexFunc(d.Config, func(r ConfigReading) bool { return r.Key == k })
		if i < 0 {
			errs = append(errs, fmt.Sprintf("%s: setting %s not read", d.Device, k))
			continue
		}
		r := d.Config[i]
		v, what := want[k], "the profile's"
		if v == "" {
			v, what = r.Default, "the default"
		}
		switch {
		case r.Error != "":
			errs = append(errs, fmt.Sprintf("%s: setting %s unreadable: %s", d.Device, k, r.Error))
		case v == "":
			errs = append(errs, fmt.Sprintf("%s: setting %s has no default to restore", d.Device, k))
		case !SameSetting(r.Current, v) || !SameSetting(r.Next, v):
			errs = append(errs, fmt.Sprintf("%s: setting %s is %q (next boot %q), %s is %q", d.Device, k, r.Current, r.Next, what, v))
		}
	}
	return errs
}

func configSummary(d FirmwareDevice) string {
	if len(d.Config) == 0 {
		return ""
	}
	parts := make([]string, len(d.Config))
	for i, r := range d.Config {
		parts[i] = r.Key + "=" + r.Current
	}
	return " with " + strings.Join(parts, ",")
}

// SeenFrom is the firmware state a verified answer shows: the version per
// PSID and each setting the challenge checked, as read.
func SeenFrom(profile string, devs []FirmwareDevice) *FirmwareSeen {
	s := &FirmwareSeen{Profile: profile, Versions: map[string]string{}}
	for _, d := range devs {
		for _, r := range d.Readings {
			if r.Source == ReadingRunning && r.Error == "" {
				s.Versions[d.PSID] = r.Version
			}
		}
		for _, r := range d.Config {
			if r.Error != "" {
				continue
			}
			if s.Config == nil {
				s.Config = map[string]map[string]string{}
			}
			if s.Config[d.PSID] == nil {
				s.Config[d.PSID] = map[string]string{}
			}
			s.Config[d.PSID][r.Key] = r.Current
		}
	}
	return s
}

// CheckUnapproved compares the firmware found on a node before a task
// touched it with what ibex last verified there (seen: the baseline pin,
// or the profile of the job that held it). Any difference — another
// version in any reading, a setting ibex left elsewhere, a board ibex
// never saw — is firmware nobody approved: the caller quarantines the
// node. A reading that could not be taken is a difference too.
func CheckUnapproved(before []FirmwareDevice, seen *FirmwareSeen) error {
	if seen == nil {
		return nil // nothing verified yet (a new node): nothing to compare
	}
	if len(before) == 0 {
		return fmt.Errorf("no readings of the firmware as found")
	}
	var errs []string
	for _, d := range before {
		want, ok := seen.Versions[d.PSID]
		if !ok {
			errs = append(errs, fmt.Sprintf("%s: PSID %q, which ibex never verified on this node", d.Device, d.PSID))
			continue
		}
		for _, r := range d.Readings {
			switch {
			case r.Error != "":
				errs = append(errs, fmt.Sprintf("%s: %s unreadable: %s", d.Device, r.Source, r.Error))
			case r.Version != want:
				errs = append(errs, fmt.Sprintf("%s: %s %q, ibex left %q", d.Device, r.Source, r.Version, want))
			}
		}
		for k, v := range seen.Config[d.PSID] {
			i := slices.IndexFunc(d.Config, func(r ConfigReading) bool { return r.Key == k })
			switch {
			case i < 0:
				errs = append(errs, fmt.Sprintf("%s: setting %s not read", d.Device, k))
			case d.Config[i].Error != "":
				errs = append(errs, fmt.Sprintf("%s: setting %s unreadable: %s", d.Device, k, d.Config[i].Error))
			case !SameSetting(d.Config[i].Current, v) || !SameSetting(d.Config[i].Next, v):
				errs = append(errs, fmt.Sprintf("%s: setting %s is %q (next boot %q), ibex left %q", d.Device, k, d.Config[i].Current, d.Config[i].Next, v))
			}
		}
	}
	if len(errs) > 0 {
		slices.Sort(errs)
		return fmt.Errorf("unapproved firmware (neither the baseline pin nor the profile of the job that held the node): %s", strings.Join(errs, "; "))
	}
	return nil
}
