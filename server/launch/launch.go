// Package launch is the Launch API: ibex exec, run and mpirun start
// processes (orted, hydra proxies, tasks) inside a running job on its
// nodes, stream their output, and finish jobs when the launcher says so.
package launch

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ibex-hpc/ibex/hostlist"
	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/nodeagent/localexec"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/auth"
	"github.com/ibex-hpc/ibex/server/convert"
	"github.com/ibex-hpc/ibex/server/replica"
)

// maxTasksPerNode bounds --ntasks-per-node: a typo must not start 10^6
// ranks on a node.
const maxTasksPerNode = 1024

// Runner runs processes inside jobs on request (localexec.Runner does,
// for simulated nodes).
type Runner interface {
	StartExec(t localexec.ExecTask, stdout, stderr io.Writer) (*localexec.ExecProc, error)
	PendingExecs(jobID uint64, nodes []string) []int
	PrepareLaunch(jobID uint64, nodes []string, l localexec.Launch) (localexec.LaunchFiles, error)
	JobDir(jobID uint64) string
}

var _ Runner = (*localexec.Runner)(nil)

// Config is what the launcher needs.
type Config struct {
	Store replica.Store
	// Exec runs the processes; nil makes Exec answer Unimplemented.
	Exec Runner
	// AdvertiseAPI is this server's API address, handed to exec'd
	// launchers so they can call back.
	AdvertiseAPI string
	Log          *slog.Logger
}

// New returns the Launch service.
func New(cfg Config) pb.LaunchServer { return &launchService{cfg: cfg} }

// launchService is the Launch API. Exec is a server stream, which the
// unary interceptors (auth, forwarding) do not see: it authenticates
// itself and is served by whichever server receives it, since every server
// of a simulated cluster can start processes on its nodes.
type launchService struct {
	pb.UnimplementedLaunchServer
	cfg Config
}

// jobPKey is the InfiniBand partition key of the job's partition, 0 when
// it has none (--fabric=off); every exec'd process gets it as IBEX_PKEY and
// in the variables MPI libraries read (localexec.PKeyEnv). A running job's
// key is already confirmed on its nodes' ports: jobs start only then.
func jobPKey(j *model.Job) uint16 { return j.PKey }

