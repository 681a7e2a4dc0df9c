package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	ucli "github.com/urfave/cli/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// mpiFlags are the flags of one MPI launch, shared by run and mpirun.
func mpiFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.IntFlag{Name: "ntasks-per-node", Usage: "MPI ranks on each node", Value: 1},
		&ucli.StringFlag{Name: "mpi", Usage: "the program's MPI: openmpi, mpich, or auto (from the libraries it links)", Value: "auto"},
		&ucli.BoolFlag{Name: "slurm-env", Usage: "also set SLURM_JOB_ID, SLURM_JOB_NODELIST, SLURM_NTASKS, ... for programs written for Slurm"},
		&ucli.StringFlag{Name: "chdir", Usage: "working `DIR` on the nodes (default: the current directory, as srun does)"},
	}
}

func runCmd() *ucli.Command {
	return &ucli.Command{
		Name:      "run",
		Usage:     "run a program on a new allocation: an MPI program with mpirun, any other as N×K tasks (srun)",
		ArgsUsage: "[--] PROGRAM [ARGS...]",
		Description: `Creates an interactive allocation, waits for its nodes, runs PROGRAM on
them, releases the allocation and exits with PROGRAM's exit code. An MPI
program (the first node tells: --mpi auto) runs with mpirun, --ntasks-per-node
ranks per node; any other runs as --ntasks-per-node plain tasks on every node,
as srun runs it, with IBEX_PROCID/SLURM_PROCID, SLURM_LOCALID, SLURM_NODEID
and SLURM_NTASKS set, output merged or labelled with -l (--mpi none: always
tasks). The highest exit code of the tasks is ibex run's. The allocation ends as completed, or as
failed with the reason (a rank's exit code, a lost node). mpirun starts its
daemons on the other nodes through ibexd (` + "`ibex exec`" + ` is its rsh/ssh
agent), never ssh.

Examples:
   ibex run -N 4 -- ./allreduce
   ibex run -N 2 --ntasks-per-node 4 -l -- hostname
   ibex run -N 2 --ntasks-per-node 8 --mpi mpich -t 30m -- ./solver input.dat`,
		Flags: append([]ucli.Flag{
			&ucli.IntFlag{Name: "nodes", Aliases: []string{"N"}, Usage: "number of whole nodes", Value: 1},
			&ucli.StringFlag{Name: "time", Aliases: []string{"t"}, Usage: "time limit: 30m, 2h, MM, HH:MM:SS or D-HH:MM:SS", Value: "1h"},
			&ucli.StringFlag{Name: "name", Usage: "job name (default: the program's)"},
			&ucli.DurationFlag{Name: "wait", Usage: "how long to wait for the nodes", Value: 10 * time.Minute},
			imageFlag(), firmwareProfileFlag(), isolationFlag(),
		}, append(mpiFlags(), runTaskFlags()...)...),
		Action: withClient(func(c *ucli.Context, cl *client) error {
			req, err := mpiRequest(c, commandArgs(c.Args().Slice()))
			if err != nil {
				return err
			}
			if err := runChecks(c, req); err != nil {
				return err
			}
			sub, err := jobRequest(c, true)
			if err != nil {
				return err
			}
			if sub.Name == "" {
				sub.Name = baseName(req.Argv[0])
			}
			ctx, cancel := signalContext(c.Context)
			defer cancel()
			id, err := submitAndWait(ctx, c, cl, sub)
			if err != nil {
				return err
			}
			req.JobId = id
			last, err := launchRun(ctx, c, cl, req)
			if ctx.Err() != nil { // interrupted: the job is cancelled, as srun's is
				cl.cleanup(func(ctx context.Context) error {
					_, err := cl.Jobs.Cancel(ctx, &pb.CancelRequest{JobId: id})
					return err
				})
				fmt.Fprintf(c.App.ErrWriter, "ibex run: interrupted; job %d cancelled\n", id)
				return exitWith(130)
			}
			code, reason := 1, ""
			if err != nil {
				reason = "the program did not start: " + userMessage(err)
			} else {
				code, reason = int(last.ExitCode), last.Reason
				if reason == "" && code != 0 {
					reason = fmt.Sprintf("%s exited with code %d", req.Argv[0], code)
				}
			}
			job := finishRun(c, cl, id, code, reason)
			if err != nil {
				return err
			}
			if job != nil && job.State != "completed" {
				fmt.Fprintf(c.App.ErrWriter, "ibex run: job %d %s: %s\n", id, job.State, orDash(job.Reason))
				code = max(code, 1)
			}
			return exitWith(code)
		}),
	}
}

