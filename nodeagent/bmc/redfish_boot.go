package bmc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/stmcginnis/gofish/schemas"
)

// SetOneTimeBoot implements BMC. It PATCHes only BootSourceOverrideTarget
// and BootSourceOverrideEnabled=Once. The override mode (UEFI/Legacy) is
// deliberately left alone: sending it flips some BMCs between firmware
// modes, and ibex nodes boot UEFI as configured.
func (r *Redfish) SetOneTimeBoot(ctx context.Context, target BootTarget) error {
	if target == "" {
		return errors.New("bmc: set one-time boot: empty target")
	}
	op := "set one-time boot to " + string(target)
	// gofish sends If-Match with the ETag it just read. A 412 means the
	// system changed in between (say, a reset consumed an older override);
	// re-read and try once more rather than fail the caller.
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		err = r.setOneTimeBoot(ctx, op, target)
		var re *RedfishError
		if !errors.As(err, &re) || re.StatusCode != http.StatusPreconditionFailed {
			break
		}
	}
	return err
}

func (r *Redfish) setOneTimeBoot(ctx context.Context, op string, target BootTarget) error {
	sys, err := r.system(ctx)
	if err != nil {
		return err
	}
	doc, err := parseSystem(sys.RawData)
	if err != nil {
		return r.wrap(op, err)
	}
	if !doc.HasBoot {
		return fmt.Errorf("bmc: %s: system %s has no Boot settings: %w", op, sys.ID, ErrUnsupported)
	}
	if doc.AllowedTargets != nil && !slices.Contains(doc.AllowedTargets, string(target)) {
		return fmt.Errorf("bmc: %s: target not among the system's allowed %v: %w", op, doc.AllowedTargets, ErrUnsupported)
	}
	// A fresh Boot, not a copy of sys.Boot: gofish marshals every non-empty
	// field, and echoing read-only annotations back makes BMCs reject the
	// PATCH.
	err = sys.SetBoot(&schemas.Boot{
		BootSourceOverrideTarget:  schemas.BootSource(target),
		BootSourceOverrideEnabled: schemas.OnceBootSourceOverrideEnabled,
	})
	return r.wrap(op, err)
}
