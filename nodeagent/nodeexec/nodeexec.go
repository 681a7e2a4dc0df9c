// Package nodeexec carries out `ibex exec` on a node: an ExecTask from the
// control plane (ibex exec, ibex run, ibex mpirun, and the MPI runtimes'
// rsh/ssh agent) becomes a process inside the job, started by
// localexec.Runner.StartExec; its output becomes ExecEvents of at most
// MaxChunk bytes and its end a final ExecEvent. Everything that needs the
// node's files happens here, on the node: the job directory, the
// hostfiles and agent script (PrepareLaunch), finding the MPI launcher,
// and telling the MPI of a program (--mpi auto).
//
// The node agent runs it for the ExecTasks it receives (nodeagent/agent);
// Local runs it in-process for a control plane whose simulated nodes are
// its own host.
package nodeexec

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/ibex-hpc/ibex/nodeagent/localexec"
	"github.com/ibex-hpc/ibex/nodeagent/mpi"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// MaxChunk bounds the output one ExecEvent carries, well under gRPC's
// default 4 MiB message limit, so that a flood of output never makes a
// message the stream refuses.
const MaxChunk = 64 << 10

// Bounds of an ExecTask, which arrives over the network.
const (
	// MaxArgs bounds argv and env, each (server/convert.MaxArgs for
	// argv on the API).
	MaxArgs = 1024
	// MaxNodes bounds a job's node list.
	MaxNodes = 1 << 16
	// MaxTasksPerNode bounds tasks_per_node: a typo must not start 10^6
	// ranks on a node.
	MaxTasksPerNode = 1024
	// MaxTaskBytes bounds the strings of a task together.
	MaxTaskBytes = 4 << 20
	maxNodeName  = 255
)

// Options say where things are on the node.
type Options struct {
	// IbexBinary is the `ibex` CLI on the node, which the MPI runtimes'
	// agent script calls to start their daemons on other nodes; empty
	// means none, and MPI launches fail saying so. FindIbexBinary finds
	// the usual one.
	IbexBinary string
	// LookPath finds programs on the node (MPI launchers, a bare program
	// name for --mpi auto); nil means exec.LookPath.
	LookPath func(string) (string, error)
}

func (o Options) lookPath(name string) (string, error) {
	if o.LookPath != nil {
		return o.LookPath(name)
	}
	return exec.LookPath(name)
}

