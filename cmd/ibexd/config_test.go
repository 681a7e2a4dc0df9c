package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ucli "github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"
)

// capture runs ibexd's command line with args, returning the flags' values
// as the action saw them instead of starting a server.
func capture(t *testing.T, args ...string) (map[string]any, map[string]bool, error) {
	t.Helper()
	app := newApp()
	var out bytes.Buffer
	app.Writer, app.ErrWriter = &out, &out
	values, set := map[string]any{}, map[string]bool{}
	app.Action = func(c *ucli.Context) error {
		for _, f := range app.Flags {
			name := f.Names()[0]
			values[name], set[name] = c.Value(name), c.IsSet(name)
			if _, ok := f.(*altsrc.StringSliceFlag); ok {
				values[name] = c.StringSlice(name)
			}
		}
		return nil
	}
	err := app.Run(append([]string{"ibexd"}, args...))
	return values, set, err
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ibexd.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConfigFileSetsEveryFlag writes a value for every flag into the file
// and checks that each reaches the app; the command line still wins.
func TestConfigFileSetsEveryFlag(t *testing.T) {
	var b strings.Builder
	for _, f := range newApp().Flags {
		name := f.Names()[0]
		switch f.(type) {
		case *altsrc.BoolFlag:
			fmt.Fprintf(&b, "%s: true\n", name)
		case *altsrc.IntFlag, *altsrc.Uint64Flag:
			fmt.Fprintf(&b, "%s: 7\n", name)
		case *altsrc.DurationFlag:
			fmt.Fprintf(&b, "%s: 3s\n", name)
		case *altsrc.StringSliceFlag:
			fmt.Fprintf(&b, "%s: [a:1, b:2]\n", name)
		case *altsrc.StringFlag:
			fmt.Fprintf(&b, "%s: from-file-%s\n", name, name)
		default:
			if name != "config" {
				t.Fatalf("--%s is a %T, which the config file cannot set", name, f)
			}
		}
	}
	path := writeFile(t, b.String())
	values, set, err := capture(t, "--config", path, "--listen", "10.9.9.9:1")
	if err != nil {
		t.Fatal(err)
	}
	for name, ok := range set {
		if !ok && name != "help" && name != "version" {
			t.Errorf("--%s not set from the file", name)
		}
	}
	for name, want := range map[string]any{
		"listen": "10.9.9.9:1", "data-dir": "from-file-data-dir", "dev": true, "leaves": 7,
		"snapshot-threshold": uint64(7), "election-timeout": 3 * time.Second,
	} {
		if got := values[name]; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("--%s = %v, want %v", name, got, want)
		}
	}
	if got := fmt.Sprint(values["gossip-seed"]); got != "[a:1 b:2]" {
		t.Errorf("--gossip-seed = %s", got)
	}
}

// TestDeployExample loads deploy/ibexd.yaml: the example really is a valid
// config, with the values it shows.
func TestDeployExample(t *testing.T) {
	values, _, err := capture(t, "--config", "../../deploy/ibexd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"data-dir": "/var/lib/ibexd", "listen": "10.0.0.1:7700", "agent-listen": "10.0.0.1:7703", "fabric": "ufm",
		"bootstrap": "true", "gossip-seed": "[10.0.0.2:7946 10.0.0.3:7946]", "job-retention": "168h0m0s", "task-timeout": "12h0m0s",
	} {
		if got := fmt.Sprint(values[name]); got != want {
			t.Errorf("--%s = %s, want %s", name, got, want)
		}
	}
	if peers, err := parsePeers(fmt.Sprint(values["peers"])); err != nil || len(peers) != 3 {
		t.Errorf("peers %v: %v", peers, err)
	}
}

func TestConfigFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text, want string
	}{
		{"a typo", "data_dir: /x\n", `unknown key "data_dir": the keys are ibexd's flag names (ibexd --help); did you mean "data-dir"?`},
		{"an unknown key", "colour: blue\n", `unknown key "colour"`},
		{"the config key itself", "config: other.yaml\n", `unknown key "config"`},
		{"not YAML", "listen: [unclosed\n", "not a YAML map of flag names to values"},
		{"a list", "- listen\n", "not a YAML map of flag names to values"},
		{"a repeated key", "listen: a:1\nlisten: b:2\n", "already defined"},
		{"an empty value", "image:\n", `key "image" has no value`},
		{"a wrong type", "leaves: many\n", "leaves"},
		{"a bad duration", "election-timeout: soon\n", "election-timeout"},
		{"a scalar for a list", "gossip-seed: a:1\n", "gossip-seed"},
		{"too large", "# " + strings.Repeat("x", maxConfigBytes) + "\n", "larger than 1024 KiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := capture(t, "--config", writeFile(t, tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--config ") {
				t.Fatalf("error %v, want one naming the file and containing %q", err, tc.want)
			}
		})
	}
	if _, _, err := capture(t, "--config", filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing file: %v", err)
	}
	// An empty file sets nothing and is no error.
	if _, set, err := capture(t, "--config", writeFile(t, "# nothing yet\n")); err != nil || set["listen"] {
		t.Fatalf("empty file: %v, listen set %v", err, set["listen"])
	}
}

