package cli

// srun habits (#15.5): `ibex run -N 2 --ntasks-per-node 4 -- hostname`
// runs a program that is not MPI as N×K plain tasks, as srun does, each
// with IBEX_PROCID/SLURM_PROCID, SLURM_LOCALID, SLURM_NODEID and
// SLURM_NTASKS, its output merged or labelled with the rank (-l). An MPI
// program keeps the mpirun path. Everything that can refuse the command
// is checked before the allocation is made (runChecks); whether the
// program is MPI is then asked of the allocation's first node (a probe:
// only the node has the program), and either answer runs it.

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	ucli "github.com/urfave/cli/v2"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// maxTasksPerNode is the server's bound on --ntasks-per-node, checked
// before anything is allocated.
const maxTasksPerNode = 1024

func runTaskFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.BoolFlag{Name: "label", Aliases: []string{"l"}, Usage: "prefix each line of a plain task's output with its rank (\"3: \"), as srun -l"},
	}
}

// runChecks refuses, before anything is allocated, what the launch would
// refuse after.
func runChecks(c *ucli.Context, req *pb.ExecRequest) error {
	if req.TasksPerNode > maxTasksPerNode {
		return fmt.Errorf("--ntasks-per-node %d: at most %d", req.TasksPerNode, maxTasksPerNode)
	}
	if c.Bool("label") && (req.Mpi == "openmpi" || req.Mpi == "mpich") {
		return fmt.Errorf("--label labels plain tasks; an MPI launcher labels its own (e.g. Open MPI's --tag-output)")
	}
	return nil
}

// launchRun runs req in the running allocation req.JobId: as an MPI
// launch, or as plain tasks on every node, as the probe or --mpi says.
func launchRun(ctx context.Context, c *ucli.Context, cl *client, req *pb.ExecRequest) (*pb.ExecOutput, error) {
	mode := req.Mpi
	var nodes []string
	if mode == "auto" || mode == "none" {
		cctx, cancel := cl.ctx(ctx)
		j, err := cl.Jobs.Get(cctx, &pb.GetJobRequest{JobId: req.JobId})
		cancel()
		if err != nil {
			return nil, err
		}
		nodes = j.Nodes
	}
	if mode == "auto" {
		var err error
		if mode, err = probeMPI(ctx, cl, req, nodes[0]); err != nil {
			return nil, err
		}
	}
	if mode != "none" {
		if c.Bool("label") {
			fmt.Fprintf(c.App.ErrWriter, "ibex run: %s links %s: an MPI launch, so --label does not apply\n", req.Argv[0], mode)
		}
		req.Mpi = mode
		return streamExec(ctx, cl, req, c.App.Writer, c.App.ErrWriter)
	}
	return runTasks(ctx, cl, req, nodes, c.Bool("label"), c.App.Writer, c.App.ErrWriter)
}

// probeMPI asks node which MPI the program links: "openmpi", "mpich" or
// "none".
func probeMPI(ctx context.Context, cl *client, req *pb.ExecRequest, node string) (string, error) {
	var out strings.Builder
	last, err := streamExec(ctx, cl, &pb.ExecRequest{JobId: req.JobId, Node: node, Argv: req.Argv[:1], Workdir: req.Workdir, Probe: true}, &out, io.Discard)
	if err != nil {
		return "", err
	}
	ans := strings.TrimSpace(out.String())
	switch {
	case last.ExitCode != 0:
		return "", fmt.Errorf("cannot tell whether %s is an MPI program on %s: %s", req.Argv[0], node, orDash(last.Reason))
	case ans == "openmpi", ans == "mpich", ans == "none":
		return ans, nil
	}
	return "", fmt.Errorf("the probe on %s answered %q, not openmpi, mpich or none (ibexd older than this CLI?)", node, ans)
}

// runTasks runs req as plain tasks on every node at once and returns the
// end with the highest exit code.
func runTasks(ctx context.Context, cl *client, req *pb.ExecRequest, nodes []string, label bool, stdout, stderr io.Writer) (*pb.ExecOutput, error) {
	var mu sync.Mutex
	out, errw := &lockedWriter{mu: &mu, w: stdout}, &lockedWriter{mu: &mu, w: stderr}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		last *pb.ExecOutput
		err  error
	}
	res := make([]result, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		r := &pb.ExecRequest{JobId: req.JobId, Node: n, Argv: req.Argv, Workdir: req.Workdir, TasksPerNode: req.TasksPerNode,
			SlurmEnv: true, Tasks: true, Label: label}
		wg.Add(1)
		go func() {
			defer wg.Done()
			last, err := streamExec(ctx, cl, r, out, errw)
			if err != nil {
				cancel() // one node failed to start: end the others, as srun does
			}
			res[i] = result{last, err}
		}()
	}
	wg.Wait()
	var final *pb.ExecOutput
	for i, r := range res {
		if r.err != nil {
			return nil, fmt.Errorf("tasks on %s: %w", nodes[i], r.err)
		}
		if final == nil || r.last.ExitCode > final.ExitCode {
			final = r.last
		}
	}
	return final, nil
}

// lockedWriter keeps one node's chunk from splitting another's.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
