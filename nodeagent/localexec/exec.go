package localexec

// Exec: processes started inside a running job on request (`ibex exec`),
// besides the job's own per-node process that Start runs. MPI runtimes
// start their per-node daemons this way, and `ibex run` starts mpirun this
// way. Each is a child of the ibexd that served the call (StartExec runs in
// ibexd, like Start; node agents start no job processes), and it lives
// inside the job: in its directory, with its environment, logged to its
// output, and killed with it (Kill and Clean also end every exec'd
// process).
//
// A process group is not enough to find them all: MPICH's hydra proxy puts
// each rank in a process group of its own. So every exec'd process gets
// IBEX_EXEC_SCOPE=Root/job-<id>/<node>.exec-<n> in its environment, which
// its descendants inherit (MPI launchers pass the environment on), and
// killing a scope kills every live process whose environment has it.
// With cgroups (NewWithOptions), exec'd processes start inside the task's
// cgroup like the job's own process, and the job's Kill and Clean end them
// with it through cgroup.kill, whatever they did to their environment.
//
// Bookkeeping files (see localexec.go for where), besides Start's:
//
//	<node>.exec-<pid>.pid     an exec'd process group that may still run
//	<node>.exec-<pid>.killed  the same, after ibex killed it on purpose
//	<node>.exec-<pid>.left    an exec that ended but left processes behind
//	<node>.execs              made by the first exec: Kill and Clean look
//	                          for exec'd processes only when it exists
//
// and in the job's working directory (JobDir):
//
//	<node>.tmp/               the simulated node's private TMPDIR

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ExecTask is one process to start inside a job on one node.
type ExecTask struct {
	JobID     uint64
	Node      string
	NodeIndex int      // 0-based position of Node in Nodes
	Nodes     []string // every node of the job, sorted
	Argv      []string
	// Dir is the working directory; empty means the job's directory. It
	// must exist on the node.
	Dir string
	// Launch describes the MPI launch this process belongs to: it sets the
	// job's IBEX_*, partition and (optionally) SLURM_* environment.
	Launch Launch
	// Env is added last, e.g. the server address and the job credential.
	Env []string
}

// ExecResult is how an exec'd process ended.
type ExecResult struct {
	// ExitCode is the exit status, or 128+N when signal N ended it, as
	// shells and ssh report it.
	ExitCode int
	// Signal is the signal that ended the process, 0 if it exited.
	Signal syscall.Signal
	// ByIbex is set when ibex ended it on purpose (ExecProc.Kill, or the
	// job's Kill or Clean), as opposed to a signal from elsewhere: the
	// difference between "the job ended" and "the node lost it".
	ByIbex bool
}

// ExecProc is a started exec'd process.
type ExecProc struct {
	Pid     int
	cmd     *exec.Cmd
	pidFile string
	scope   string
	log     *os.File
	errLog  *os.File
	mu      sync.Mutex
	killed  bool
}

// execSeq makes exec scopes unique within this ibexd.
var execSeq atomic.Uint64

