package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	ucli "github.com/urfave/cli/v2"

	ibexclient "github.com/ibex-hpc/ibex/client"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

func execCmd() *ucli.Command {
	return &ucli.Command{
		Name:      "exec",
		Usage:     "run a command on one node of a running job",
		ArgsUsage: "[--job ID] NODE [--] COMMAND [ARGS...]",
		Description: `Starts COMMAND on NODE inside the job: the node's agent starts it (on the
simulated nodes of ibexd --dev, ibexd itself), in the job's directory, with
the job's IBEX_* environment, logged to the job's output, and killed when the
job ends. Output streams back; the exit code is the command's.
After "--" the words are the exact command; without it they are joined and
run by /bin/sh on the node, as ssh does. Stdin is not forwarded.

Inside a job, --job defaults to IBEX_JOB_ID and the job's own credential
(IBEX_JOB_TOKEN) is used, so MPI runtimes use ibex as their rsh/ssh agent:
the hostfiles and the agent script are in IBEX_HOSTFILE_OPENMPI,
IBEX_HOSTFILE_MPICH and IBEX_EXEC_AGENT. With --agent the arguments follow
the ssh convention, AGENT [ssh options] HOST COMMAND..., which is how Open
MPI's rsh launcher and MPICH's hydra (-launcher ssh -launcher-exec) call it.

Examples:
   ibex exec --job 7 node002 -- hostname
   ibex exec --job 7 node002 'echo $IBEX_NODENAME > /tmp/x'`,
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "job", Usage: "the job `ID` (default: IBEX_JOB_ID, set inside jobs)", EnvVars: []string{"IBEX_JOB_ID"}},
			&ucli.StringFlag{Name: "chdir", Usage: "working `DIR` on the node (default: the job's directory)"},
			&ucli.IntFlag{Name: "ntasks-per-node", Usage: "MPI tasks per node of this launch, for IBEX_TASKS_PER_NODE and the hostfiles", EnvVars: []string{"IBEX_TASKS_PER_NODE"}},
			&ucli.BoolFlag{Name: "slurm-env", Usage: "also set SLURM_* variables", EnvVars: []string{"IBEX_SLURM_ENV"}},
			&ucli.BoolFlag{Name: "agent", Usage: "arguments follow the ssh convention: [ssh options] HOST COMMAND...", Hidden: true},
		},
		Action: func(c *ucli.Context) error {
			node, argv, shell, err := execArgs(c.Args().Slice(), c.Bool("agent"))
			if err != nil {
				return err
			}
			var id uint64
			if s := c.String("job"); s != "" {
				if id, err = parseJobID(s); err != nil {
					return err
				}
			}
			cl, err := connectExec(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			req := &pb.ExecRequest{JobId: id, Node: node, Argv: argv, Shell: shell, Workdir: c.String("chdir"),
				TasksPerNode: int32(c.Int("ntasks-per-node")), SlurmEnv: c.Bool("slurm-env")}
			code, err := runExec(c, cl, req, c.Bool("agent"))
			if err != nil {
				return err
			}
			return exitWith(code)
		},
	}
}

// execArgs splits exec's arguments into the node and the command. Without
// "--" the command is a shell line, as with ssh.
func execArgs(args []string, agent bool) (node string, argv []string, shell bool, err error) {
	if agent {
		return sshArgs(args)
	}
	if len(args) < 2 {
		return "", nil, false, errors.New("exec takes a node and a command (see `ibex exec --help`)")
	}
	node, rest := args[0], args[1:]
	if rest[0] == "--" {
		if len(rest) == 1 {
			return "", nil, false, errors.New("exec: no command after --")
		}
		return node, rest[1:], false, nil
	}
	return node, rest, true, nil
}

// sshValueOpts are the ssh options that take a value (ssh(1) synopsis).
const sshValueOpts = "BbcDEeFIiJLlmOoPpQRSWw"

