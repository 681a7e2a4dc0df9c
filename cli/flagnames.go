package cli

// Flag names computed once per process. urfave/cli v2 finds a flag by
// calling Names() on each flag in turn, and Names() runs a regexp over
// every name on every call. Before a command's action runs, Command.Run
// asks IsSet of every flag of the command, and each IsSet of a flag that
// was not given walks the command's flags calling Names(): O(flags²)
// regexp runs, about 1,000 for `ibex submit` and its ~40 flags, 0.3 ms of
// every call spent before it connects (perf, held submits in a loop).
//
// cacheFlagNames wraps the flags of every command so that Names() runs
// once; everything else (parsing, help, env vars, actions) is the embedded
// flag's own. urfave/cli recognises a *BoolFlag by its type in two places,
// for Hidden (left out of completion) and DisableDefaultText (help): bool
// flags with either set stay unwrapped, so both read the same as before;
// boolFlagOf sees through the wrapper for ibex's own checks.

import ucli "github.com/urfave/cli/v2"

// cacheFlagNames wraps the flags of app and of all its commands.
func cacheFlagNames(app *ucli.App) {
	wrapFlags(app.Flags)
	var walk func([]*ucli.Command)
	walk = func(cmds []*ucli.Command) {
		for _, c := range cmds {
			wrapFlags(c.Flags)
			walk(c.Subcommands)
		}
	}
	walk(app.Commands)
}

// wrapFlags replaces, in place, each flag of a type with a wrapper below
// by its wrapper; other flags are kept as they are.
func wrapFlags(flags []ucli.Flag) {
	for i, f := range flags {
		switch f := f.(type) {
		case *ucli.StringFlag:
			flags[i] = &stringFlag{StringFlag: f}
		case *ucli.IntFlag:
			flags[i] = &intFlag{IntFlag: f}
		case *ucli.DurationFlag:
			flags[i] = &durationFlag{DurationFlag: f}
		case *ucli.StringSliceFlag:
			flags[i] = &stringSliceFlag{StringSliceFlag: f}
		case *ucli.Uint64Flag:
			flags[i] = &uint64Flag{Uint64Flag: f}
		case *ucli.BoolFlag:
			if !f.Hidden && !f.DisableDefaultText {
				flags[i] = &boolFlag{BoolFlag: f}
			}
		}
	}
}

// names is a flag's names, computed on first use.
type names []string

func (n *names) get(compute func() []string) []string {
	if *n == nil {
		*n = compute()
	}
	return *n
}

type stringFlag struct {
	*ucli.StringFlag
	names names
}

func (f *stringFlag) Names() []string { return f.names.get(f.StringFlag.Names) }

type intFlag struct {
	*ucli.IntFlag
	names names
}

func (f *intFlag) Names() []string { return f.names.get(f.IntFlag.Names) }

type durationFlag struct {
	*ucli.DurationFlag
	names names
}

func (f *durationFlag) Names() []string { return f.names.get(f.DurationFlag.Names) }

type stringSliceFlag struct {
	*ucli.StringSliceFlag
	names names
}

func (f *stringSliceFlag) Names() []string { return f.names.get(f.StringSliceFlag.Names) }

type uint64Flag struct {
	*ucli.Uint64Flag
	names names
}

func (f *uint64Flag) Names() []string { return f.names.get(f.Uint64Flag.Names) }

type boolFlag struct {
	*ucli.BoolFlag
	names names
}

func (f *boolFlag) Names() []string { return f.names.get(f.BoolFlag.Names) }

// boolFlagOf is f as a *ucli.BoolFlag, wrapped or not.
func boolFlagOf(f ucli.Flag) (*ucli.BoolFlag, bool) {
	switch f := f.(type) {
	case *ucli.BoolFlag:
		return f, true
	case *boolFlag:
		return f.BoolFlag, true
	}
	return nil, false
}
