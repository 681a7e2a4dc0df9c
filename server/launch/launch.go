// Package launch is the Launch API: ibex exec, run and mpirun start
// processes (orted, hydra proxies, tasks) inside a running job on its
// nodes, stream their output, and finish jobs when the launcher says so.
//
// The processes are started by the node (a Runner: the node agents, over
// the agent gateway), never by this server: the server checks who may
// exec into which job, builds the ExecTask (the job's nodes, partition
// key, API addresses and credential) and relays the node's ExecEvents to
// the caller. What needs the node's files (the working directory, the
// hostfiles and rsh agent script of an MPI launch, the MPI launcher, which
// MPI a program links for --mpi auto) happens on the node.
package launch

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/ibex-hpc/ibex/hostlist"
	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/auth"
	"github.com/ibex-hpc/ibex/server/convert"
	"github.com/ibex-hpc/ibex/server/replica"
)

// maxTasksPerNode bounds --ntasks-per-node: a typo must not start 10^6
// ranks on a node.
const maxTasksPerNode = 1024

// MPI flavours an ExecRequest may ask for; the node knows how to launch
// each (nodeagent/mpi).
var mpiFlavours = []string{"openmpi", "mpich", "auto"}

// Runner starts processes inside jobs on nodes: agentgw.Gateway sends them
// to the nodes' agents.
type Runner interface {
	// Exec starts task on node and returns its events: output, then one
	// final event (Done; with Error set when it could not start), then the
	// channel closes. A channel that closes without a final event means
	// the node was lost. The caller must read until the channel closes.
	// Ending ctx kills the exec; its final event still follows.
	Exec(ctx context.Context, node string, task *pb.ExecTask) (<-chan *pb.ExecEvent, error)
}

// Config is what the launcher needs.
type Config struct {
	Store replica.Store
	// Exec runs the processes; nil makes Exec answer Unimplemented.
	Exec Runner
	// AdvertiseAPI is this server's API address, handed to exec'd
	// launchers so they can call back.
	AdvertiseAPI string
	// LeaderAPI returns the leader's API address, "" while there is none.
	// Agents keep their streams to the leader, so a follower forwards
	// Exec there.
	LeaderAPI func() string
	Log       *slog.Logger
	// PeerCredentials dial the leader when forwarding (mutual TLS, see
	// server/tls.go); nil is plaintext.
	PeerCredentials credentials.TransportCredentials
	// ClientEnv tells exec'd processes how to trust IBEX_ADDR (the CA pin,
	// or plaintext), so `ibex` inside a job reaches the API.
	ClientEnv []string
}

// New returns the Launch service.
func New(cfg Config) pb.LaunchServer {
	return &launchService{cfg: cfg, execs: newExecTracker(), conns: map[string]*grpc.ClientConn{}}
}

// launchService is the Launch API. Exec is a server stream, which the
// unary interceptors (auth, forwarding) do not see: it authenticates
// itself, and a follower forwards it to the leader itself (forward.go).
type launchService struct {
	pb.UnimplementedLaunchServer
	cfg   Config
	execs *execTracker

	connMu sync.Mutex
	conns  map[string]*grpc.ClientConn // to leaders, by API address
}

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
	if !l.cfg.Store.IsLeader() {
		return l.forward(req, stream)
	}
	job, err := l.execJob(ctx, req)
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
	if req.Mpi != "" && !slices.Contains(mpiFlavours, req.Mpi) {
		return status.Errorf(codes.InvalidArgument, "unknown MPI %q: use openmpi, mpich or auto", req.Mpi)
	}
	srun, err := srunSpec(req)
	if err != nil {
		return err
	}
	sec, err := l.cfg.Store.ClusterSecrets()
	if err != nil {
		return status.Error(codes.Unavailable, err.Error())
	}
	cred, err := auth.JobCredential(sec, job.ID)
	if err != nil {
		return status.Error(codes.Unavailable, err.Error())
	}
	task := &pb.ExecTask{JobId: job.ID, Nodes: job.Nodes, NodeIndex: int32(idx), Argv: req.Argv, Shell: req.Shell,
		Workdir: req.Workdir, TasksPerNode: req.TasksPerNode, SlurmEnv: req.SlurmEnv, Mpi: req.Mpi, Pkey: uint32(jobPKey(job)),
		// IBEX_TOKEN is blanked so that no token of the node's own
		// environment leaks into jobs.
		Env: append([]string{"IBEX_ADDR=" + l.apiAddrs(), "IBEX_TOKEN=", "IBEX_JOB_TOKEN=" + cred}, l.cfg.ClientEnv...)}
	if srun != nil {
		sr, ok := runner.(SrunRunner)
		if !ok {
			return status.Error(codes.Unimplemented, "this cluster's nodes cannot run plain tasks; use --mpi")
		}
		runner = srunRunner{sr, srun}
	}
	return l.run(ctx, stream, job, node, task, runner)
}

// jobPKey is the InfiniBand partition key of the job's partition, 0 when
// it has none (--fabric=off); every exec'd process gets it as IBEX_PKEY and
// in the variables MPI libraries read. A running job's key is already
// confirmed on its nodes' ports: jobs start only then.
func jobPKey(j *model.Job) uint16 { return j.PKey }

// execJob authorizes the request and returns its job, which must be
// running. The caller must own the job, or hold its job credential.
func (l *launchService) execJob(ctx context.Context, req *pb.ExecRequest) (*model.Job, error) {
	tok := auth.BearerToken(ctx)
	tenant := ""
	if id, ok := auth.JobCredentialID(tok); ok {
		if req.JobId == 0 {
			req.JobId = id
		}
		sec, err := l.cfg.Store.ClusterSecrets()
		if err != nil {
			return nil, status.Error(codes.Unavailable, err.Error())
		}
		if id != req.JobId || !auth.CheckJobCredential(sec, id, tok) {
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
