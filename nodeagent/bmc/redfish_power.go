package bmc

import (
	"context"
	"fmt"
	"slices"

	"github.com/stmcginnis/gofish/schemas"
)

// PowerState implements BMC.
func (r *Redfish) PowerState(ctx context.Context) (PowerState, error) {
	sys, err := r.system(ctx)
	if err != nil {
		return StateUnknown, err
	}
	return powerStateOf(sys), nil
}

func powerStateOf(sys *schemas.ComputerSystem) PowerState {
	if sys.PowerState == "" {
		return StateUnknown
	}
	return PowerState(sys.PowerState)
}

// PowerOn implements BMC. It sends "On", or "ForceOn" on systems that only
// allow that.
func (r *Redfish) PowerOn(ctx context.Context) error {
	sys, err := r.system(ctx)
	if err != nil {
		return err
	}
	if powerStateOf(sys) == StateOn {
		return nil
	}
	return r.reset(sys, "power on", ResetOn, ResetForceOn)
}

// PowerOff implements BMC.
func (r *Redfish) PowerOff(ctx context.Context) error {
	sys, err := r.system(ctx)
	if err != nil {
		return err
	}
	if powerStateOf(sys) == StateOff {
		return nil
	}
	return r.reset(sys, "power off", ResetForceOff)
}

// Reset implements BMC.
func (r *Redfish) Reset(ctx context.Context, kind ResetKind) error {
	if !kind.Valid() {
		return fmt.Errorf("bmc: reset: unknown reset kind %q", kind)
	}
	sys, err := r.system(ctx)
	if err != nil {
		return err
	}
	return r.reset(sys, "reset "+string(kind), kind)
}

// reset sends the first of kinds the system allows. The allowable values
// come from the Reset action's annotation or its ActionInfo; checking them
// here gives a clear ErrUnsupported instead of a vendor 400, and gofish
// would refuse a disallowed value anyway with an unwrappable error.
func (r *Redfish) reset(sys *schemas.ComputerSystem, op string, kinds ...ResetKind) error {
	doc, err := parseSystem(sys.RawData)
	if err != nil {
		return r.wrap(op, err)
	}
	if doc.Actions.Reset == nil || doc.Actions.Reset.Target == "" {
		return fmt.Errorf("bmc: %s: system %s has no ComputerSystem.Reset action: %w", op, sys.ID, ErrUnsupported)
	}
	allowed, err := sys.GetSupportedResetTypes()
	if err != nil {
		// An unreadable ActionInfo is the BMC's problem, not a reason to
		// refuse: send the reset and let the BMC judge it.
		allowed = nil
	}
	kind := kinds[0]
	if len(allowed) > 0 {
		i := slices.IndexFunc(kinds, func(k ResetKind) bool {
			return slices.Contains(allowed, schemas.ResetType(k))
		})
		if i < 0 {
			return fmt.Errorf("bmc: %s: reset type %s not among the system's allowed %v: %w", op, kind, allowed, ErrUnsupported)
		}
		kind = kinds[i]
	}
	if _, err := sys.Reset(schemas.ResetType(kind)); err != nil {
		return r.wrap(op, err)
	}
	return nil
}
