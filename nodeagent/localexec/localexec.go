// Package localexec runs a job's per-node process on this host: the node
// agent runs it for the jobs of its node, and `ibexd --dev` for its
// simulated nodes. Everything it knows lives in files, so a restarted
// runner can find out what happened while it was down: a process still
// running is adopted, a finished one left its exit status, and a vanished
// one is reported as lost.
//
// Bookkeeping files (in JobDir for New's runners, in a directory of the
// runner's own for NewWithOptions', see options.go):
//
//	<node>.out   stdout
//	<node>.err   stderr
//	<node>.files where the job's -o/-e files are (output_streams.go)
//	<node>.pid   pid of the process group leader (a /bin/sh wrapper)
//	<node>.exit  exit status, written by the wrapper when the command ends
//	<node>.acct  final accounting, written by Clean before it removes the
//	             task's cgroup (see account.go)
package localexec

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Task is one node's share of a job.
type Task struct {
	JobID     uint64
	Node      string
	NodeIndex int      // 0-based position of Node in Nodes
	Nodes     []string // every node of the job, sorted
	Script    string   // batch script body, or
	Argv      []string // a command line
	// JobEnv is the batch job's environment and files (jobenv.go).
	JobEnv
}

// Phase is what the files say about a task.
type Phase int

const (
	NotStarted Phase = iota
	Running
	Exited
	Lost // started, gone, and no exit status: killed or vanished
)

func (p Phase) String() string {
	return [...]string{"not started", "running", "exited", "lost"}[p]
}

// Status of one task.
type Status struct {
	Phase    Phase
	ExitCode int
	// CPUUsec is the CPU time of every process of the task (usage_usec of
	// its cgroup's cpu.stat), 0 without cgroups.
	CPUUsec uint64
	// MemoryPeakBytes is the cgroup's memory.peak, 0 without cgroups or
	// where the cgroup v2 memory controller is not available (hosts with
	// the hybrid v1/v2 layout bind it to v1).
	MemoryPeakBytes uint64
	// OutputBytes is the size of the task's output so far.
	OutputBytes int64
	// AccountingError says why the accounting fields could not be read
	// (they are then 0). It never fails Status: a job's end must not wait
	// for its statistics.
	AccountingError string
}

// Runner starts and watches tasks under Root.
type Runner struct {
	Root string

	mu       sync.Mutex
	children map[string]*exec.Cmd

	// split keeps the bookkeeping apart from the job's working
	// directory (NewWithOptions).
	split   bool
	user    *JobUser // nil: jobs run as the runner
	setpriv string   // path of setpriv(1) when user is set
	cg      *cgroupTree
	sweep   bool                            // Options.SweepUser
	shared  bool                            // simulated nodes on one machine: Options.SharedHost
	onExit  func(jobID uint64, node string) // OnExit (exitnotify.go); r.mu
}

// New returns a Runner that keeps job directories under root, running
// jobs as itself, without cgroups, with the bookkeeping in the job
// directories (the layout of `ibexd --dev`). See NewWithOptions.
func New(root string) (*Runner, error) {
	root, err := filepath.Abs(root) // the wrapper runs in the job directory
	if err != nil {
		return nil, fmt.Errorf("job root: %w", err)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("job root: %w", err)
	}
	return &Runner{Root: root, children: map[string]*exec.Cmd{}, shared: true}, nil
}

// JobDir is the job's working directory.
func (r *Runner) JobDir(jobID uint64) string {
	return filepath.Join(r.Root, fmt.Sprintf("job-%d", jobID))
}

// file is a bookkeeping file of the task.
func (r *Runner) file(jobID uint64, node, ext string) string {
	return filepath.Join(r.stateDir(jobID), node+"."+ext)
}

// wrapperScript records the command's exit status even if the runner is
// gone by then. The exit file's path is kept from the command; with a job
// user, only the command runs as that user (see options.go).
func (r *Runner) wrapperScript() string {
	// The command starts through the loader (jobenv.go), as the job user
	// when there is one. Nothing the tenant exported reaches this shell
	// under its own name: its PATH is the runner's.
	return `f=$IBEX_EXIT_FILE; unset IBEX_EXIT_FILE; ` + r.loaderRun() + `; rc=$?; echo $rc > "$f.tmp" && mv "$f.tmp" "$f"`
}

// Allocate prepares the node's share of an interactive allocation: the
// job's directory (owned by the job user) and bookkeeping, with no process
// of its own. Processes come later, exec'd into the job (StartExec); they
// go to the job's cgroup and die with it. Safe to repeat.
func (r *Runner) Allocate(jobID uint64, node string) error {
	if err := checkNode(node); err != nil {
		return fmt.Errorf("allocate: %w", err)
	}
	if _, err := r.ensureJobDir(jobID); err != nil {
		return fmt.Errorf("allocate: %w", err)
	}
	if err := r.ensureStateDir(jobID); err != nil {
		return fmt.Errorf("allocate: %w", err)
	}
	return nil
}

