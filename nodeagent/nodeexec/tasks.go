package nodeexec

// srun habits (#15.5): `ibex run -N 2 --ntasks-per-node 4 -- hostname`
// runs a program that is not MPI as N×K plain tasks, each node starting
// its K with the variables srun sets (IBEX_PROCID/SLURM_PROCID,
// SLURM_LOCALID, SLURM_NODEID, SLURM_NTASKS), its output labelled with
// the rank (-l) or not. Whether a program is MPI is decided here, on the
// node that has the program (Probe): the control plane never opens a
// tenant's paths.

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/ibex-hpc/ibex/nodeagent/localexec"
	"github.com/ibex-hpc/ibex/nodeagent/mpi"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// NotMPI is Probe's answer for a program that links no MPI library.
const NotMPI = "none"

// Probe tells which MPI t.Argv[0] links on this node: "openmpi", "mpich"
// or NotMPI (a script, or a program without an MPI library). A program
// that is not there is an error. The file is opened without blocking (a
// FIFO must not hang the agent) and only its ELF headers are read.
func Probe(jobs *localexec.Runner, t *pb.ExecTask, opt Options) (string, error) {
	if err := Validate(t); err != nil {
		return "", err
	}
	prog, dir := t.Argv[0], t.Workdir
	if dir == "" || !filepath.IsAbs(dir) {
		dir = filepath.Join(jobs.JobDir(t.JobId), dir)
	}
	path := prog
	switch {
	case !strings.Contains(prog, "/"):
		p, err := opt.lookPath(prog)
		if err != nil {
			return "", fmt.Errorf("%s: not found in PATH on %s", prog, t.Nodes[t.NodeIndex])
		}
		path = p
	case !filepath.IsAbs(prog):
		path = filepath.Join(dir, prog)
	}
	// The agent runs as root: it looks only into what the job user could
	// read, so a probe tells a tenant nothing about files they may not see.
	if err := jobs.MayRead(path); err != nil {
		return "", fmt.Errorf("%s on %s: %v", prog, t.Nodes[t.NodeIndex], err)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", fmt.Errorf("%s on %s: %v", prog, t.Nodes[t.NodeIndex], errors.Unwrap(err))
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s on %s is not a program file", prog, t.Nodes[t.NodeIndex])
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		return NotMPI, nil // a script: run as tasks
	}
	libs, err := ef.ImportedLibraries()
	if err != nil {
		return NotMPI, nil
	}
	if flavour := mpi.FromLibraries(libs); flavour != "" {
		return flavour, nil
	}
	return NotMPI, nil
}

// StartTasks starts t.Argv as t.TasksPerNode tasks on the node, inside
// the job, ranks NodeIndex*K .. NodeIndex*K+K-1 of N*K. Their output goes
// to emit as one exec's (labelled "RANK: " per line with label); Wait
// waits for every task and reports the highest exit code, as srun does.
func StartTasks(jobs *localexec.Runner, id string, t *pb.ExecTask, label bool, opt Options, emit func(*pb.ExecEvent)) (*Proc, error) {
	if err := Validate(t); err != nil {
		return nil, err
	}
	if t.Mpi != "" {
		return nil, errors.New("exec: tasks and an MPI launch exclude each other")
	}
	node := t.Nodes[t.NodeIndex]
	k := max(int(t.TasksPerNode), 1)
	dir := t.Workdir
	if dir == "" || !filepath.IsAbs(dir) {
		dir = filepath.Join(jobs.JobDir(t.JobId), dir)
	}
	launch := localexec.Launch{TasksPerNode: k, PKey: uint16(t.Pkey), SlurmEnv: true, IbexBinary: opt.IbexBinary}
	p := &Proc{ID: id, Argv: t.Argv}
	out, errw := chunker{id: id, emit: emit}, chunker{id: id, stderr: true, emit: emit}
	var mu sync.Mutex // one task's labelled line at a time
	for i := 0; i < k; i++ {
		rank := int(t.NodeIndex)*k + i
		env := append(append([]string(nil), t.Env...), TaskEnv(rank, i)...)
		var so, se interface{ Write([]byte) (int, error) } = out, errw
		if label {
			lo, le := &labeller{prefix: strconv.Itoa(rank) + ": ", w: out, mu: &mu}, &labeller{prefix: strconv.Itoa(rank) + ": ", w: errw, mu: &mu}
			so, se = lo, le
			p.flush = append(p.flush, lo.flushRest, le.flushRest)
		}
		ep, err := jobs.StartExec(localexec.ExecTask{JobID: t.JobId, Node: node, NodeIndex: int(t.NodeIndex), Nodes: t.Nodes,
			Argv: t.Argv, Dir: dir, Launch: launch, Env: env}, so, se)
		if err != nil {
			for _, started := range p.tasks {
				started.Kill()
				_, _ = started.Wait()
				started.Close()
			}
			return nil, fmt.Errorf("task %d: %w", rank, err)
		}
		if i == 0 {
			p.Pid = ep.Pid
		}
		p.tasks = append(p.tasks, ep)
	}
	return p, nil
}

