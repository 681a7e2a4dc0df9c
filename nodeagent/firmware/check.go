package firmware

import (
	"fmt"

	"github.com/ibex-hpc/ibex/nodeagent/hca"
)

// Status is the outcome of Check.
type Status int

const (
	// Compliant: running (and, when visible, burned) firmware is pinned.
	Compliant Status = iota
	// Drift: the PSID is pinned but the device is not at that version.
	Drift
	// UnknownPSID: the policy has no rule for the board. Not compliant:
	// unpinned hardware is exactly what pinning exists to catch.
	UnknownPSID
)

func (s Status) String() string {
	switch s {
	case Compliant:
		return "compliant"
	case Drift:
		return "drift"
	case UnknownPSID:
		return "unknown-psid"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Observed is a device's firmware as some source saw it. Burned is empty
// when the source cannot see flash (sysfs shows only running firmware).
type Observed struct {
	Device  string
	PSID    string
	Running string
	Burned  string
}

// ObservedFromQuery uses mstflint output, which shows flash and running.
func ObservedFromQuery(device string, q Query) Observed {
	return Observed{Device: device, PSID: q.PSID, Running: q.Running(), Burned: q.FWVersion}
}

// ObservedFromHCA uses a sysfs inventory entry: board_id is the PSID and
// fw_ver the running firmware; flash is not visible there.
func ObservedFromHCA(d hca.Device) Observed {
	return Observed{Device: d.Name, PSID: d.PSID(), Running: d.FWVersion}
}

// Result says whether a device complies and, if not, why.
type Result struct {
	Status Status
	Observed
	// Pinned is the policy's version for the PSID ("" for UnknownPSID).
	Pinned string
	// Reasons explain Drift or UnknownPSID; Notes qualify a Compliant
	// verdict (e.g. flash was not inspected).
	Reasons []string
	Notes   []string
}

// Compliant reports whether Status is Compliant.
func (r Result) Compliant() bool { return r.Status == Compliant }

// Check compares an observation against the policy. A device is compliant
// only when its running firmware is the pinned version and, if its flash is
// visible, the flash holds the pinned version too: a different burned
// version is drift even while the right one runs, because the next reset
// or reboot would activate it.
func Check(o Observed, p Policy) Result {
	res := Result{Observed: o}
	if o.PSID == "" {
		res.Status = UnknownPSID
		res.Reasons = append(res.Reasons, "device reports no PSID, so no rule can apply")
		return res
	}
	rule, ok := p.Rule(o.PSID)
	if !ok {
		res.Status = UnknownPSID
		res.Reasons = append(res.Reasons, fmt.Sprintf("PSID %s has no pinned firmware in the policy; unpinned boards are not compliant", o.PSID))
		return res
	}
	res.Pinned = rule.Version
	runningPinned := SameVersion(o.Running, rule.Version)
	burnedPinned := SameVersion(o.Burned, rule.Version)
	switch {
	case o.Running == "":
		res.Reasons = append(res.Reasons, fmt.Sprintf("running firmware unknown, pinned %s", rule.Version))
	case !runningPinned && burnedPinned:
		res.Reasons = append(res.Reasons, fmt.Sprintf("pinned %s is burned but %s still runs: pending firmware reset", rule.Version, o.Running))
	case !runningPinned:
		res.Reasons = append(res.Reasons, fmt.Sprintf("running firmware %s, pinned %s", o.Running, rule.Version))
	}
	switch {
	case o.Burned == "":
		res.Notes = append(res.Notes, "flash not inspected: this source shows running firmware only")
	case !burnedPinned:
		res.Reasons = append(res.Reasons, fmt.Sprintf("flash holds %s, pinned %s: a reset or reboot would activate it", o.Burned, rule.Version))
	}
	if len(res.Reasons) > 0 {
		res.Status = Drift
	}
	return res
}