// sshArgs parses `[ssh options] [user@]HOST COMMAND...`: options are
// accepted and ignored (ibex has no X11, ports or identities to pick), the
// user is dropped (processes run as the job), and the command words are a
// shell line, as ssh would run it remotely.
func sshArgs(args []string) (string, []string, bool, error) {
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			break
		}
		for j := 1; j < len(a); j++ {
			if strings.IndexByte(sshValueOpts, a[j]) >= 0 {
				if j == len(a)-1 {
					i++ // the value is the next argument
				}
				break
			}
		}
	}
	if i >= len(args) {
		return "", nil, false, errors.New("exec --agent: no host")
	}
	host := args[i]
	if at := strings.LastIndexByte(host, '@'); at >= 0 {
		host = host[at+1:]
	}
	if i+1 >= len(args) {
		return "", nil, false, fmt.Errorf("exec --agent: no command for %s (interactive logins are not supported)", host)
	}
	return host, args[i+1:], true, nil
}

// connectExec prefers the job credential that ibexd gives processes in a
// job (IBEX_JOB_TOKEN) to the caller's token: ibexd's own environment,
// which jobs on simulated nodes inherit, may hold another tenant's.
func connectExec(c *ucli.Context) (*client, error) {
	tok := os.Getenv("IBEX_JOB_TOKEN")
	if tok == "" {
		return connect(c)
	}
	cfg, err := LoadConfig(firstNonEmpty(c.String("config"), DefaultConfigPath()))
	if err != nil {
		return nil, err
	}
	addr := firstNonEmpty(c.String("addr"), cfg.Addr, DefaultAddr)
	cl, err := ibexclient.New(addr, tok, ibexclient.WithTrust(trust(c, cfg)))
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	return &client{Client: cl, timeout: c.Duration("timeout")}, nil
}

// runExec streams one Exec to the CLI's stdout and stderr and returns the
// remote exit code. SIGINT, SIGTERM or SIGHUP cancel the call, which makes
// ibexd kill the remote process; the code is then 128+signal, as if the
// signal had ended this process.
func runExec(c *ucli.Context, cl *client, req *pb.ExecRequest, agent bool) (int, error) {
	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	var got syscall.Signal
	go func() {
		select {
		case s := <-sigs:
			got = s.(syscall.Signal)
			cancel()
		case <-ctx.Done():
		}
	}()
	last, err := streamExec(ctx, cl, req, c.App.Writer, c.App.ErrWriter)
	if got != 0 {
		return 128 + int(got), nil
	}
	if err != nil {
		return 0, err
	}
	// An MPI runtime's agent stays quiet when the job ended: whoever
	// launched the runtime reports that once, not once per node.
	if last.Reason != "" && !(agent && last.JobEnded) {
		who := "ibex " + c.Command.Name
		if req.Node != "" {
			who += " " + req.Node
		}
		fmt.Fprintf(c.App.ErrWriter, "%s: %s\n", who, last.Reason)
	}
	return int(last.ExitCode), nil
}

// streamExec runs one Exec, copying output as it arrives, and returns its
// last message.
func streamExec(ctx context.Context, cl *client, req *pb.ExecRequest, stdout, stderr io.Writer) (*pb.ExecOutput, error) {
	stream, err := pb.NewLaunchClient(cl.Conn).Exec(cl.Context(ctx), req)
	if err != nil {
		return nil, err
	}
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			return nil, errors.New("ibexd ended the exec without an exit status")
		}
		if err != nil {
			return nil, err
		}
		if len(m.Stdout) > 0 {
			stdout.Write(m.Stdout)
		}
		if len(m.Stderr) > 0 {
			stderr.Write(m.Stderr)
		}
		if m.Done {
			return m, nil
		}
	}
}

// exitWith ends the CLI with a remote program's exit code. Main turns
// every error into exit code 1, but the callers of exec, run and mpirun
// (MPI runtimes, scripts, CI) need the program's own status, as ssh and
// srun give it.
func exitWith(code int) error {
	if code != 0 {
		os.Exit(code)
	}
	return nil
}
