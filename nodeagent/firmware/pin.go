package firmware

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Outcome says what Pin did to a device that ended compliant.
type Outcome string

const (
	// AlreadyCompliant: nothing to do; the device was not touched.
	AlreadyCompliant Outcome = "already-compliant"
	// ResetOnly: flash already held the pinned version, pending reset;
	// Pin only reset and verified. Re-burning the same version would wear
	// flash and take minutes for no change (mstflint itself says "already
	// updated on flash, pending reset").
	ResetOnly Outcome = "reset-only"
	// Burned: Pin verified the image digest, burned, reset and verified.
	Burned Outcome = "burned"
)

// Step is one timed stage of Pin, for the audit trail.
type Step struct {
	Name  string
	Start time.Time
	End   time.Time
	Err   string `json:",omitempty"`
}

// Evidence is what Pin did and saw, returned on success and on failure
// alike so the node's record shows versions before and after, the digest
// that was checked and when each step ran.
type Evidence struct {
	Device        string
	PSID          string
	PinnedVersion string
	Image         string
	WantSHA256    string // from the policy
	GotSHA256     string // of the staged file; "" if the image was not needed
	BurnedBefore  string
	RunningBefore string
	BurnedAfter   string
	RunningAfter  string
	Before        *Query
	After         *Query
	Outcome       Outcome // set only on success
	Start, End    time.Time
	Steps         []Step
}

// QuarantineError is every error Pin returns: the device could not be
// brought to, or shown to be at, the pinned firmware, so the node must be
// kept out of scheduling until someone looks. Touched says whether Pin had
// already issued a burn or reset, i.e. whether the device may be in a state
// nobody chose.
type QuarantineError struct {
	Device  string
	Step    string
	Reason  string
	Touched bool
	Err     error
}

func (e *QuarantineError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "firmware: quarantine %s: %s: %s", e.Device, e.Step, e.Reason)
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if e.Touched {
		b.WriteString(" (device was modified: burn or reset already issued)")
	}
	return b.String()
}

func (e *QuarantineError) Unwrap() error { return e.Err }

// Pin brings device to the firmware its PSID is pinned to:
//
//  1. query the device; its PSID must have a rule;
//  2. if burned and running already match: done, untouched;
//  3. if only running differs (pinned version burned, pending reset):
//     skip to 6;
//  4. stage the rule's image from store and check its sha256 against the
//     policy, and, if the flasher can, that the image's own PSID and
//     version match the rule; refuse to burn otherwise;
//  5. burn the staged copy;
//  6. reset, re-query, and require PSID unchanged, flash == running ==
//     pinned.
//
// Every failure, and every result Pin cannot verify, is a
// *QuarantineError. Evidence is returned either way. Pin must not run twice
// at once for one device; the caller serialises per device.
func Pin(ctx context.Context, f Flasher, device string, policy Policy, store FileStore) (Evidence, error) {
	p := &pinRun{ev: Evidence{Device: device, Start: time.Now()}, device: device}
	err := p.run(ctx, f, policy, store)
	p.ev.End = time.Now()
	return p.ev, err
}

type pinRun struct {
	ev      Evidence
	device  string
	touched bool
}

func (p *pinRun) quarantine(step, reason string, err error) error {
	return &QuarantineError{Device: p.device, Step: step, Reason: reason, Touched: p.touched, Err: err}
}

// step runs fn as a timed, recorded step.
func (p *pinRun) step(name string, fn func() error) error {
	s := Step{Name: name, Start: time.Now()}
	err := fn()
	s.End = time.Now()
	if err != nil {
		s.Err = err.Error()
	}
	p.ev.Steps = append(p.ev.Steps, s)
	return err
}

func (p *pinRun) run(ctx context.Context, f Flasher, policy Policy, store FileStore) error {
	var before Query
	if err := p.step("query", func() (err error) { before, err = f.Query(ctx, p.device); return }); err != nil {
		return p.quarantine("query", "cannot read current firmware", err)
	}
	p.ev.Before, p.ev.PSID = &before, before.PSID
	p.ev.BurnedBefore, p.ev.RunningBefore = before.FWVersion, before.Running()

	res := Check(ObservedFromQuery(p.device, before), policy)
	if res.Status == UnknownPSID {
		return p.quarantine("policy", strings.Join(res.Reasons, "; "), nil)
	}
	rule, _ := policy.Rule(before.PSID)
	p.ev.PinnedVersion, p.ev.Image, p.ev.WantSHA256 = rule.Version, rule.Image, rule.SHA256
	if res.Compliant() {
		p.ev.After, p.ev.BurnedAfter, p.ev.RunningAfter = &before, before.FWVersion, before.Running()
		p.ev.Outcome = AlreadyCompliant
		return nil
	}

	outcome := ResetOnly
	if !SameVersion(before.FWVersion, rule.Version) {
		if err := p.burn(ctx, f, rule, store, before.PSID); err != nil {
			return err
		}
		outcome = Burned
	}

	p.touched = true
	if err := p.step("reset", func() error { return f.Reset(ctx, p.device) }); err != nil {
		return p.quarantine("reset", "firmware reset failed; running firmware unknown", err)
	}
	var after Query
	if err := p.step("verify", func() (err error) { after, err = f.Query(ctx, p.device); return }); err != nil {
		return p.quarantine("verify", "cannot re-query after reset; result unverifiable", err)
	}
	p.ev.After, p.ev.BurnedAfter, p.ev.RunningAfter = &after, after.FWVersion, after.Running()
	if after.PSID != before.PSID {
		return p.quarantine("verify", fmt.Sprintf("PSID changed from %s to %s", before.PSID, after.PSID), nil)
	}
	if !SameVersion(after.FWVersion, rule.Version) || !SameVersion(after.Running(), rule.Version) || after.PendingReset {
		return p.quarantine("verify", fmt.Sprintf("after reset flash holds %s and %s runs, pinned %s",
			after.FWVersion, after.Running(), rule.Version), nil)
	}
	p.ev.Outcome = outcome
	return nil
}

// burn stages and checks the image, then burns it.
func (p *pinRun) burn(ctx context.Context, f Flasher, rule Rule, store FileStore, psid string) error {
	var path, digest string
	var cleanup func()
	if err := p.step("stage", func() (err error) { path, digest, cleanup, err = stage(ctx, store, rule.Image); return }); err != nil {
		return p.quarantine("stage", "cannot fetch pinned image", err)
	}
	defer cleanup()
	p.ev.GotSHA256 = digest
	if digest != rule.SHA256 {
		return p.quarantine("digest", fmt.Sprintf("image %s has sha256 %s, policy pins %s; refusing to burn", rule.Image, digest, rule.SHA256), nil)
	}
	if iq, ok := f.(ImageQuerier); ok {
		var img Query
		if err := p.step("image-check", func() (err error) { img, err = iq.QueryImage(ctx, path); return }); err != nil {
			return p.quarantine("image-check", "cannot read the image's own PSID and version", err)
		}
		if img.PSID != psid || !SameVersion(img.FWVersion, rule.Version) {
			return p.quarantine("image-check", fmt.Sprintf("image %s is %s for PSID %s, but the rule pins %s for PSID %s; refusing to burn",
				rule.Image, img.FWVersion, img.PSID, rule.Version, psid), nil)
		}
	}
	p.touched = true
	if err := p.step("burn", func() error { return f.Burn(ctx, p.device, path) }); err != nil {
		return p.quarantine("burn", "burn failed; flash contents unknown", err)
	}
	return nil
}