// FindIbexBinary is the `ibex` CLI installed next to the running program
// (bin/ibex beside bin/ibex-agent or bin/ibexd), else ibex in PATH, else "".
func FindIbexBinary() string {
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

// Validate checks a task that came over the network before anything acts
// on it: sizes, the node list (node names become file names in the job
// directory), the node index, the MPI flavour and the environment's form.
func Validate(t *pb.ExecTask) error {
	if t == nil {
		return errors.New("exec: no task")
	}
	if t.JobId == 0 {
		return errors.New("exec: no job id")
	}
	if len(t.Nodes) == 0 || len(t.Nodes) > MaxNodes {
		return fmt.Errorf("exec: a job of %d nodes (want 1 to %d)", len(t.Nodes), MaxNodes)
	}
	if t.NodeIndex < 0 || int(t.NodeIndex) >= len(t.Nodes) {
		return fmt.Errorf("exec: node index %d outside the job's %d nodes", t.NodeIndex, len(t.Nodes))
	}
	if len(t.Argv) == 0 || t.Argv[0] == "" || len(t.Argv) > MaxArgs {
		return fmt.Errorf("exec: a command of %d words (want 1 to %d, the first not empty)", len(t.Argv), MaxArgs)
	}
	if len(t.Env) > MaxArgs {
		return fmt.Errorf("exec: %d environment variables (at most %d)", len(t.Env), MaxArgs)
	}
	if t.TasksPerNode < 0 || t.TasksPerNode > MaxTasksPerNode {
		return fmt.Errorf("exec: tasks per node %d outside 0..%d", t.TasksPerNode, MaxTasksPerNode)
	}
	if t.Pkey > 0xffff {
		return fmt.Errorf("exec: partition key %#x is not 16 bits", t.Pkey)
	}
	if t.Mpi != "" && !mpi.Valid(t.Mpi) {
		return fmt.Errorf("exec: unknown MPI %q: use openmpi, mpich or auto", t.Mpi)
	}
	size := len(t.Workdir)
	if strings.IndexByte(t.Workdir, 0) >= 0 {
		return errors.New("exec: a NUL byte in the working directory")
	}
	for _, n := range t.Nodes {
		size += len(n)
		if n == "" || n == "." || n == ".." || len(n) > maxNodeName || strings.ContainsAny(n, "/\x00") {
			return fmt.Errorf("exec: %q is not a node name", truncate(n))
		}
	}
	for _, a := range t.Argv {
		size += len(a)
		if strings.IndexByte(a, 0) >= 0 {
			return errors.New("exec: a NUL byte in the command")
		}
	}
	for _, e := range t.Env {
		size += len(e)
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" || strings.IndexByte(e, 0) >= 0 {
			return fmt.Errorf("exec: environment entry %q is not KEY=VALUE", truncate(e))
		}
	}
	if size > MaxTaskBytes {
		return fmt.Errorf("exec: the task's strings take %d bytes (at most %d)", size, MaxTaskBytes)
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// Proc is a started exec.
type Proc struct {
	ID   string
	Pid  int
	Argv []string // what was started: the shell line or MPI launch, resolved
	proc *localexec.ExecProc
	// tasks, for srun-like tasks (tasks.go): every task's process, and
	// what must be flushed once they ended (labelled partial lines).
	tasks []*localexec.ExecProc
	flush []func()
}

// Start validates t and starts it inside job t.JobId on the node
// t.Nodes[t.NodeIndex] through jobs. Output goes to emit as ExecEvents
// for exec id, at most MaxChunk bytes each; emit is called from two
// goroutines (stdout and stderr) and may block, which holds the process
// up as a full pipe would. The caller must Wait.
func Start(jobs *localexec.Runner, id string, t *pb.ExecTask, opt Options, emit func(*pb.ExecEvent)) (*Proc, error) {
	if err := Validate(t); err != nil {
		return nil, err
	}
	node := t.Nodes[t.NodeIndex]
	launch := localexec.Launch{TasksPerNode: int(t.TasksPerNode), PKey: uint16(t.Pkey), SlurmEnv: t.SlurmEnv, IbexBinary: opt.IbexBinary}
	dir := t.Workdir
	if dir == "" || !filepath.IsAbs(dir) {
		dir = filepath.Join(jobs.JobDir(t.JobId), dir)
	}
	argv, err := command(jobs, t, launch, dir, opt)
	if err != nil {
		return nil, err
	}
	p, err := jobs.StartExec(localexec.ExecTask{JobID: t.JobId, Node: node, NodeIndex: int(t.NodeIndex), Nodes: t.Nodes,
		Argv: argv, Dir: dir, Launch: launch, Env: t.Env},
		chunker{id: id, emit: emit}, chunker{id: id, stderr: true, emit: emit})
	if err != nil {
		return nil, err
	}
	return &Proc{ID: id, Pid: p.Pid, Argv: argv, proc: p}, nil
}

// command is the argv to start: an MPI launch, a shell line (the ssh
// convention MPI runtimes use), or the exact words.
func command(jobs *localexec.Runner, t *pb.ExecTask, launch localexec.Launch, dir string, opt Options) ([]string, error) {
	switch {
	case t.Mpi != "":
		files, err := jobs.PrepareLaunch(t.JobId, t.Nodes, launch)
		if err != nil {
			return nil, err
		}
		flavour := t.Mpi
		if flavour == mpi.Auto {
			if flavour, err = mpi.Detect(t.Argv[0], dir, opt.lookPath); err != nil {
				return nil, err
			}
		}
		return mpi.Command(flavour, mpi.Files{OpenMPIHostfile: files.OpenMPIHostfile, MPICHHostfile: files.MPICHHostfile, Agent: files.Agent},
			len(t.Nodes), int(t.TasksPerNode), t.Argv, opt.lookPath)
	case t.Shell:
		return []string{"/bin/sh", "-c", strings.Join(t.Argv, " ")}, nil
	}
	return t.Argv, nil
}

// Kill ends the exec's processes on purpose: its caller went away or asked.
func (p *Proc) Kill() {
	if p.tasks != nil {
		for _, t := range p.tasks {
			t.Kill()
		}
		return
	}
	p.proc.Kill()
}

// Wait waits for the exec and returns its final event: the exit code
// (128+N for signal N, as shells and ssh report it), the signal's name,
// and, when ibex ended it on purpose (Kill, or the job's Kill or Clean),
// a reason. A signal without a reason came from outside ibex. lingering
// lists processes the exec left behind; the job's cleaning kills them.
func (p *Proc) Wait() (final *pb.ExecEvent, lingering []int) {
	if p.tasks != nil {
		return p.waitTasks()
	}
	res, err := p.proc.Wait()
	lingering = p.proc.Close()
	final = &pb.ExecEvent{ExecId: p.ID, Done: true, ExitCode: int32(res.ExitCode)}
	switch {
	case err != nil:
		final.ExitCode, final.Reason = 255, fmt.Sprintf("waiting for the process failed: %v", err)
	case res.Signal != 0:
		final.Signal = res.Signal.String()
		if res.ByIbex {
			final.Reason = "killed by ibex"
		}
	}
	return final, lingering
}

// chunker turns a process's output into ExecEvents of at most MaxChunk
// bytes. It copies: the caller reuses its buffer, and the events travel
// on after Write returns.
type chunker struct {
	id     string
	stderr bool
	emit   func(*pb.ExecEvent)
}

func (c chunker) Write(p []byte) (int, error) {
	for off := 0; off < len(p); off += MaxChunk {
		b := bytes.Clone(p[off:min(off+MaxChunk, len(p))])
		ev := &pb.ExecEvent{ExecId: c.id, Stdout: b}
		if c.stderr {
			ev = &pb.ExecEvent{ExecId: c.id, Stderr: b}
		}
		c.emit(ev)
	}
	return len(p), nil
}
