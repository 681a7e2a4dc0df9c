package cli

import (
	"strings"

	ucli "github.com/urfave/cli/v2"
)

// interspersed moves a command's flags in front of its positional arguments,
// so `ibex drain node001 --reason "fan"` works as users type it (urfave/cli
// stops parsing flags at the first positional argument). Everything after a
// literal "--" is left alone: it belongs to the job's command line.
func interspersed(app *ucli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	cmds := app.Commands
	i := 1
	var cmd *ucli.Command
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return args
		}
		if strings.HasPrefix(a, "-") {
			if !strings.Contains(a, "=") && takesValue(app.Flags, a) {
				i++
			}
			continue
		}
		next := findCommand(cmds, a)
		if next == nil {
			if cmd == nil {
				return args
			}
			break
		}
		cmd = next
		cmds = next.Subcommands
		if len(cmds) == 0 {
			i++
			break
		}
	}
	if cmd == nil {
		return args
	}
	out := append([]string(nil), args[:i]...)
	var flags, pos []string
	for j := i; j < len(args); j++ {
		a := args[j]
		if a == "--" {
			pos = append(pos, args[j:]...)
			break
		}
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			flags = append(flags, a)
			if !strings.Contains(a, "=") && takesValue(cmd.Flags, a) && j+1 < len(args) {
				j++
				flags = append(flags, args[j])
			}
			continue
		}
		pos = append(pos, a)
	}
	return append(append(out, flags...), pos...)
}

func findCommand(cmds []*ucli.Command, name string) *ucli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// takesValue reports whether the flag token names a non-boolean flag.
func takesValue(flags []ucli.Flag, tok string) bool {
	name := strings.TrimLeft(tok, "-")
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				_, isBool := boolFlagOf(f)
				return !isBool
			}
		}
	}
	return false
}