// Start launches the task unless it was launched before (its pid file
// exists), which makes Start safe to repeat after a crash.
func (r *Runner) Start(t Task) error {
	if len(t.Argv) == 0 && t.Script == "" {
		return errors.New("start task: nothing to run")
	}
	if err := checkNode(t.Node); err != nil {
		return fmt.Errorf("start task: %w", err)
	}
	dir, err := r.ensureJobDir(t.JobID)
	if err != nil {
		return fmt.Errorf("start task: %w", err)
	}
	if err := r.ensureStateDir(t.JobID); err != nil {
		return fmt.Errorf("start task: %w", err)
	}
	pidFile := r.file(t.JobID, t.Node, "pid")
	if _, err := os.Stat(pidFile); err == nil {
		return nil
	}
	if err := checkJobEnv(t.JobEnv); err != nil {
		return fmt.Errorf("start task: %w", err)
	}
	if err := r.CheckWorkdir(t.Workdir, t.Node); err != nil {
		return err
	}
	jobEnv, err := batchEnv(t)
	if err != nil {
		return fmt.Errorf("start task: %w", err)
	}
	argv := t.Argv
	if t.Script != "" {
		path := filepath.Join(dir, "script")
		// ensureFile, not WriteFile: the directory may be the job user's.
		if err := ensureFile(path, []byte(t.Script), 0o755); err != nil {
			return fmt.Errorf("start task: write script: %w", err)
		}
		argv = []string{path}
		if !strings.HasPrefix(t.Script, "#!") {
			argv = []string{"/bin/sh", path}
		}
	}
	out, err := os.OpenFile(r.file(t.JobID, t.Node, "out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, r.fileMode())
	if err != nil {
		return fmt.Errorf("start task: %w", err)
	}
	defer out.Close()
	errOut, err := os.OpenFile(r.file(t.JobID, t.Node, "err"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, r.fileMode())
	if err != nil {
		return fmt.Errorf("start task: %w", err)
	}
	defer errOut.Close()
	if err := r.recordFiles(t); err != nil {
		return fmt.Errorf("start task: %w", err)
	}
	cmd := exec.Command("/bin/sh", append([]string{"-c", r.wrapperScript()}, argv...)...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = out, errOut
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = append(append(r.baseEnv(dir), jobEnv...), "IBEX_EXIT_FILE="+r.file(t.JobID, t.Node, "exit"))
	var cgp *placement
	if r.cg != nil {
		if cgp, err = r.cg.place(cmd, t.JobID, t.Node); err != nil {
			return fmt.Errorf("start task on %s: %w", t.Node, err)
		}
		defer cgp.close()
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start task on %s: %w", t.Node, err)
	}
	if cgp != nil {
		if err := cgp.started(cmd); err != nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			_ = cmd.Wait()
			return fmt.Errorf("start task on %s: put it in its cgroup: %w", t.Node, err)
		}
	}
	if err := writeAtomic(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)), r.fileMode()); err != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		return fmt.Errorf("start task: %w", err)
	}
	key := pidFile
	r.mu.Lock()
	r.children[key] = cmd
	r.mu.Unlock()
	go func() { // reap, so a finished child is not a zombie that looks alive
		_ = cmd.Wait()
		r.mu.Lock()
		delete(r.children, key)
		r.mu.Unlock()
		r.exited(t.JobID, t.Node)
	}()
	return nil
}

// Status reads the task's files and, with cgroups, its cgroup.
func (r *Runner) Status(jobID uint64, node string) (Status, error) {
	st, err := r.phase(jobID, node)
	if err != nil || st.Phase == NotStarted {
		return st, err
	}
	if err := r.account(&st, jobID, node); err != nil {
		st.CPUUsec, st.MemoryPeakBytes = 0, 0
		st.AccountingError = err.Error()
	}
	return st, nil
}

func (r *Runner) phase(jobID uint64, node string) (Status, error) {
	if b, err := os.ReadFile(r.file(jobID, node, "exit")); err == nil {
		// The wrapper writes its exit file just before it exits: until
		// this Runner reaped it, its cgroup may still be counting CPU,
		// and an end reported now would carry unfinished accounting.
		if r.unreaped(jobID, node) {
			return Status{Phase: Running}, nil
		}
		code, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return Status{}, fmt.Errorf("job %d on %s: bad exit file: %w", jobID, node, err)
		}
		return Status{Phase: Exited, ExitCode: code}, nil
	}
	pid, err := r.pid(jobID, node)
	if errors.Is(err, os.ErrNotExist) {
		return Status{Phase: NotStarted}, nil
	}
	if err != nil {
		return Status{}, err
	}
	if r.alive(pid, jobID, node) || r.unreaped(jobID, node) {
		return Status{Phase: Running}, nil
	}
	// The wrapper may have written the exit file between our two reads.
	if _, err := os.Stat(r.file(jobID, node, "exit")); err == nil {
		return r.phase(jobID, node)
	}
	return Status{Phase: Lost}, nil
}

func (r *Runner) pid(jobID uint64, node string) (int, error) {
	b, err := os.ReadFile(r.file(jobID, node, "pid"))
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0, fmt.Errorf("job %d on %s: bad pid file", jobID, node)
	}
	return pid, nil
}

