package cli

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	ucli "github.com/urfave/cli/v2"
)

// Every value flag of every command is wrapped, answers the names of the
// flag it wraps, and computes them once.
func TestFlagNamesCached(t *testing.T) {
	app := App()
	wrapped := 0
	check := func(path string, flags []ucli.Flag) {
		for _, f := range flags {
			var inner ucli.Flag
			switch w := f.(type) {
			case *stringFlag:
				inner = w.StringFlag
			case *intFlag:
				inner = w.IntFlag
			case *durationFlag:
				inner = w.DurationFlag
			case *stringSliceFlag:
				inner = w.StringSliceFlag
			case *uint64Flag:
				inner = w.Uint64Flag
			case *boolFlag:
				inner = w.BoolFlag
			case *ucli.BoolFlag:
				if !w.Hidden && !w.DisableDefaultText {
					t.Errorf("%s: bool flag %v is not wrapped", path, f.Names())
				}
				continue
			default:
				t.Errorf("%s: flag %v of type %T is not wrapped", path, f.Names(), f)
				continue
			}
			wrapped++
			if got, want := f.Names(), inner.Names(); !slices.Equal(got, want) {
				t.Errorf("%s: wrapped names %q, want %q", path, got, want)
			}
		}
	}
	eachFlagSet(app, check)
	if wrapped < 50 {
		t.Errorf("only %d flags wrapped", wrapped)
	}

	// Computed once: renaming the wrapped flag afterwards is not seen.
	f := &stringFlag{StringFlag: &ucli.StringFlag{Name: "time", Aliases: []string{"t"}}}
	first := f.Names()
	f.StringFlag.Name = "other"
	if got := f.Names(); !slices.Equal(got, first) {
		t.Errorf("names recomputed: %q after %q", got, first)
	}
}

// The wrapped flags parse as before: values, aliases, env vars and IsSet.
func TestWrappedFlagsParse(t *testing.T) {
	t.Setenv("IBEX_TEST_NAME", "from-env")
	var got struct {
		time, name string
		nodes      int
		setT, setN bool
		env        []string
	}
	app := &ucli.App{
		Name: "x",
		Commands: []*ucli.Command{{
			Name: "run",
			Flags: []ucli.Flag{
				&ucli.StringFlag{Name: "time", Aliases: []string{"t"}, Value: "1h"},
				&ucli.StringFlag{Name: "name", EnvVars: []string{"IBEX_TEST_NAME"}},
				&ucli.IntFlag{Name: "nodes", Aliases: []string{"N"}, Value: 1},
				&ucli.StringSliceFlag{Name: "env"},
				&ucli.BoolFlag{Name: "hold", Aliases: []string{"H"}},
			},
			Action: func(c *ucli.Context) error {
				got.time, got.name, got.nodes, got.env = c.String("time"), c.String("name"), c.Int("nodes"), c.StringSlice("env")
				got.setT, got.setN = c.IsSet("t"), c.IsSet("nodes")
				return nil
			},
		}},
	}
	cacheFlagNames(app)
	var out bytes.Buffer
	app.Writer, app.ErrWriter = &out, &out
	if err := app.Run([]string{"x", "run", "-t", "5m", "--env", "A=1", "--env", "B=2", "-H"}); err != nil {
		t.Fatal(err)
	}
	if got.time != "5m" || got.name != "from-env" || got.nodes != 1 || !got.setT || got.setN || !slices.Equal(got.env, []string{"A=1", "B=2"}) {
		t.Errorf("parsed %+v", got)
	}
}

// A boolean flag takes no value, so its usage has no `placeholder`:
// urfave/cli would print the quoted text as if the flag took it
// ("--hold ibex release-hold ID, -H ibex release-hold ID").
func TestBoolFlagsShowNoPlaceholder(t *testing.T) {
	app := App()
	check := func(path string, flags []ucli.Flag) {
		for _, f := range flags {
			var b *ucli.BoolFlag
			switch w := f.(type) {
			case *boolFlag:
				b = w.BoolFlag
			case *ucli.BoolFlag:
				b = w
			default:
				continue
			}
			if strings.Contains(b.Usage, "`") {
				t.Errorf("%s --%s: usage %q has a backquoted placeholder, which help would show as the flag's value", path, b.Name, b.Usage)
			}
		}
	}
	eachFlagSet(app, check)
}

// eachFlagSet calls check with the flags of the app and of every command
// and subcommand, named by their command path ("ibex submit").
func eachFlagSet(app *ucli.App, check func(path string, flags []ucli.Flag)) {
	check("ibex", app.Flags)
	var walk func(string, []*ucli.Command)
	walk = func(path string, cmds []*ucli.Command) {
		for _, c := range cmds {
			check(path+" "+c.Name, c.Flags)
			walk(path+" "+c.Name, c.Subcommands)
		}
	}
	walk("ibex", app.Commands)
}
