package firmware

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"unicode"
)

// Mstflint is the real Flasher. It runs the tools of the open-source
// mstflint package (Debian/Ubuntu "mstflint"):
//
//	query  mstflint -d DEV q
//	burn   mstflint -d DEV -i FILE -y burn
//	reset  mstfwreset -d DEV -y reset
//
// mstflint has no reset command for adapters (its "swreset" is for
// switches), so activation goes through mstfwreset, which ships in the same
// package. mstfwreset refuses to run in virtual machines.
type Mstflint struct {
	// Path and ResetPath are the binaries; "" means "mstflint" and
	// "mstfwreset" from PATH.
	Path      string
	ResetPath string
	// ConfigPath is mstconfig (config.go); "" means "mstconfig" from PATH.
	ConfigPath string
	// BurnArgs and ResetArgs are extra flags placed before the command
	// word, e.g. ResetArgs {"--level", "3"} for a driver restart and PCI
	// reset instead of the tool's default.
	BurnArgs  []string
	ResetArgs []string
	// Run executes a command and returns its combined stdout and stderr
	// (mstflint prints its "-E-" errors on stdout). nil means os/exec; tests
	// substitute it to check argument lists.
	Run func(ctx context.Context, name string, args ...string) ([]byte, error)
}

var _ interface {
	Flasher
	ImageQuerier
} = (*Mstflint)(nil)

// Query runs `mstflint -d DEV q` and parses its output.
func (m *Mstflint) Query(ctx context.Context, device string) (Query, error) {
	if err := checkDevice(device); err != nil {
		return Query{}, err
	}
	out, err := m.run(ctx, m.bin(), "-d", device, "q")
	if err != nil {
		return Query{}, err
	}
	return ParseQuery(out)
}

// QueryImage runs `mstflint -i FILE q` and parses its output.
func (m *Mstflint) QueryImage(ctx context.Context, imagePath string) (Query, error) {
	abs, err := filepath.Abs(imagePath)
	if err != nil {
		return Query{}, fmt.Errorf("mstflint: image path: %w", err)
	}
	out, err := m.run(ctx, m.bin(), "-i", abs, "q")
	if err != nil {
		return Query{}, err
	}
	return ParseQuery(out)
}

// Burn runs `mstflint -d DEV -i FILE -y burn`. The path is made absolute
// so that a file name starting with '-' cannot be read as a flag.
func (m *Mstflint) Burn(ctx context.Context, device, imagePath string) error {
	if err := checkDevice(device); err != nil {
		return err
	}
	abs, err := filepath.Abs(imagePath)
	if err != nil {
		return fmt.Errorf("mstflint: image path: %w", err)
	}
	args := append([]string{"-d", device, "-i", abs, "-y"}, m.BurnArgs...)
	_, err = m.run(ctx, m.bin(), append(args, "burn")...)
	return err
}

// Reset runs `mstfwreset -d DEV -y reset`.
func (m *Mstflint) Reset(ctx context.Context, device string) error {
	if err := checkDevice(device); err != nil {
		return err
	}
	bin := m.ResetPath
	if bin == "" {
		bin = "mstfwreset"
	}
	args := append([]string{"-d", device, "-y"}, m.ResetArgs...)
	_, err := m.run(ctx, bin, append(args, "reset")...)
	return err
}

func (m *Mstflint) bin() string {
	if m.Path == "" {
		return "mstflint"
	}
	return m.Path
}

// run executes a tool and turns a non-zero exit, or an "-E-" line despite a
// zero exit, into an error that quotes the tool's own error lines.
func (m *Mstflint) run(ctx context.Context, name string, args ...string) (string, error) {
	run := m.Run
	if run == nil {
		run = execRun
	}
	b, err := run(ctx, name, args...)
	out := string(b)
	cmd := name + " " + strings.Join(args, " ")
	if err != nil {
		return out, fmt.Errorf("%s: %w: %s", cmd, err, summarize(out))
	}
	if errLines := toolErrors(out); errLines != "" {
		return out, fmt.Errorf("%s: exited 0 but reported: %s", cmd, errLines)
	}
	return out, nil
}

func execRun(ctx context.Context, name string, args ...string) ([]byte, error) {
	return exec.CommandContext(ctx, name, args...).CombinedOutput()
}

func toolErrors(out string) string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "-E-") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "; ")
}

// summarize picks what to show of a failed tool's output: its "-E-" lines,
// else its last line, at most 512 bytes.
func summarize(out string) string {
	s := toolErrors(out)
	if s == "" {
		lines := strings.Split(strings.TrimSpace(out), "\n")
		s = strings.TrimSpace(lines[len(lines)-1])
	}
	if s == "" {
		s = "(no output)"
	}
	if len(s) > 512 {
		s = s[:512] + "..."
	}
	return s
}

// checkDevice refuses device strings that could be taken as flags or carry
// whitespace: the device comes from inventory and policy, not from a human
// typing at a prompt.
func checkDevice(device string) error {
	if device == "" || strings.HasPrefix(device, "-") || strings.IndexFunc(device, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}) >= 0 {
		return fmt.Errorf("mstflint: invalid device %q", device)
	}
	return nil
}

// ExitCode returns the exit status carried by an error from Mstflint, or -1.
// mstflint exits 1 on errors and 7 when a burn was declined at its prompt.
func ExitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}