func TestVersion(t *testing.T) {
	app := newApp()
	var out bytes.Buffer
	app.Writer = &out
	if err := app.Run([]string{"ibexd", "--version"}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "ibexd version ") {
		t.Fatalf("--version printed %q", out.String())
	}
}

// TestRealMachinesNeedAFabricChoice: without --simulate the simulated
// subnet managers are refused and none is not a default.
func TestRealMachinesNeedAFabricChoice(t *testing.T) {
	dir := t.TempDir()
	for args, want := range map[string]string{
		"":               "real machines need --fabric: ufm",
		"--fabric sim":   "--fabric=sim simulates the fabric",
		"--fabric ibsim": "--fabric=ibsim simulates the fabric",
		"--fabric ufm":   "--fabric=ufm needs --ufm-url",
		"--fabric off":   "set --agent-listen ADDR",
	} {
		app := newApp()
		app.Writer, app.ErrWriter = &bytes.Buffer{}, &bytes.Buffer{}
		err := app.Run(append([]string{"ibexd", "--data-dir", dir, "--log-level", "error"}, strings.Fields(args)...))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ibexd %s: %v, want %q", args, err, want)
		}
	}
}

// TestDurationFlagsRefuseNonsense: a zero or negative task timeout would
// give up every hygiene task at once; a negative retention means nothing.
func TestDurationFlagsRefuseNonsense(t *testing.T) {
	dir := t.TempDir()
	for args, want := range map[string]string{
		"--task-timeout 0":    "--task-timeout 0s: want a positive duration",
		"--task-timeout -1m":  "--task-timeout -1m0s: want a positive duration",
		"--job-retention -1h": "--job-retention -1h0m0s",
	} {
		app := newApp()
		app.Writer, app.ErrWriter = &bytes.Buffer{}, &bytes.Buffer{}
		err := app.Run(append([]string{"ibexd", "--data-dir", dir, "--log-level", "error", "--dev"}, strings.Fields(args)...))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ibexd %s: %v, want %q", args, err, want)
		}
	}
}

// FuzzParseConfig: any file either parses into values keyed by flag names
// only, or is an error; it never panics.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{"listen: a:1\n", "gossip-seed: [a, b]\n", "data_dir: x\n", "- x\n", "a: &x [*x]\n", "{", "leaves: 3\nleaves: 4\n", ""} {
		f.Add([]byte(s))
	}
	b, err := os.ReadFile("../../deploy/ibexd.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	flags := newApp().Flags
	known := map[string]bool{}
	for _, fl := range flags {
		known[fl.Names()[0]] = true
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		values, err := parseConfig(b, flags)
		if err != nil {
			return
		}
		for k, v := range values {
			if name, ok := k.(string); !ok || !known[name] || name == "config" || v == nil {
				t.Fatalf("accepted key %v = %v", k, v)
			}
		}
	})
}

// TestIsolationPolicyRefusedOnUFM: UFM cannot load forwarding tables, so
// the links policy (which would refuse every multi-node job) stops ibexd
// at start with the reason.
func TestIsolationPolicyRefusedOnUFM(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	app := newApp()
	app.Writer, app.ErrWriter = &bytes.Buffer{}, &bytes.Buffer{}
	err := app.Run([]string{"ibexd", "--data-dir", filepath.Join(dir, "data"), "--log-level", "error", "--fabric", "ufm",
		"--ufm-url", "https://ufm.invalid", "--ufm-user", "admin", "--ufm-password-file", pw, "--isolation", "links"})
	if err == nil || !strings.Contains(err.Error(), "--isolation links: link isolation cannot be enforced with --fabric ufm") {
		t.Fatalf("ibexd --fabric ufm --isolation links: %v", err)
	}
}

// TestUnknownPolicyStopsIbexd: a misspelt --policy stops ibexd at start
// naming the policies there are, instead of scheduling with another one.
func TestUnknownPolicyStopsIbexd(t *testing.T) {
	app := newApp()
	app.Writer, app.ErrWriter = &bytes.Buffer{}, &bytes.Buffer{}
	err := app.Run([]string{"ibexd", "--dev", "--data-dir", filepath.Join(t.TempDir(), "data"), "--log-level", "error", "--policy", "ibex-slowdwon"})
	if err == nil || !strings.Contains(err.Error(), `--policy: scheduler: unknown policy "ibex-slowdwon"`) || !strings.Contains(err.Error(), "ibex-slowdown") {
		t.Fatalf("ibexd --policy ibex-slowdwon: %v", err)
	}
}
