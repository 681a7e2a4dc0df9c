package bmc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/stmcginnis/gofish"
	"github.com/stmcginnis/gofish/schemas"
)

// PowerState implements BMC.
func (r *Redfish) PowerState(ctx context.Context) (PowerState, error) {
	st := StateUnknown
	err := r.do(ctx, func(c *gofish.APIClient) error {
		sys, err := r.getSystem(c)
		if err == nil {
			st = powerStateOf(sys)
		}
		return err
	})
	return st, err
}

func powerStateOf(sys *schemas.ComputerSystem) PowerState {
	if sys.PowerState == "" {
		return StateUnknown
	}
	return PowerState(sys.PowerState)
}

// PowerOn implements BMC. It sends "On", or "ForceOn" on systems that only
// allow that, or presses the power button of a host that is off when
// neither is offered.
func (r *Redfish) PowerOn(ctx context.Context) error {
	return r.do(ctx, func(c *gofish.APIClient) error {
		sys, err := r.getSystem(c)
		if err != nil {
			return err
		}
		st := powerStateOf(sys)
		if st == StateOn {
			return nil
		}
		kinds := []ResetKind{ResetOn, ResetForceOn}
		if st == StateOff {
			// Only safe when it is known to be off: the button toggles.
			kinds = append(kinds, ResetPushPowerButton)
		}
		_, err = r.reset(sys, "power on", kinds...)
		return err
	})
}

// PowerOff implements BMC.
func (r *Redfish) PowerOff(ctx context.Context) error {
	return r.do(ctx, func(c *gofish.APIClient) error {
		sys, err := r.getSystem(c)
		if err != nil {
			return err
		}
		if powerStateOf(sys) == StateOff {
			return nil
		}
		_, err = r.reset(sys, "power off", ResetForceOff)
		return err
	})
}

// resetSubstitutes are the reset kinds that do the job of another when the
// BMC does not offer it. ForceRestart and PowerCycle both reboot the host
// at once, without asking the OS; which one a BMC offers varies.
var resetSubstitutes = map[ResetKind][]ResetKind{
	ResetForceRestart: {ResetPowerCycle},
	ResetPowerCycle:   {ResetForceRestart},
	ResetOn:           {ResetForceOn},
	ResetForceOn:      {ResetOn},
}

// Reset implements BMC. It honours the reset types the system allows
// (ResetType@Redfish.AllowableValues or the Reset ActionInfo): a kind the
// BMC does not offer is replaced by an equivalent one it does (see
// resetSubstitutes), and a ForceRestart or PowerCycle on a BMC offering
// neither (HPE Cray EX nodes allow only ForceOff, On and Off) is done as
// ForceOff, a wait until the host reports Off (Config.PowerWait), then On.
// Other kinds the BMC does not offer fail with ErrUnsupported before
// anything is sent.
func (r *Redfish) Reset(ctx context.Context, kind ResetKind) error {
	if !kind.Valid() {
		return fmt.Errorf("bmc: reset: unknown reset kind %q", kind)
	}
	op := "reset " + string(kind)
	cycle := false
	err := r.do(ctx, func(c *gofish.APIClient) error {
		sys, err := r.getSystem(c)
		if err != nil {
			return err
		}
		kinds := append([]ResetKind{kind}, resetSubstitutes[kind]...)
		allowed, err := r.reset(sys, op, kinds...)
		if !errors.Is(err, ErrUnsupported) || !(kind == ResetForceRestart || kind == ResetPowerCycle) || allowed == nil {
			return err
		}
		if offersAny(allowed, ResetForceOff) && offersAny(allowed, ResetOn, ResetForceOn) {
			cycle = true
			return nil
		}
		return err
	})
	if err != nil || !cycle {
		return err
	}
	return r.offThenOn(ctx, op)
}

// offThenOn power-cycles the host by hand: ForceOff, wait for Off, On. It
// never sends On before the BMC reports Off, so a host that refuses to
// power off is not left in an unknown state by a second command.
func (r *Redfish) offThenOn(ctx context.Context, op string) error {
	if err := r.PowerOff(ctx); err != nil {
		return fmt.Errorf("bmc: %s as ForceOff then On: %w", op, err)
	}
	deadline := time.Now().Add(r.cfg.powerWait())
	for {
		st, err := r.PowerState(ctx)
		if err != nil {
			return fmt.Errorf("bmc: %s as ForceOff then On: waiting for Off: %w", op, err)
		}
		if st == StateOff {
			break
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("bmc: %s as ForceOff then On: the host still reports %s %v after ForceOff; not powering it on",
				op, st, r.cfg.powerWait())
		}
		t := time.NewTimer(r.pollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("bmc: %s as ForceOff then On: waiting for Off (last state %s): %w", op, st, ctx.Err())
		case <-t.C:
		}
	}
	if err := r.PowerOn(ctx); err != nil {
		return fmt.Errorf("bmc: %s as ForceOff then On: the host is off, but powering on failed: %w", op, err)
	}
	return nil
}

func offersAny(allowed []schemas.ResetType, kinds ...ResetKind) bool {
	return slices.ContainsFunc(kinds, func(k ResetKind) bool { return slices.Contains(allowed, schemas.ResetType(k)) })
}

// reset sends the first of kinds the system allows and returns the
// allowed types (nil when the BMC does not say). The allowable values come
// from the Reset action's annotation or its ActionInfo; checking them here
// gives a clear ErrUnsupported instead of a vendor 400, and gofish would
// refuse a disallowed value anyway with an unwrappable error.
func (r *Redfish) reset(sys *schemas.ComputerSystem, op string, kinds ...ResetKind) ([]schemas.ResetType, error) {
	doc, err := parseSystem(sys.RawData)
	if err != nil {
		return nil, r.wrap(op, err)
	}
	if doc.Actions.Reset == nil {
		return nil, fmt.Errorf("bmc: %s: system %s has no ComputerSystem.Reset action: %w", op, sys.ID, ErrUnsupported)
	}
	allowed, err := sys.GetSupportedResetTypes()
	if err != nil {
		// An unreadable ActionInfo is the BMC's problem, not a reason to
		// refuse: send the reset and let the BMC judge it.
		allowed = nil
	}
	kind := kinds[0]
	if len(allowed) > 0 {
		i := slices.IndexFunc(kinds, func(k ResetKind) bool { return offersAny(allowed, k) })
		if i < 0 {
			return allowed, fmt.Errorf("bmc: %s: reset type %s not among the system's allowed %v: %w", op, kind, allowed, ErrUnsupported)
		}
		kind = kinds[i]
	}
	if _, err := sys.Reset(schemas.ResetType(kind)); err != nil {
		return allowed, r.wrap(op, err)
	}
	return allowed, nil
}
