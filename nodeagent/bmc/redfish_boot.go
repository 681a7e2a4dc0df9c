package bmc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/stmcginnis/gofish"
	"github.com/stmcginnis/gofish/schemas"
)

// uefiTargets are the boot targets that ibex boots in UEFI mode: network
// boot (PXE, UEFI HTTP) and virtual media load its UEFI loaders, and a
// one-time PXE left in Legacy mode (the BMC's default on many servers)
// boots the legacy PXE ROM, which ibex does not serve.
var uefiTargets = []BootTarget{BootPxe, BootUefiHTTP, BootCd, BootUsb, BootUefiShell, "UefiTarget", "RemoteDrive"}

// SetOneTimeBoot implements BMC. It PATCHes BootSourceOverrideTarget and
// BootSourceOverrideEnabled=Once and, for the targets in uefiTargets,
// BootSourceOverrideMode=UEFI where the system has that property, allows
// UEFI and is not already in UEFI mode. Other targets (Hdd, BiosSetup)
// leave the mode alone, as the installed OS booted in whatever mode it was
// installed in.
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
		err = r.do(ctx, func(c *gofish.APIClient) error { return r.setOneTimeBoot(c, op, target) })
		var re *RedfishError
		if !errors.As(err, &re) || re.StatusCode != http.StatusPreconditionFailed {
			break
		}
	}
	return err
}

func (r *Redfish) setOneTimeBoot(c *gofish.APIClient, op string, target BootTarget) error {
	sys, err := r.getSystem(c)
	if err != nil {
		return err
	}
	doc, err := parseSystem(sys.RawData)
	if err != nil {
		return r.wrap(op, err)
	}
	if !doc.HasBoot || !doc.HasOverride {
		return fmt.Errorf("bmc: %s: system %s has no boot override (Boot.BootSourceOverrideTarget): %w", op, sys.ID, ErrUnsupported)
	}
	if doc.AllowedTargets != nil && !slices.Contains(doc.AllowedTargets, string(target)) {
		return fmt.Errorf("bmc: %s: target not among the system's allowed %v: %w", op, doc.AllowedTargets, ErrUnsupported)
	}
	// A fresh Boot, not a copy of sys.Boot: gofish marshals every non-empty
	// field, and echoing read-only annotations back makes BMCs reject the
	// PATCH.
	boot := &schemas.Boot{
		BootSourceOverrideTarget:  schemas.BootSource(target),
		BootSourceOverrideEnabled: schemas.OnceBootSourceOverrideEnabled,
	}
	if slices.Contains(uefiTargets, target) && doc.HasMode && doc.Mode != string(schemas.UEFIBootSourceOverrideMode) &&
		(doc.AllowedModes == nil || slices.Contains(doc.AllowedModes, string(schemas.UEFIBootSourceOverrideMode))) {
		boot.BootSourceOverrideMode = schemas.UEFIBootSourceOverrideMode
	}
	return r.wrap(op, sys.SetBoot(boot))
}