// StartExec starts t.Argv on t.Node inside the job, copying its stdout and
// stderr to the given writers and to the node's output file. The caller
// must Wait for it.
func (r *Runner) StartExec(t ExecTask, stdout, stderr io.Writer) (*ExecProc, error) {
	if len(t.Argv) == 0 || t.Argv[0] == "" {
		return nil, errors.New("exec: nothing to run")
	}
	if err := checkNode(t.Node); err != nil {
		return nil, fmt.Errorf("exec: %w", err)
	}
	files, err := r.PrepareLaunch(t.JobID, t.Nodes, t.Launch)
	if err != nil {
		return nil, err
	}
	dir := t.Dir
	if dir == "" {
		dir = r.JobDir(t.JobID)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("exec on %s: working directory %s does not exist there", t.Node, dir)
	}
	tmp := r.nodeTmp(t.JobID, t.Node)
	if r.split {
		err = mkdirOwned(tmp, r.user)
	} else {
		err = os.MkdirAll(tmp, 0o700)
	}
	if err != nil {
		return nil, fmt.Errorf("exec: %w", err)
	}
	if err := r.ensureStateDir(t.JobID); err != nil {
		return nil, fmt.Errorf("exec: %w", err)
	}
	if err := os.WriteFile(r.file(t.JobID, t.Node, "execs"), nil, r.fileMode()); err != nil {
		return nil, fmt.Errorf("exec: %w", err)
	}
	log, err := os.OpenFile(r.file(t.JobID, t.Node, "out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, r.fileMode())
	if err != nil {
		return nil, fmt.Errorf("exec: %w", err)
	}
	errLog, err := os.OpenFile(r.file(t.JobID, t.Node, "err"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, r.fileMode())
	if err != nil {
		log.Close()
		return nil, fmt.Errorf("exec: %w", err)
	}
	cmd := exec.Command(t.Argv[0], t.Argv[1:]...)
	cmd.Dir = dir
	// The log first: a caller that went away must not cost the job its log.
	cmd.Stdout, cmd.Stderr = io.MultiWriter(log, stdout), io.MultiWriter(errLog, stderr)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if r.user != nil {
		// The runner waits for exec'd processes itself: no wrapper needed.
		cmd.SysProcAttr.Credential = r.user.credential()
	}
	// A process that exits while a child it left behind still holds its
	// output open must not keep the caller waiting forever.
	cmd.WaitDelay = 3 * time.Second
	cmd.Env = append(r.baseEnv(r.JobDir(t.JobID)), jobEnv(t, files)...)
	cmd.Env = append(cmd.Env, "TMPDIR="+tmp)
	if r.shared {
		cmd.Env = append(cmd.Env, simulatedNodeEnv()...)
	}
	cmd.Env = append(cmd.Env, t.Env...)
	scope := r.file(t.JobID, t.Node, fmt.Sprintf("exec-%d-%d", os.Getpid(), execSeq.Add(1)))
	cmd.Env = append(cmd.Env, scopeVar+"="+scope)
	var cgp *placement
	if r.cg != nil {
		if cgp, err = r.cg.place(cmd, t.JobID, t.Node); err != nil {
			log.Close()
			errLog.Close()
			return nil, fmt.Errorf("exec on %s: %w", t.Node, err)
		}
		defer cgp.close()
	}
	if err := cmd.Start(); err != nil {
		log.Close()
		errLog.Close()
		return nil, fmt.Errorf("exec on %s: %w", t.Node, err)
	}
	p := &ExecProc{Pid: cmd.Process.Pid, cmd: cmd, log: log, errLog: errLog, scope: scope,
		pidFile: r.file(t.JobID, t.Node, fmt.Sprintf("exec-%d.pid", cmd.Process.Pid))}
	err = nil
	if cgp != nil {
		err = cgp.started(cmd)
	}
	if err == nil {
		err = writeAtomic(p.pidFile, []byte(strconv.Itoa(p.Pid)), r.fileMode())
	}
	if err != nil {
		_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		log.Close()
		errLog.Close()
		return nil, fmt.Errorf("exec: %w", err)
	}
	return p, nil
}

// Kill ends the process's whole group on purpose (its caller went away, or
// the job ended).
func (p *ExecProc) Kill() {
	p.mu.Lock()
	p.killed = true
	p.mu.Unlock()
	markKilled(p.pidFile)
	_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
	killAll(scopeMembers(p.scope))
}

// Wait waits for the process and its output. It is quick on purpose: the
// caller acts on the result (a lost node) before Close forgets the exec.
func (p *ExecProc) Wait() (ExecResult, error) {
	err := p.cmd.Wait()
	p.log.Close()
	p.errLog.Close()
	var res ExecResult
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		ws, _ := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			res.Signal = ws.Signal()
			res.ExitCode = 128 + int(res.Signal)
		} else {
			res.ExitCode = ws.ExitStatus()
		}
	case errors.Is(err, exec.ErrWaitDelay):
		// Exited, but a leftover child kept its output open.
		res.ExitCode = p.cmd.ProcessState.ExitCode()
	default:
		return res, err
	}
	p.mu.Lock()
	res.ByIbex = p.killed
	p.mu.Unlock()
	if _, err := os.Stat(p.killedFile()); err == nil {
		res.ByIbex = true
	}
	return res, nil
}

// Close, after Wait, forgets the exec's pid file, which until then tells
// others (PendingExecs) that the exec is still being handled. If
// descendants linger (a daemon left behind) it keeps the group as .left,
// so the job's Clean still kills them, and returns them.
func (p *ExecProc) Close() (lingering []int) {
	lingering = dedup(append(groupMembers(p.Pid), scopeMembers(p.scope)...))
	base := strings.TrimSuffix(p.pidFile, ".pid")
	for _, f := range []string{p.pidFile, p.killedFile()} {
		if len(lingering) == 0 {
			os.Remove(f)
		} else {
			_ = os.Rename(f, base+".left")
		}
	}
	return lingering
}

func (p *ExecProc) killedFile() string { return strings.TrimSuffix(p.pidFile, ".pid") + ".killed" }

// PendingExecs lists the job's execs whose leading process has ended but
// which their Exec caller has not closed yet: an observer that wants the
// whole story (why did the job's launcher fail?) waits for them.
func (r *Runner) PendingExecs(jobID uint64, nodes []string) []int {
	var out []int
	for _, node := range nodes {
		for _, pid := range r.execGroups(jobID, node, "pid", "killed") {
			st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if f := statFields(st); err != nil || (len(f) > 0 && f[0] == "Z") {
				out = append(out, pid)
			}
		}
	}
	return out
}

// markKilled renames an exec's pid file to .killed, which tells its Wait
// that ibex, not something else, ended it. The file keeps the pid, so the
// job's Clean still finds the group.
func markKilled(pidFile string) {
	_ = os.Rename(pidFile, strings.TrimSuffix(pidFile, ".pid")+".killed")
}

// nodeTmp is in the working directory: the job writes there.
func (r *Runner) nodeTmp(jobID uint64, node string) string {
	return filepath.Join(r.JobDir(jobID), node+".tmp")
}

// allExecs are the kinds of exec files that name a process group.
var allExecs = []string{"pid", "killed", "left"}

// execGroups lists the job's exec'd process groups on node, by file, from
// the files with the given extensions.
func (r *Runner) execGroups(jobID uint64, node string, exts ...string) map[string]int {
	out := map[string]int{}
	for _, ext := range exts {
		matches, _ := filepath.Glob(r.file(jobID, node, "exec-*."+ext))
		for _, f := range matches {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
				out[f] = pid
			}
		}
	}
	return out
}

