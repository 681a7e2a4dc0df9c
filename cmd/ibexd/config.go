package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	ucli "github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"
	"gopkg.in/yaml.v3"
)

// The config file: a YAML map from flag names to values, equivalent to
// the command line. urfave/cli's altsrc applies it to every flag the
// command line (or the environment) left unset; what it does not do, this
// file does: refuse keys that are no flag (altsrc ignores them, so a typo
// would silently leave the default), refuse empty values, bound the file's
// size and read only local files (altsrc's own loader also fetches URLs).

// maxConfigBytes bounds the config file: a few dozen flags fit in 4 KiB.
const maxConfigBytes = 1 << 20

// withConfigFile adds --config to app and makes each of its flags settable
// from that file.
func withConfigFile(app *ucli.App) {
	flags := make([]ucli.Flag, 0, len(app.Flags)+1)
	for _, f := range app.Flags {
		flags = append(flags, fromFile(f))
	}
	flags = append(flags, &ucli.StringFlag{Name: "config", EnvVars: []string{"IBEXD_CONFIG"},
		Usage: "YAML `FILE` setting any of these flags (key: the flag name); flags on the command line win"})
	app.Flags = flags
	before := app.Before
	app.Before = func(c *ucli.Context) error {
		if err := applyConfigFile(c, flags); err != nil {
			return err
		}
		if before != nil {
			return before(c)
		}
		return nil
	}
}

// fromFile wraps a flag so that altsrc can set it. A flag type without a
// case here is a programming error, caught by the config tests.
func fromFile(f ucli.Flag) ucli.Flag {
	switch f := f.(type) {
	case *ucli.BoolFlag:
		return altsrc.NewBoolFlag(f)
	case *ucli.StringFlag:
		return altsrc.NewStringFlag(f)
	case *ucli.StringSliceFlag:
		return altsrc.NewStringSliceFlag(f)
	case *ucli.IntFlag:
		return altsrc.NewIntFlag(f)
	case *ucli.Uint64Flag:
		return altsrc.NewUint64Flag(f)
	case *ucli.DurationFlag:
		return altsrc.NewDurationFlag(f)
	}
	panic(fmt.Sprintf("ibexd: flag %v has a type the config file cannot set", f.Names()))
}

// applyConfigFile reads --config, if given, checks its keys against the
// flags and sets the flags the command line did not.
func applyConfigFile(c *ucli.Context, flags []ucli.Flag) error {
	path := c.String("config")
	if path == "" {
		return nil
	}
	values, err := readConfigFile(path, flags)
	if err != nil {
		return fmt.Errorf("--config %s: %w", path, err)
	}
	if err := altsrc.ApplyInputSourceValues(c, altsrc.NewMapInputSource(path, values), flags); err != nil {
		return fmt.Errorf("--config %s: %w", path, err)
	}
	return nil
}

// readConfigFile parses the file into altsrc's map, refusing anything that
// is not a map of known flag names to values.
func readConfigFile(path string, flags []ucli.Flag) (map[any]any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxConfigBytes {
		return nil, fmt.Errorf("larger than %d KiB", maxConfigBytes>>10)
	}
	return parseConfig(b, flags)
}

// parseConfig checks a config file's contents (see readConfigFile).
func parseConfig(b []byte, flags []ucli.Flag) (map[any]any, error) {
	var values map[any]any
	if err := yaml.Unmarshal(b, &values); err != nil {
		return nil, fmt.Errorf("not a YAML map of flag names to values: %w", err)
	}
	known := map[string]bool{}
	var names []string
	for _, fl := range flags {
		for _, n := range fl.Names() {
			if n != "config" {
				known[n] = true
				names = append(names, n)
			}
		}
	}
	var errs []error
	for k, v := range values {
		name, ok := k.(string)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("key %v is not a flag name", k))
		case !known[name]:
			msg := fmt.Sprintf("unknown key %q: the keys are ibexd's flag names (ibexd --help)", name)
			if s := closest(name, names); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			errs = append(errs, errors.New(msg))
		case v == nil:
			errs = append(errs, fmt.Errorf("key %q has no value (write \"\" for an empty one)", name))
		}
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return values, errors.Join(errs...)
}

// closest is the flag name within edit distance 2 of s, if any.
func closest(s string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := editDistance(s, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