func mpirunCmd() *ucli.Command {
	return &ucli.Command{
		Name:      "mpirun",
		Usage:     "run an MPI program inside an existing allocation",
		ArgsUsage: "ALLOC [--] PROGRAM [ARGS...]",
		Description: `Runs PROGRAM with mpirun on every node of the running allocation ALLOC
(--ntasks-per-node ranks per node) and exits with mpirun's exit code. The
allocation stays; end it with ` + "`ibex release ALLOC`" + `.

Example:
   ibex alloc -N 4 -t 1h        # Allocation 7 granted: node[001-004]
   ibex mpirun 7 --ntasks-per-node 2 -- ./allreduce`,
		Flags: mpiFlags(),
		Action: withClient(func(c *ucli.Context, cl *client) error {
			if c.NArg() < 2 {
				return errors.New("mpirun takes an allocation id and a program (see `ibex mpirun --help`)")
			}
			id, err := parseJobID(c.Args().First())
			if err != nil {
				return err
			}
			req, err := mpiRequest(c, commandArgs(c.Args().Tail()))
			if err != nil {
				return err
			}
			req.JobId = id
			code, err := runExec(c, cl, req, false)
			if err != nil {
				return err
			}
			return exitWith(code)
		}),
	}
}

// mpiRequest is the Exec of mpirun for the launch flags and program.
func mpiRequest(c *ucli.Context, prog []string) (*pb.ExecRequest, error) {
	if len(prog) == 0 || prog[0] == "" {
		return nil, fmt.Errorf("%s needs a program to run (see `ibex %s --help`)", c.Command.Name, c.Command.Name)
	}
	k := c.Int("ntasks-per-node")
	if k < 1 {
		return nil, fmt.Errorf("--ntasks-per-node must be at least 1, got %d", k)
	}
	mpi := c.String("mpi")
	switch mpi {
	case "auto", "openmpi", "mpich":
	case "none":
		if c.Command.Name != "run" {
			return nil, fmt.Errorf("--mpi none: plain tasks run with `ibex run`; mpirun launches MPI programs")
		}
	default:
		return nil, fmt.Errorf("--mpi %q: use openmpi, mpich or auto (or none with ibex run: plain tasks)", mpi)
	}
	dir := c.String("chdir")
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("current directory: %w", err)
		}
		dir = wd
	}
	return &pb.ExecRequest{Argv: prog, Mpi: mpi, TasksPerNode: int32(k), SlurmEnv: c.Bool("slurm-env"), Workdir: dir}, nil
}

// commandArgs drops the "--" that separates ibex's arguments from the
// program's when the flag parser left it in place.
func commandArgs(args []string) []string {
	if len(args) > 0 && args[0] == "--" {
		return args[1:]
	}
	return args
}

// signalContext is cancelled by SIGINT, SIGTERM or SIGHUP.
func signalContext(parent context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(parent, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
}

// submitAndWait submits an allocation and waits until it runs. If it
// cannot (interrupted, waited too long, ended), the allocation is
// cancelled: nobody would use it.
func submitAndWait(ctx context.Context, c *ucli.Context, cl *client, sub *pb.SubmitRequest) (uint64, error) {
	cctx, cancel := cl.ctx(ctx)
	resp, err := cl.Jobs.Submit(cctx, sub)
	cancel()
	if err != nil {
		return 0, err
	}
	id := resp.JobId
	giveUp := func(err error) (uint64, error) {
		cl.cleanup(func(ctx context.Context) error {
			_, err := cl.Jobs.Cancel(ctx, &pb.CancelRequest{JobId: id})
			return err
		})
		return 0, err
	}
	deadline := time.Now().Add(c.Duration("wait"))
	for {
		cctx, cancel := cl.ctx(ctx)
		j, err := cl.Jobs.Get(cctx, &pb.GetJobRequest{JobId: id})
		cancel()
		switch {
		case ctx.Err() != nil:
			return giveUp(fmt.Errorf("interrupted while waiting for nodes; job %d cancelled", id))
		case err != nil:
			return giveUp(err)
		case j.State == "running":
			fmt.Fprintf(c.App.ErrWriter, "ibex run: job %d on %s\n", id, j.Nodelist)
			return id, nil
		case j.State != "pending" && j.State != "scheduled":
			return 0, fmt.Errorf("job %d ended as %s before it ran: %s", id, j.State, orDash(j.Reason))
		case time.Now().After(deadline):
			return giveUp(fmt.Errorf("no nodes for job %d after %s; cancelled it", id, c.Duration("wait")))
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// finishRun ends the allocation with mpirun's exit code and returns the
// job as it ended. A job that already ended (a lost node failed it, its
// time ran out) is reported as it is.
func finishRun(c *ucli.Context, cl *client, id uint64, code int, reason string) *pb.Job {
	var job *pb.Job
	err := cl.cleanup(func(ctx context.Context) error {
		j, err := pb.NewLaunchClient(cl.Conn).Finish(ctx, &pb.FinishRequest{JobId: id, ExitCode: int32(code), Reason: oneLine(reason, model.MaxReasonBytes)})
		if status.Code(err) == codes.FailedPrecondition {
			j, err = cl.Jobs.Get(ctx, &pb.GetJobRequest{JobId: id})
		}
		job = j
		return err
	})
	if err != nil {
		fmt.Fprintf(c.App.ErrWriter, "ibex run: could not end job %d: %s (end it with `ibex release %d`)\n", id, userMessage(err), id)
	}
	return job
}

// cleanup makes a call that must happen even when the command's context
// was cancelled (by a signal).
func (cl *client) cleanup(call func(ctx context.Context) error) error {
	ctx, cancel := cl.ctx(context.Background())
	defer cancel()
	return call(ctx)
}