// nodeScope is the prefix of the scopes of every exec into the job on node.
func (r *Runner) nodeScope(jobID uint64, node string) string {
	return r.file(jobID, node, "exec-")
}

// hadExecs reports whether anything was exec'd into the job on node, so
// that jobs without execs (most batch jobs) cost no scan of /proc.
func (r *Runner) hadExecs(jobID uint64, node string) bool {
	_, err := os.Stat(r.file(jobID, node, "execs"))
	return err == nil
}

// killExecs kills every process exec'd into the job on node.
func (r *Runner) killExecs(jobID uint64, node string) {
	if !r.hadExecs(jobID, node) {
		return
	}
	for f, pid := range r.execGroups(jobID, node, allExecs...) {
		if strings.HasSuffix(f, ".pid") {
			markKilled(f)
		}
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	killAll(scopeMembers(r.nodeScope(jobID, node)))
}

// markExecsKilled tells the Waits of the job's exec'd processes on node
// that ibex is about to end them (with cgroup.kill).
func (r *Runner) markExecsKilled(jobID uint64, node string) {
	if !r.hadExecs(jobID, node) {
		return
	}
	for f := range r.execGroups(jobID, node, "pid") {
		markKilled(f)
	}
}

// cleanExecs kills the processes exec'd into the job on node, waits until
// none is left, and forgets them. It returns evidence for the ledger,
// empty when the job exec'd nothing there.
func (r *Runner) cleanExecs(jobID uint64, node string) (string, error) {
	if !r.hadExecs(jobID, node) {
		return "", nil
	}
	groups := r.execGroups(jobID, node, allExecs...)
	members := func() []int {
		left := scopeMembers(r.nodeScope(jobID, node))
		for _, pid := range groups {
			left = append(left, groupMembers(pid)...)
		}
		return left
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.killExecs(jobID, node) // again: a dying launcher may still fork
		left := members()
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("clean %s: exec'd processes %v of job %d survive SIGKILL", node, left, jobID)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return r.forgetExecs(jobID, node), nil
}

// forgetExecs removes the files of the job's exec'd processes on node,
// which must all be dead, and returns the evidence for the ledger, empty
// when the job exec'd nothing there.
func (r *Runner) forgetExecs(jobID uint64, node string) string {
	if !r.hadExecs(jobID, node) {
		return ""
	}
	groups := r.execGroups(jobID, node, allExecs...)
	for f := range groups {
		base := f[:strings.LastIndexByte(f, '.')]
		for _, ext := range allExecs {
			os.Remove(base + "." + ext)
		}
	}
	os.RemoveAll(r.nodeTmp(jobID, node))
	os.Remove(r.file(jobID, node, "execs"))
	if len(groups) == 0 {
		return ""
	}
	return fmt.Sprintf("; %d exec'd process group(s): none left", len(groups))
}

// scopeVar marks exec'd processes and their descendants (see above).
const scopeVar = "IBEX_EXEC_SCOPE"

// scopeMembers lists live processes whose environment has a scope
// starting with prefix.
func scopeMembers(prefix string) []int {
	want := []byte(scopeVar + "=" + prefix)
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !hasEnvPrefix(env, want) {
			continue
		}
		if st, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err == nil {
			if f := statFields(st); len(f) > 0 && f[0] == "Z" {
				continue
			}
		}
		out = append(out, pid)
	}
	return out
}

// hasEnvPrefix reports whether a NUL-separated environment has an entry
// starting with prefix.
func hasEnvPrefix(env, prefix []byte) bool {
	for len(env) > 0 {
		entry, rest, _ := bytes.Cut(env, []byte{0})
		if bytes.HasPrefix(entry, prefix) {
			return true
		}
		env = rest
	}
	return false
}

func dedup(pids []int) []int {
	slices.Sort(pids)
	return slices.Compact(pids)
}

func killAll(pids []int) {
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}
