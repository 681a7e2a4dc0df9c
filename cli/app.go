package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ibexclient "github.com/ibex-hpc/ibex/client"
	"github.com/ibex-hpc/ibex/internal/version"
)

// App builds the `ibex` command.
func App() *ucli.App {
	app := &ucli.App{
		Name:    "ibex",
		Version: version.String(),
		Usage:   "submit jobs to and inspect an ibex bare-metal HPC cluster",
		Description: `ibex talks to ibexd over gRPC. The server address and your token come from,
in order: --addr/--token, IBEX_ADDR/IBEX_TOKEN, then the config file
(--config, IBEX_CONFIG, default ` + DefaultConfigPath() + `).
` + "`ibexd --dev`" + ` writes that file with the admin token, so the CLI works at once.

` + trustHelp,
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "addr", Usage: "ibexd API address(es) `HOST:PORT[,HOST:PORT...]`; a down server is skipped", EnvVars: []string{"IBEX_ADDR"}},
			&ucli.BoolFlag{Name: "stale", Usage: "let any server answer reads from its own copy (faster, may lag the leader)"},
			&ucli.StringFlag{Name: "token", Usage: "bearer `TOKEN`", EnvVars: []string{"IBEX_TOKEN"}},
			&ucli.StringFlag{Name: "config", Usage: "config `FILE`", EnvVars: []string{"IBEX_CONFIG"}, Value: DefaultConfigPath()},
			&ucli.DurationFlag{Name: "timeout", Usage: "give up on a call after this long", Value: 30 * time.Second},
			&ucli.StringFlag{Name: "ca-pin", Usage: "trust the cluster CA with this `PIN` (sha256:...); config key ca_pin", EnvVars: []string{"IBEX_CA_PIN"}},
			&ucli.StringFlag{Name: "ca-file", Usage: "trust the CAs in this PEM `FILE`; config key ca_file", EnvVars: []string{"IBEX_CA_FILE"}},
			&ucli.BoolFlag{Name: "plaintext", Usage: "no TLS, for a server started with --plaintext or --insecure; config key plaintext", EnvVars: []string{"IBEX_PLAINTEXT"}},
		},
		Commands: []*ucli.Command{
			submitCmd(), queueCmd(), showCmd(), logsCmd(), cancelCmd(), historyCmd(), usageCmd(), releaseHoldCmd(),
			allocCmd(), releaseCmd(),
			runCmd(), mpirunCmd(), execCmd(),
			nodesCmd(), drainCmd(), undrainCmd(),
			tenantCmd(), whoamiCmd(), serversCmd(),
			agentCmd(), imagesCmd(), firmwareCmd(), fabricCmd(), completionCmd(),
		},
		HideHelpCommand:      true,
		EnableBashCompletion: true,
		ExitErrHandler:       func(*ucli.Context, error) {},
	}
	cacheFlagNames(app) // flagnames.go
	return app
}

// Main runs the CLI and returns the process exit code. Errors are printed as
// one line on stderr.
func Main(args []string, stdout, stderr io.Writer) int {
	app := App()
	app.Writer, app.ErrWriter = stdout, stderr
	args = interspersed(app, args)
	early := startEarlyDial(app, args) // earlydial.go
	defer early.discard()
	app.Metadata = map[string]any{earlyKey: early}
	if err := app.Run(args); err != nil {
		fmt.Fprintf(stderr, "ibex: %s\n", userMessage(err))
		return 1
	}
	return 0
}

// userMessage strips gRPC framing from an error and adds what to do next.
func userMessage(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return err.Error()
	}
	switch st.Code() {
	case codes.Unavailable:
		if strings.Contains(st.Message(), "authentication handshake failed") {
			return "TLS with ibexd failed: " + st.Message() + " (" + trustHint + ")"
		}
		return "cannot reach ibexd: " + st.Message() + " (is it running? check --addr or IBEX_ADDR)"
	case codes.DeadlineExceeded:
		return "ibexd did not answer in time: " + st.Message()
	}
	return st.Message()
}

// client is the cluster API plus the call timeout.
type client struct {
	*ibexclient.Client
	timeout time.Duration
}

func connect(c *ucli.Context) (*client, error) {
	s, err := resolveSettings(c)
	if err != nil {
		return nil, err
	}
	cl := earlyDialOf(c).take(s) // earlydial.go
	if cl == nil {
		if cl, err = s.dial(); err != nil {
			return nil, fmt.Errorf("connect to %s: %w", s.addr, err)
		}
	}
	cl.Stale = c.Bool("stale")
	return &client{Client: cl, timeout: c.Duration("timeout")}, nil
}

// ctx returns a call context with the token and the timeout.
func (cl *client) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cl.Context(parent), cl.timeout)
}

// withClient wraps an action that needs a connection.
func withClient(fn func(c *ucli.Context, cl *client) error) ucli.ActionFunc {
	return func(c *ucli.Context) error {
		cl, err := connect(c)
		if err != nil {
			return err
		}
		defer cl.Close()
		return fn(c, cl)
	}
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// exactArgs checks the positional argument count with a usage hint.
func exactArgs(c *ucli.Context, n int, names string) error {
	if c.NArg() != n {
		return fmt.Errorf("%s takes %s (see `ibex %s --help`)", c.Command.Name, names, c.Command.Name)
	}
	return nil
}