// TaskEnv is what tells one task who it is, as srun's variables do; the
// rest (SLURM_NTASKS, SLURM_NODEID, ...) is the launch's.
func TaskEnv(rank, local int) []string {
	r, l := strconv.Itoa(rank), strconv.Itoa(local)
	return []string{"IBEX_PROCID=" + r, "SLURM_PROCID=" + r, "IBEX_LOCALID=" + l, "SLURM_LOCALID=" + l}
}

// waitTasks waits for every task: the final event carries the highest
// exit code (a signal's 128+N counts as such), and its signal and reason.
func (p *Proc) waitTasks() (*pb.ExecEvent, []int) {
	final := &pb.ExecEvent{ExecId: p.ID, Done: true}
	var lingering []int
	for _, t := range p.tasks {
		res, err := t.Wait()
		lingering = append(lingering, t.Close()...)
		switch {
		case err != nil:
			final.ExitCode, final.Reason = 255, fmt.Sprintf("waiting for a task failed: %v", err)
		case int32(res.ExitCode) > final.ExitCode:
			final.ExitCode, final.Signal, final.Reason = int32(res.ExitCode), "", ""
			if res.Signal != 0 {
				final.Signal = res.Signal.String()
				if res.ByIbex {
					final.Reason = "killed by ibex"
				}
			}
		}
	}
	for _, f := range p.flush {
		f()
	}
	return final, lingering
}

// labeller prefixes every line with a task's rank, as srun -l does. Only
// whole lines go out while the task runs; the rest when it ended.
type labeller struct {
	prefix string
	w      interface{ Write([]byte) (int, error) }
	mu     *sync.Mutex
	buf    []byte
}

// maxLabelLine bounds a line held back for its label: a task that writes
// megabytes without a newline still gets its output out.
const maxLabelLine = MaxChunk

func (l *labeller) Write(b []byte) (int, error) {
	l.buf = append(l.buf, b...)
	var out bytes.Buffer
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			if len(l.buf) < maxLabelLine {
				break
			}
			i = len(l.buf) - 1 // a line too long: cut it here
		}
		out.WriteString(l.prefix)
		out.Write(l.buf[:i+1])
		l.buf = l.buf[i+1:]
	}
	if out.Len() > 0 {
		l.mu.Lock()
		_, _ = l.w.Write(out.Bytes())
		l.mu.Unlock()
	}
	return len(b), nil
}

func (l *labeller) flushRest() {
	if len(l.buf) == 0 {
		return
	}
	l.mu.Lock()
	_, _ = l.w.Write(append([]byte(l.prefix), append(l.buf, '\n')...))
	l.mu.Unlock()
	l.buf = nil
}
