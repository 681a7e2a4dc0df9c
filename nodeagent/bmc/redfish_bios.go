package bmc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/stmcginnis/gofish"
	"github.com/stmcginnis/gofish/schemas"
)

// BIOSSettings is implemented by BMCs that can read and change a system's
// BIOS attributes (Redfish Bios.Attributes). It is separate from BMC so
// that BMC implementations elsewhere keep compiling; test for it with a
// type assertion.
//
// Changing BIOS attributes is a two-step affair on every real BMC: the new
// values are written to the Bios settings resource as pending, and the
// BIOS takes them at the next boot. So a caller sets the attributes, resets
// the host (Reset(ctx, ResetForceRestart) or off then on), and reads them
// back with BIOSAttributes to verify.
type BIOSSettings interface {
	// BIOSAttributes returns the attributes the BIOS currently runs with,
	// each value rendered as text (FormatBIOSValue), so that they compare
	// with the text values of a firmware profile.
	BIOSAttributes(ctx context.Context) (map[string]string, error)
	// SetBIOSAttributes makes attrs pending for the next boot. Names the
	// BIOS does not have, or values that do not fit the attribute's type,
	// are refused before anything is written (ErrUnknownBIOSAttribute).
	// Attributes already at the wanted value are not sent. It returns the
	// apply time it asked for ("" when the BMC offers no choice, which in
	// Redfish means at the next reset).
	SetBIOSAttributes(ctx context.Context, attrs map[string]string) (applyTime string, err error)
}

// ErrUnknownBIOSAttribute is wrapped by SetBIOSAttributes errors for names
// the system's BIOS does not have or values of the wrong type.
var ErrUnknownBIOSAttribute = errors.New("BIOS attribute not offered by this system")

var _ BIOSSettings = (*Redfish)(nil)

// FormatBIOSValue renders a decoded JSON attribute value as a profile
// would write it: strings as they are, integers without a decimal point,
// booleans as true/false, null as "".
func FormatBIOSValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return fmt.Sprint(v)
}

// biosValue converts a profile's text value to the JSON type of the
// attribute's current value: BMCs reject "0" for an integer attribute.
// Only the canonical text of a number or boolean is taken ("7", not
// "007"; "true", not "1"), so that the value read back renders as the
// profile wrote it.
func biosValue(name, text string, cur any) (any, error) {
	if !utf8.ValidString(text) {
		return nil, fmt.Errorf("%s: value is not UTF-8 text: %w", name, ErrUnknownBIOSAttribute)
	}
	switch cur.(type) {
	case bool:
		b, err := strconv.ParseBool(text)
		if err != nil || strconv.FormatBool(b) != text {
			return nil, fmt.Errorf("%s=%q: want true or false: %w", name, text, ErrUnknownBIOSAttribute)
		}
		return b, nil
	case float64, int, int64:
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil || strconv.FormatInt(n, 10) != text || math.Abs(float64(n)) >= 1<<53 {
			return nil, fmt.Errorf("%s=%q: want an integer: %w", name, text, ErrUnknownBIOSAttribute)
		}
		return n, nil
	}
	return text, nil
}

// BIOSAttributes implements BIOSSettings.
func (r *Redfish) BIOSAttributes(ctx context.Context) (map[string]string, error) {
	var out map[string]string
	err := r.do(ctx, func(c *gofish.APIClient) error {
		bios, err := r.getBios(c, "read BIOS attributes")
		if err != nil {
			return err
		}
		out = make(map[string]string, len(bios.Attributes))
		for k, v := range bios.Attributes {
			out[k] = FormatBIOSValue(v)
		}
		return nil
	})
	return out, err
}

