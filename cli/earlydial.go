package cli

// Connecting before the command line is parsed. `ibex submit` is run once
// per job, and each process pays for a TCP connection and a TLS handshake
// (mostly ibexd's work) before its one call. The command's action starts
// them only once urfave/cli has parsed the command line: 0.3 ms into
// Main (0.7 ms before flagnames.go), time in which the server sits idle.
// For the commands in earlyDialCommands, Main starts the connection first,
// from what it depends on when no global flag is given: the environment
// and the config file. The action's connect then works the settings out
// from the parsed command line exactly as before and uses the early
// connection only if they are the same (connSettings is compared whole);
// otherwise it closes it and dials as it always did. So the early
// connection changes when the handshake happens, never where or how the
// CLI connects.

import (
	"errors"
	"os"
	"slices"
	"strconv"

	ucli "github.com/urfave/cli/v2"

	ibexclient "github.com/ibex-hpc/ibex/client"
)

// earlyDialCommands are the commands that always connect, run often
// enough one process at a time (from scripts, as sbatch, squeue, scontrol
// show, scancel and scontrol release are) that their start-up matters.
var earlyDialCommands = []string{"submit", "queue", "show", "cancel", "release-hold"}

// earlyKey is where Main leaves the early connection in App.Metadata.
const earlyKey = "ibex-early-dial"

// connSettings is everything a connection depends on.
type connSettings struct {
	addr, token string
	trust       ibexclient.Trust
	leaderFile  string
}

// flagValues is what the settings are read from: a parsed command line
// (*ucli.Context) or, for the early connection, envFlags.
type flagValues interface {
	String(name string) string
	Bool(name string) bool
}

// resolveSettings works out where and how to connect: --addr/--token,
// IBEX_ADDR/IBEX_TOKEN, then the config file (trust.go for the trust).
func resolveSettings(f flagValues) (connSettings, error) {
	cfg, err := LoadConfig(firstNonEmpty(f.String("config"), DefaultConfigPath()))
	if err != nil {
		return connSettings{}, err
	}
	addr := firstNonEmpty(f.String("addr"), cfg.Addr, DefaultAddr)
	token := firstNonEmpty(f.String("token"), cfg.Token)
	if token == "" {
		return connSettings{}, errors.New("no token: pass --token, set IBEX_TOKEN, or put it in " + f.String("config"))
	}
	return connSettings{addr: addr, token: token, trust: trust(f, cfg), leaderFile: leaderFile(addr)}, nil
}

// dial connects with s.
func (s connSettings) dial() (*ibexclient.Client, error) {
	return ibexclient.New(s.addr, s.token, ibexclient.WithTrust(s.trust), ibexclient.WithLeaderFile(s.leaderFile))
}

// earlyDial is a connection Main started before the command line was
// parsed, and the settings it was made with.
type earlyDial struct {
	s     connSettings
	cl    *ibexclient.Client
	taken bool
}

// startEarlyDial starts connecting when args (after interspersed) run one
// of earlyDialCommands with no global flag before it and no help asked
// for; otherwise, or when the settings or the dial fail (the command's own
// connect then reports it), it returns nil. gRPC connects in the
// background: the TCP connection and the handshake go on while the
// command line is parsed.
func startEarlyDial(app *ucli.App, args []string) *earlyDial {
	if len(args) < 2 || !slices.Contains(earlyDialCommands, args[1]) {
		return nil
	}
	for _, a := range args[2:] {
		if a == "--" {
			break
		}
		switch a {
		case "-h", "-help", "--help", "--generate-bash-completion":
			return nil
		}
	}
	s, err := resolveSettings(envFlags(app.Flags))
	if err != nil {
		return nil
	}
	cl, err := s.dial()
	if err != nil {
		return nil
	}
	return &earlyDial{s: s, cl: cl}
}

// take returns the early connection if it was made with s, and closes it
// otherwise. It returns nil when there is none to use.
func (e *earlyDial) take(s connSettings) *ibexclient.Client {
	if e == nil || e.taken {
		return nil
	}
	e.taken = true
	if e.s != s {
		e.cl.Close()
		return nil
	}
	return e.cl
}

// discard closes the early connection if no command took it.
func (e *earlyDial) discard() {
	if e != nil && !e.taken {
		e.taken = true
		e.cl.Close()
	}
}

// earlyDialOf is the early connection Main started for this run, or nil.
func earlyDialOf(c *ucli.Context) *earlyDial {
	if c.App == nil {
		return nil
	}
	e, _ := c.App.Metadata[earlyKey].(*earlyDial)
	return e
}

// envFlags reads the app's global flags as urfave/cli sets them when the
// command line gives none: from the first of their environment variables
// that is set, else their default. A bool that does not parse reads as
// false; the parsed command line then refuses it, and the settings differ
// or the command fails, so the early connection goes unused either way.
type envFlags []ucli.Flag

func (ef envFlags) lookup(name string) (ucli.DocGenerationFlag, bool) {
	for _, f := range ef {
		if df, ok := f.(ucli.DocGenerationFlag); ok && slices.Contains(f.Names(), name) {
			return df, true
		}
	}
	return nil, false
}

func (ef envFlags) env(name string) (ucli.DocGenerationFlag, string, bool) {
	f, ok := ef.lookup(name)
	if !ok {
		return nil, "", false
	}
	for _, v := range f.GetEnvVars() {
		if val, set := os.LookupEnv(v); set {
			return f, val, true
		}
	}
	return f, "", false
}

func (ef envFlags) String(name string) string {
	f, val, set := ef.env(name)
	if f == nil || set {
		return val
	}
	return f.GetValue()
}

func (ef envFlags) Bool(name string) bool {
	f, val, set := ef.env(name)
	if f == nil || !set {
		if bf, ok := boolFlagOf(f); ok {
			return bf.Value
		}
		return false
	}
	b, _ := strconv.ParseBool(val)
	return b
}