func (l *launchService) Exec(req *pb.ExecRequest, stream pb.Launch_ExecServer) (err error) {
	defer func() {
		if r := recover(); r != nil {
			l.cfg.Log.Error("panic in Launch.Exec", "panic", r)
			err = status.Error(codes.Internal, "internal error")
		}
	}()
	ctx := stream.Context()
	runner := l.cfg.Exec
	if runner == nil {
		return status.Error(codes.Unimplemented, "this cluster's nodes cannot exec processes into jobs")
	}
	job, err := l.execJob(ctx, req, runner)
	if err != nil {
		return err
	}
	node := req.Node
	if node == "" && req.Mpi != "" {
		node = job.Nodes[0]
	}
	idx := slices.Index(job.Nodes, node)
	if idx < 0 {
		return status.Errorf(codes.FailedPrecondition, "node %q is not one of job %d's nodes (%s)", node, job.ID, hostlist.Compress(job.Nodes))
	}
	if len(req.Argv) == 0 || req.Argv[0] == "" || len(req.Argv) > convert.MaxArgs {
		return status.Errorf(codes.InvalidArgument, "exec needs a command of 1 to %d words", convert.MaxArgs)
	}
	if req.TasksPerNode < 0 || req.TasksPerNode > maxTasksPerNode {
		return status.Errorf(codes.InvalidArgument, "tasks per node %d is outside 1..%d", req.TasksPerNode, maxTasksPerNode)
	}
	cred, err := jobCredential(runner.JobDir(job.ID), job.ID)
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	launch := localexec.Launch{TasksPerNode: int(req.TasksPerNode), PKey: jobPKey(job), SlurmEnv: req.SlurmEnv, IbexBinary: ibexBinary()}
	argv, err := l.command(req, job, launch, runner)
	if err != nil {
		return err
	}
	out := &streamOut{stream: stream}
	proc, err := runner.StartExec(localexec.ExecTask{JobID: job.ID, Node: node, NodeIndex: idx, Nodes: job.Nodes,
		Argv: argv, Dir: req.Workdir, Launch: launch,
		// IBEX_TOKEN is blanked so ibexd's own never leaks into jobs.
		Env: []string{"IBEX_ADDR=" + l.apiAddrs(), "IBEX_TOKEN=", "IBEX_JOB_TOKEN=" + cred},
	}, out.writer(false), out.writer(true))
	if err != nil {
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	log := l.cfg.Log.With("job", job.ID, "node", node, "pid", proc.Pid)
	log.Info("exec started", "argv", argv)
	res, reason, jobEnded := l.supervise(ctx, job.ID, proc)
	switch {
	case reason != "" || res.Signal == 0:
	case res.ByIbex:
		// The job's own Kill (its time limit) got here before the state
		// said why.
		reason, jobEnded = l.endedJobReason(ctx, job.ID), true
	default:
		reason = l.nodeLost(ctx, job, node, argv, proc.Pid, res.Signal, runner)
	}
	if left := proc.Close(); len(left) > 0 {
		log.Info("exec left processes behind; the job's cleaning kills them", "pids", left)
	}
	end := &pb.ExecOutput{Done: true, ExitCode: int32(res.ExitCode), Reason: reason, JobEnded: jobEnded}
	if res.Signal != 0 {
		end.Signal = res.Signal.String()
	}
	log.Info("exec ended", "exit", res.ExitCode, "signal", end.Signal, "reason", reason)
	return out.send(end)
}

// execJob authorizes the request and returns its job, which must be
// running. The caller must own the job, or hold its job credential.
func (l *launchService) execJob(ctx context.Context, req *pb.ExecRequest, runner Runner) (*model.Job, error) {
	tok := auth.BearerToken(ctx)
	tenant := ""
	if id, ok := jobTokenID(tok); ok {
		if req.JobId == 0 {
			req.JobId = id
		}
		if id != req.JobId || !checkJobCredential(runner.JobDir(id), tok) {
			return nil, status.Errorf(codes.PermissionDenied, "this job credential is not valid for job %d", req.JobId)
		}
	} else {
		t, err := auth.Authenticate(ctx, l.cfg.Store)
		if err != nil {
			return nil, err
		}
		tenant = t.Name
	}
	if req.JobId == 0 {
		return nil, status.Error(codes.InvalidArgument, "which job? pass --job or run inside one (IBEX_JOB_ID)")
	}
	var job *model.Job
	l.cfg.Store.Read(func(st *fsm.State) {
		if j, ok := st.Jobs[req.JobId]; ok && (tenant == "" || j.Tenant == tenant) {
			job = j.Clone()
		}
	})
	if job == nil {
		return nil, status.Errorf(codes.NotFound, "job %d not found", req.JobId)
	}
	if job.State != model.JobRunning {
		return nil, status.Errorf(codes.FailedPrecondition, "job %d is %s, not running", job.ID, job.State)
	}
	return job, nil
}

// command is the argv to start: an MPI launch, a shell line (the ssh
// convention MPI runtimes use), or the exact words.
func (l *launchService) command(req *pb.ExecRequest, job *model.Job, launch localexec.Launch, runner Runner) ([]string, error) {
	switch {
	case req.Mpi != "":
		dir := req.Workdir
		if dir == "" {
			dir = runner.JobDir(job.ID)
		}
		flavour := req.Mpi
		if flavour == mpiAuto {
			f, err := detectMPI(req.Argv[0], dir, execLookPath)
			if err != nil {
				return nil, status.Error(codes.InvalidArgument, err.Error())
			}
			flavour = f
		}
		files, err := runner.PrepareLaunch(job.ID, job.Nodes, launch)
		if err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		argv, err := mpiCommand(flavour, files, len(job.Nodes), launch.TasksPerNode, req.Argv, execLookPath)
		if err != nil {
			return nil, status.Error(codes.FailedPrecondition, err.Error())
		}
		return argv, nil
	case req.Shell:
		return []string{"/bin/sh", "-c", strings.Join(req.Argv, " ")}, nil
	}
	return req.Argv, nil
}

// job is a copy of the job as this server's state has it, or nil.
func (l *launchService) job(id uint64) *model.Job {
	var job *model.Job
	l.cfg.Store.Read(func(st *fsm.State) {
		if j, ok := st.Jobs[id]; ok {
			job = j.Clone()
		}
	})
	return job
}

// apiAddrs is IBEX_ADDR for processes in jobs: this server first, then
// the others, so the CLI fails over like any client.
func (l *launchService) apiAddrs() string {
	addrs := []string{l.cfg.AdvertiseAPI}
	l.cfg.Store.Read(func(st *fsm.State) {
		for _, id := range slices.Sorted(maps.Keys(st.Servers)) {
			if a := st.Servers[id].APIAddr; a != "" && !slices.Contains(addrs, a) {
				addrs = append(addrs, a)
			}
		}
	})
	return strings.Join(addrs, ",")
}

// ibexBinary is the `ibex` CLI the MPI runtimes' agent script calls: the
// one installed next to ibexd (bin/ibex beside bin/ibexd), else ibex in
// PATH. Simulated nodes are this host, so this host's binary serves them.
func ibexBinary() string {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "ibex")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	if p, err := exec.LookPath("ibex"); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
	}
	return ""
}