// SetBIOSAttributes implements BIOSSettings. It reads the Bios resource,
// refuses names it does not list, PATCHes the others (only those that
// differ) to the resource named by @Redfish.Settings with If-Match, and
// asks for ApplyTime OnReset when the settings resource lists the apply
// times it supports and OnReset among them (Immediate otherwise, if
// listed: the reset that follows then does no harm).
func (r *Redfish) SetBIOSAttributes(ctx context.Context, attrs map[string]string) (string, error) {
	if len(attrs) == 0 {
		return "", errors.New("bmc: set BIOS attributes: none given")
	}
	op := "set BIOS attributes"
	var applyTime string
	err := r.do(ctx, func(c *gofish.APIClient) error {
		bios, err := r.getBios(c, op)
		if err != nil {
			return err
		}
		patch := schemas.SettingsAttributes{}
		var bad []string
		for _, k := range slices.Sorted(maps.Keys(attrs)) {
			cur, ok := bios.Attributes[k]
			if !ok {
				bad = append(bad, fmt.Sprintf("%s: %v", k, ErrUnknownBIOSAttribute))
				continue
			}
			v, err := biosValue(k, attrs[k], cur)
			if err != nil {
				bad = append(bad, err.Error())
				continue
			}
			if FormatBIOSValue(cur) != attrs[k] {
				patch[k] = v
			}
		}
		if len(bad) > 0 {
			return fmt.Errorf("bmc: %s: system %s (registry %q): %s; nothing was written: %w",
				op, r.systemURI, bios.AttributeRegistry, strings.Join(bad, "; "), ErrUnknownBIOSAttribute)
		}
		if len(patch) == 0 {
			return nil
		}
		var at schemas.SettingsApplyTime
		offered := bios.AllowedAttributeUpdateApplyTimes()
		if len(offered) == 4 {
			// gofish lists all four when @Redfish.Settings names none;
			// the settings resource's own annotation may.
			offered = settingsApplyTimes(c, bios)
		}
		if len(offered) > 0 {
			switch {
			case slices.Contains(offered, schemas.OnResetSettingsApplyTime):
				at = schemas.OnResetSettingsApplyTime
			case slices.Contains(offered, schemas.ImmediateSettingsApplyTime):
				at = schemas.ImmediateSettingsApplyTime
			default:
				return fmt.Errorf("bmc: %s: the BMC applies BIOS settings only at %v, not at a reset: %w", op, offered, ErrUnsupported)
			}
		}
		applyTime = string(at)
		return r.wrap(op, bios.UpdateBiosAttributesApplyAt(patch, at))
	})
	return applyTime, err
}

// settingsApplyTimes reads the apply times the Bios settings resource
// allows in its @Redfish.SettingsApplyTime annotation
// (ApplyTime@Redfish.AllowableValues), or nil when it says nothing (or
// cannot be read: the PATCH that follows will tell).
func settingsApplyTimes(c *gofish.APIClient, bios *schemas.Bios) []schemas.SettingsApplyTime {
	raw, err := getRaw(c, bios.ODataID)
	if err != nil {
		return nil
	}
	var b struct {
		Settings struct {
			SettingsObject struct {
				ID string `json:"@odata.id"`
			}
		} `json:"@Redfish.Settings"`
	}
	if json.Unmarshal(raw, &b) != nil || b.Settings.SettingsObject.ID == "" {
		return nil
	}
	if raw, err = getRaw(c, b.Settings.SettingsObject.ID); err != nil {
		return nil
	}
	var set struct {
		ApplyTime struct {
			Allowed []schemas.SettingsApplyTime `json:"ApplyTime@Redfish.AllowableValues"`
		} `json:"@Redfish.SettingsApplyTime"`
	}
	if json.Unmarshal(raw, &set) != nil {
		return nil
	}
	return set.ApplyTime.Allowed
}

// getBios reads the selected system's Bios resource.
func (r *Redfish) getBios(c *gofish.APIClient, op string) (*schemas.Bios, error) {
	sys, err := r.getSystem(c)
	if err != nil {
		return nil, err
	}
	bios, err := sys.Bios()
	if err != nil {
		return nil, r.wrap(op, err)
	}
	if bios == nil {
		return nil, fmt.Errorf("bmc: %s: system %s has no Bios resource: %w", op, sys.ID, ErrUnsupported)
	}
	if len(bios.Attributes) > maxBIOSAttributes {
		return nil, fmt.Errorf("bmc: %s: system %s lists %d BIOS attributes, more than the %d ibex reads", op, sys.ID, len(bios.Attributes), maxBIOSAttributes)
	}
	return bios, nil
}

// maxBIOSAttributes bounds what ibex takes from a BMC: real BIOSes list a
// few hundred to a couple of thousand attributes.
const maxBIOSAttributes = 10000