// alive checks that pid exists and is our wrapper for this task, not a
// recycled pid belonging to something else. With cgroups the wrapper must
// also still be in the task's cgroup, whose cgroup.procs the kernel keeps:
// the pid file alone cannot tell a wrapper from a stranger that got its pid.
func (r *Runner) alive(pid int, jobID uint64, node string) bool {
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return false
	}
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		if f := statFields(st); len(f) > 0 && f[0] == "Z" {
			return false
		}
	}
	if !bytes.Contains(env, []byte("IBEX_EXIT_FILE="+r.file(jobID, node, "exit")+"\x00")) {
		return false
	}
	if r.cg == nil {
		return true
	}
	procs, err := readProcs(r.cg.leaf(jobID, node))
	return err == nil && slices.Contains(procs, pid)
}

// Kill ends the task's whole process group, and those of the processes
// exec'd into the job on the node (see StartExec). With cgroups it ends
// every process in the task's cgroup (cgroup.kill) instead: also daemons
// that left the process group and the session.
func (r *Runner) Kill(jobID uint64, node string) error {
	if r.cg != nil {
		r.markExecsKilled(jobID, node)
		return r.cg.kill(jobID, node)
	}
	r.killExecs(jobID, node)
	pid, err := r.pid(jobID, node)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill job %d on %s: %w", jobID, node, err)
	}
	return nil
}

// Output returns at most max bytes from the end of the task's output.
func (r *Runner) Output(jobID uint64, node string, max int64) ([]byte, error) {
	f, err := os.Open(r.file(jobID, node, "out"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	off := max64(0, st.Size()-max)
	buf := make([]byte, st.Size()-off)
	_, err = f.ReadAt(buf, off)
	return buf, err
}

// Clean is the hygiene step for a simulated node: kill whatever is left of
// the job's process group and confirm that nothing of it remains. It
// returns the evidence for the ledger. Processes exec'd into the job (see
// StartExec) are killed first: an interactive allocation has nothing else.
//
// With cgroups it kills everything in the task's cgroup, waits until the
// cgroup is empty, keeps its final accounting and removes it.
func (r *Runner) Clean(jobID uint64, node string) (string, error) {
	ev, err := r.cleanTask(jobID, node)
	if err != nil {
		return "", err
	}
	userEv, err := r.sweepUser(jobID, node)
	if err != nil {
		return "", err
	}
	return ev + userEv, nil
}

// cleanTask is Clean of the task's own processes: its cgroup, or without
// one its process group and exec scopes.
func (r *Runner) cleanTask(jobID uint64, node string) (string, error) {
	if r.cg != nil {
		return r.cleanCgroup(jobID, node)
	}
	execEv, err := r.cleanExecs(jobID, node)
	if err != nil {
		return "", err
	}
	pid, err := r.pid(jobID, node)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Sprintf("job %d never started a process on %s", jobID, node) + execEv, nil
	}
	if err != nil {
		return "", err
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := groupMembers(pid)
		if len(left) == 0 {
			return fmt.Sprintf("process group %d of job %d on %s: none left", pid, jobID, node) + execEv, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("clean %s: processes %v of job %d survive SIGKILL", node, left, jobID)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// groupMembers lists live (non-zombie) processes in process group pgid.
func groupMembers(pgid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		f := statFields(st)
		// f[0] is the state, f[2] the process group.
		if len(f) > 2 && f[0] != "Z" && f[2] == strconv.Itoa(pgid) {
			out = append(out, pid)
		}
	}
	return out
}

// statFields returns /proc/PID/stat fields after the command name, which may
// itself contain spaces and parentheses.
func statFields(st []byte) []string {
	i := bytes.LastIndexByte(st, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(st[i+1:]))
}

// cleanCgroup is Clean with cgroups.
func (r *Runner) cleanCgroup(jobID uint64, node string) (string, error) {
	_, pidErr := r.pid(jobID, node)
	leaf := r.cg.leaf(jobID, node)
	if !exists(leaf) {
		execEv := r.forgetExecs(jobID, node)
		if errors.Is(pidErr, os.ErrNotExist) {
			return fmt.Sprintf("job %d never started a process on %s", jobID, node) + execEv, nil
		}
		return fmt.Sprintf("cgroup %s of job %d on %s: already removed", leaf, jobID, node) + execEv, nil
	}
	r.markExecsKilled(jobID, node)
	n, err := r.cg.drain(jobID, node)
	if err != nil {
		return "", err
	}
	if err := r.saveAcct(jobID, node); err != nil {
		return "", fmt.Errorf("clean %s: keep the accounting of job %d: %w", node, jobID, err)
	}
	if err := r.cg.remove(jobID, node); err != nil {
		return "", fmt.Errorf("clean %s: %w", node, err)
	}
	execEv := r.forgetExecs(jobID, node)
	return fmt.Sprintf("cgroup %s of job %d on %s: %d process(es) left, killed with cgroup.kill; none left, cgroup removed", leaf, jobID, node, n) + execEv, nil
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}
