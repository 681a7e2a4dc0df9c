package firmware

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Firmware settings (mstconfig's non-volatile configuration: SRIOV_EN,
// NUM_OF_VFS, LINK_TYPE_P1 ...). Like firmware, a setting has a value in
// effect and one the next firmware reset or boot activates; a firmware
// profile may change some, and the node's cleaning puts them back to the
// firmware's defaults. Both must be shown, not assumed: every value here
// is read back from the device.

// Setting is one configuration parameter as the device reports it.
type Setting struct {
	Default string
	Current string
	Next    string // "Next Boot": what a firmware reset activates
}

// Configurer is implemented by flashers that can read and change the
// device's settings. Changes take effect at the next Reset.
type Configurer interface {
	// QueryConfig reports the named parameters. A name the device does
	// not know is an error.
	QueryConfig(ctx context.Context, device string, keys []string) (map[string]Setting, error)
	// SetConfig sets parameters for the next boot.
	SetConfig(ctx context.Context, device string, values map[string]string) error
}

// mstconfig: `mstconfig -d DEV -e query KEY...` prints
//
//	Device #1:
//	----------
//
//	Device type:    ConnectX6
//	...
//	Configurations:                              Default         Current         Next Boot
//	*        SRIOV_EN                            False(0)        True(1)         True(1)
//	         NUM_OF_VFS                          0               8               8
//
// ('*' marks a parameter changed from its default), and `mstconfig -d DEV
// -y set KEY=VALUE...` sets them for the next boot.

// maxConfigOutput bounds what ParseConfigQuery accepts.
const maxConfigOutput = 1 << 20

// ParseConfigQuery parses `mstconfig -e query` output. Every parameter
// line under the Configurations header must have its three columns;
// anything else there, an "-E-" line or a parameter printed twice fails:
// a setting must not be judged on output only half understood.
func ParseConfigQuery(out string) (map[string]Setting, error) {
	if len(out) > maxConfigOutput {
		return nil, fmt.Errorf("mstconfig query: output is %d bytes, more than %d", len(out), maxConfigOutput)
	}
	if e := toolErrors(out); e != "" {
		return nil, fmt.Errorf("mstconfig query failed: %s", e)
	}
	got := map[string]Setting{}
	in := false
	for n, line := range strings.Split(out, "\n") {
		line = strings.TrimRight(line, "\r")
		if !utf8.ValidString(line) || strings.IndexFunc(line, func(r rune) bool { return unicode.IsControl(r) && r != '\t' }) >= 0 {
			return nil, fmt.Errorf("mstconfig query: line %d is not printable text", n+1)
		}
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "Configurations:") {
			if !strings.Contains(t, "Default") || !strings.Contains(t, "Current") || !strings.Contains(t, "Next Boot") {
				return nil, fmt.Errorf("mstconfig query: %q: want the Default, Current and Next Boot columns (-e)", t)
			}
			in = true
			continue
		}
		if !in || t == "" {
			continue
		}
		if strings.HasPrefix(t, "-W-") || strings.HasPrefix(t, "-I-") || strings.HasPrefix(t, "The '*' shows") {
			continue // mstconfig's footnote on the '*' column
		}
		f := strings.Fields(t)
		if len(f) > 0 && f[0] == "*" {
			f = f[1:]
		}
		if len(f) != 4 {
			return nil, fmt.Errorf("mstconfig query: line %d %q: want NAME DEFAULT CURRENT NEXT", n+1, t)
		}
		if _, dup := got[f[0]]; dup {
			return nil, fmt.Errorf("mstconfig query: %s appears twice", f[0])
		}
		got[f[0]] = Setting{Default: f[1], Current: f[2], Next: f[3]}
	}
	if !in {
		return nil, errors.New("mstconfig query: no Configurations section")
	}
	return got, nil
}

// checkConfigToken refuses parameter names and values that could be read
// as flags or carry whitespace or '=' (they go on mstconfig's command
// line as KEY=VALUE).
func checkConfigToken(s string) error {
	if s == "" || len(s) > 64 || strings.HasPrefix(s, "-") || strings.IndexFunc(s, func(r rune) bool {
		return !(r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("_.()-", r)))
	}) >= 0 {
		return fmt.Errorf("mstconfig: invalid parameter or value %q", s)
	}
	return nil
}

func (m *Mstflint) configBin() string {
	if m.ConfigPath == "" {
		return "mstconfig"
	}
	return m.ConfigPath
}

// QueryConfig runs `mstconfig -d DEV -e query KEY...`.
func (m *Mstflint) QueryConfig(ctx context.Context, device string, keys []string) (map[string]Setting, error) {
	if err := checkDevice(device); err != nil {
		return nil, err
	}
	args := []string{"-d", device, "-e", "query"}
	for _, k := range keys {
		if err := checkConfigToken(k); err != nil {
			return nil, err
		}
		args = append(args, k)
	}
	out, err := m.run(ctx, m.configBin(), args...)
	if err != nil {
		return nil, err
	}
	got, err := ParseConfigQuery(out)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if _, ok := got[k]; !ok {
			return nil, fmt.Errorf("mstconfig query: %s not reported", k)
		}
	}
	return got, nil
}

// SetConfig runs `mstconfig -d DEV -y set KEY=VALUE...`.
func (m *Mstflint) SetConfig(ctx context.Context, device string, values map[string]string) error {
	if err := checkDevice(device); err != nil {
		return err
	}
	args := []string{"-d", device, "-y", "set"}
	for _, k := range slices.Sorted(mapKeys(values)) {
		if err := checkConfigToken(k); err != nil {
			return err
		}
		if err := checkConfigToken(values[k]); err != nil {
			return err
		}
		args = append(args, k+"="+values[k])
	}
	_, err := m.run(ctx, m.configBin(), args...)
	return err
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

var _ Configurer = (*Mstflint)(nil)

// FakeSetting is a simulated parameter.
type FakeSetting = Setting

// MethodQueryConfig and MethodSetConfig name the Configurer calls for
// Fake's failure injection and call log.
const (
	MethodQueryConfig Method = "QueryConfig"
	MethodSetConfig   Method = "SetConfig"
)

var _ Configurer = (*Fake)(nil)

// QueryConfig reports the simulated parameters.
func (f *Fake) QueryConfig(ctx context.Context, device string, keys []string) (map[string]Setting, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.begin(ctx, MethodQueryConfig, device, "")
	if err != nil {
		return nil, err
	}
	out := map[string]Setting{}
	for _, k := range keys {
		s, ok := d.Config[k]
		if !ok {
			err := fmt.Errorf("fake: -E- The Device doesn't support %s parameter", k)
			f.calls[len(f.calls)-1].Err = err
			return nil, err
		}
		out[k] = s
	}
	return out, nil
}

// SetConfig changes the simulated parameters' next-boot values.
func (f *Fake) SetConfig(ctx context.Context, device string, values map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.begin(ctx, MethodSetConfig, device, "")
	if err != nil {
		return err
	}
	for k := range values {
		if _, ok := d.Config[k]; !ok {
			err := fmt.Errorf("fake: -E- The Device doesn't support %s parameter", k)
			f.calls[len(f.calls)-1].Err = err
			return err
		}
	}
	for k, v := range values {
		s := d.Config[k]
		s.Next = v
		d.Config[k] = s
	}
	return nil
}
