package localexec

// A batch job's environment and files (#15.2, #15.4), applied where the
// job runs and as the job user:
//
//   - the tenant's exported variables (--export) reach only the job's
//     command, never the wrapper that runs as the runner (root): a PATH or
//     LD_PRELOAD of the tenant's in a root shell would be the node's. The
//     wrapper carries them under inert names (IBEX_U0, IBEX_U1, ...), and
//     the user-level loader below, running after the privilege drop,
//     exports them and starts the command;
//   - the working directory (--chdir) is entered by the loader, as the job
//     user, so the job can only run where that user may go; Start checks
//     it first the same way, so a directory that is missing on the node
//     fails the job with a reason that says so (as Slurm fails it);
//   - the -o/-e files are opened by the loader, as the job user, relative
//     to the working directory: the path may be anything the tenant wrote,
//     a link included, and the open succeeds only where that user may
//     write, never where only the runner may;
//   - SLURM_* variables describe the job as sbatch would (one task per
//     node: the script runs on every node).

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/ibex-hpc/ibex/hostlist"
	"github.com/ibex-hpc/ibex/model"
)

// JobEnv is a batch job's environment and files (see model.Job).
type JobEnv struct {
	Tenant    string
	Name      string
	UserEnv   []string // the tenant's exported NAME=VALUE variables
	Workdir   string   // absolute; "" is the job's directory
	SubmitDir string
	Output    string // -o pattern; "" keeps stdout in the bookkeeping output
	Error     string // -e pattern; "" sends stderr where stdout goes
	SlurmEnv  bool
	// Extra is ibexd's own KEY=VALUE additions (an array index, the API
	// address), set after the job's variables.
	Extra []string
}

// Names of the loader's inputs in the wrapper's environment. They start
// with model.ReservedEnvPrefix, which no exported variable may, and the
// loader unsets them before the command starts.
const (
	envUserCount = "IBEX_UN_"
	envUserVar   = "IBEX_U" // + index
	envChdir     = "IBEX_CHDIR_"
	envStdout    = "IBEX_STDOUT_"
	envStdoutApp = "IBEX_STDOUT_APPEND_"
	envStderr    = "IBEX_STDERR_"
	envStderrApp = "IBEX_STDERR_APPEND_"
)

// loaderScript runs as the job user (after setpriv) with the command as
// its arguments: it enters the working directory, opens the output files,
// exports the tenant's variables and execs the command. What stops it
// (a directory or file the job user may not use) goes to the node's own
// stderr of the job, which ibex logs shows (output_streams.go). Its own variables
// are IBEX_ names, so an exported variable cannot clobber them.
const loaderScript = `if [ -n "${IBEX_CHDIR_+x}" ]; then
  cd -- "$IBEX_CHDIR_" || { echo "ibex: cannot enter the working directory $IBEX_CHDIR_ on $IBEX_NODENAME" >&2; exit 1; }
fi
if [ -n "${IBEX_STDOUT_+x}" ]; then
  if [ -n "${IBEX_STDOUT_APPEND_+x}" ]; then command exec >>"$IBEX_STDOUT_"; else command exec >"$IBEX_STDOUT_"; fi ||
    { echo "ibex: the job user cannot write its output file $IBEX_STDOUT_ (in $PWD on $IBEX_NODENAME)" >&2; exit 1; }
fi
if [ -n "${IBEX_STDERR_+x}" ]; then
  if [ -n "${IBEX_STDERR_APPEND_+x}" ]; then command exec 2>>"$IBEX_STDERR_"; else command exec 2>"$IBEX_STDERR_"; fi ||
    { echo "ibex: the job user cannot write its error file $IBEX_STDERR_ (in $PWD on $IBEX_NODENAME)" >&2; exit 1; }
elif [ -n "${IBEX_STDOUT_+x}" ]; then
  exec 2>&1
fi
IBEX_I_=0
while [ "$IBEX_I_" -lt "${IBEX_UN_:-0}" ]; do
  eval "IBEX_V_=\${IBEX_U$IBEX_I_}"
  unset "IBEX_U$IBEX_I_"
  export "$IBEX_V_"
  IBEX_I_=$((IBEX_I_ + 1))
done
unset IBEX_I_ IBEX_V_ IBEX_UN_ IBEX_CHDIR_ IBEX_STDOUT_ IBEX_STDOUT_APPEND_ IBEX_STDERR_ IBEX_STDERR_APPEND_
exec "$@"`

// checkJobEnv validates a JobEnv that came over the network.
func checkJobEnv(e JobEnv) error {
	if err := model.CheckEnv(e.UserEnv); err != nil {
		return fmt.Errorf("exported environment: %w", err)
	}
	if err := model.CheckWorkdir(e.Workdir); err != nil {
		return err
	}
	for _, p := range []string{e.Output, e.Error} {
		if p != "" {
			if err := model.CheckOutputPattern("output pattern", p); err != nil {
				return err
			}
		}
	}
	for _, kv := range e.Extra {
		if k, _, ok := strings.Cut(kv, "="); !ok || !model.ValidEnvName(k) || strings.IndexByte(kv, 0) >= 0 {
			return fmt.Errorf("environment entry %q is not NAME=VALUE", kv)
		}
	}
	return nil
}

// batchEnv is the job's environment on top of the runner's base: the
// IBEX_* variables, SLURM_* ones when asked for, ibexd's extras, and the
// loader's inputs. The tenant's variables are last to be applied (by the
// loader), except over the names ibex sets: those are skipped.
func batchEnv(t Task) ([]string, error) {
	nodelist := hostlist.Compress(t.Nodes)
	env := []string{
		"IBEX_JOB_ID=" + strconv.FormatUint(t.JobID, 10),
		"IBEX_NODELIST=" + nodelist,
		"IBEX_NNODES=" + strconv.Itoa(len(t.Nodes)),
		"IBEX_NODEID=" + strconv.Itoa(t.NodeIndex),
		"IBEX_NODENAME=" + t.Node,
	}
	if t.Name != "" {
		env = append(env, "IBEX_JOB_NAME="+t.Name)
	}
	if t.SlurmEnv {
		env = append(env, batchSlurmEnv(t, nodelist)...)
	}
	env = append(env, t.Extra...)
	if t.Workdir != "" {
		env = append(env, envChdir+"="+t.Workdir)
	}
	out, errf, err := outputFiles(t)
	if err != nil {
		return nil, err
	}
	if out != "" {
		env = append(env, envStdout+"="+out)
		if !model.PerNodePattern(t.Output) {
			env = append(env, envStdoutApp+"=1") // every node writes it
		}
	}
	if errf != "" && errf != out {
		env = append(env, envStderr+"="+errf)
		if !model.PerNodePattern(t.Error) {
			env = append(env, envStderrApp+"=1")
		}
	}
	set := map[string]bool{}
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		set[k] = true
	}
	n := 0
	for _, kv := range t.UserEnv {
		if k, _, _ := strings.Cut(kv, "="); set[k] || strings.HasPrefix(k, model.ReservedEnvPrefix) {
			continue // ibex's own: the job's value wins
		}
		env = append(env, envUserVar+strconv.Itoa(n)+"="+kv)
		n++
	}
	return append(env, envUserCount+"="+strconv.Itoa(n)), nil
}

// outputFiles expands the -o/-e patterns for the task's node; "" where
// there is none. With only -o, stderr goes to the same file, as sbatch
// does.
func outputFiles(t Task) (stdout, stderr string, err error) {
	v := model.OutputVars{JobID: t.JobID, Name: t.Name, Node: t.Node, NodeIndex: t.NodeIndex, User: t.Tenant}
	for _, kv := range t.Extra {
		k, val, _ := strings.Cut(kv, "=")
		switch k {
		case "IBEX_ARRAY_TASK_ID":
			v.ArrayTaskID = val
		case "IBEX_ARRAY_JOB_ID":
			v.ArrayJobID, _ = strconv.ParseUint(val, 10, 64)
		}
	}
	if t.Output != "" {
		if stdout, err = model.ExpandOutputPattern(t.Output, v); err != nil {
			return "", "", fmt.Errorf("--output: %w", err)
		}
	}
	if t.Error != "" {
		if stderr, err = model.ExpandOutputPattern(t.Error, v); err != nil {
			return "", "", fmt.Errorf("--error: %w", err)
		}
	}
	return stdout, stderr, nil
}

// batchSlurmEnv is what sbatch sets in a batch job, for scripts written
// for Slurm. The script runs on every node here, one task per node, so
// the node's index is its task's rank.
func batchSlurmEnv(t Task, nodelist string) []string {
	id := strconv.FormatUint(t.JobID, 10)
	n := strconv.Itoa(len(t.Nodes))
	env := []string{
		"SLURM_JOB_ID=" + id, "SLURM_JOBID=" + id,
		"SLURM_JOB_NODELIST=" + nodelist, "SLURM_NODELIST=" + nodelist,
		"SLURM_JOB_NUM_NODES=" + n, "SLURM_NNODES=" + n,
		"SLURM_NTASKS=" + n, "SLURM_NPROCS=" + n, "SLURM_NTASKS_PER_NODE=1", "SLURM_TASKS_PER_NODE=" + tasksPerNode(len(t.Nodes)),
		"SLURM_NODEID=" + strconv.Itoa(t.NodeIndex), "SLURM_PROCID=" + strconv.Itoa(t.NodeIndex), "SLURM_LOCALID=0",
		"SLURMD_NODENAME=" + t.Node, "SLURM_TOPOLOGY_ADDR=" + t.Node,
	}
	if t.Name != "" {
		env = append(env, "SLURM_JOB_NAME="+t.Name)
	}
	if t.Tenant != "" {
		env = append(env, "SLURM_JOB_USER="+t.Tenant, "SLURM_JOB_ACCOUNT="+t.Tenant)
	}
	dir := t.SubmitDir
	if dir == "" {
		dir = t.Workdir
	}
	if dir != "" {
		env = append(env, "SLURM_SUBMIT_DIR="+dir)
	}
	return env
}

func tasksPerNode(n int) string {
	if n > 1 {
		return fmt.Sprintf("1(x%d)", n)
	}
	return "1"
}

// CheckWorkdir reports whether the job user can enter dir on this node:
// it starts /bin/true there as that user (the kernel decides, as it will
// for the job), so a directory that is missing, not a directory, or
// closed to the job user is an error that says which.
func (r *Runner) CheckWorkdir(dir, node string) error {
	if dir == "" {
		return nil
	}
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("working directory %q is not an absolute path", dir)
	}
	tr, err := exec.LookPath("true")
	if err != nil {
		tr = "/bin/true"
	}
	cmd := exec.Command(tr)
	cmd.Dir = dir
	cmd.Env = []string{}
	if r.user != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: r.user.credential()}
	}
	err = cmd.Run()
	if err == nil {
		return nil
	}
	who := "the job user"
	if r.user != nil {
		who = "the job user " + r.user.Name
	}
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("working directory %s does not exist on %s (submit from a directory the nodes share, or pass --chdir)", dir, node)
	case errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("working directory %s on %s is not a directory", dir, node)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("working directory %s on %s cannot be entered by %s (submit from, or pass --chdir, a directory it may enter)", dir, node, who)
	}
	return fmt.Errorf("working directory %s on %s: %v", dir, node, err)
}

// loaderArgv is the wrapper's command: the loader, as the job user when
// there is one, then the job's argv.
func (r *Runner) loaderRun() string {
	parts := []string{}
	if r.user != nil {
		parts = append(parts, shellQuote(r.setpriv))
		for _, a := range r.user.setprivArgs() {
			parts = append(parts, shellQuote(a))
		}
		parts = append(parts, "--")
	}
	parts = append(parts, "/bin/sh", "-c", shellQuote(loaderScript), "ibex-job")
	return strings.Join(parts, " ") + ` "$0" "$@"`
}

// minimalEnv is the environment of a job process before the job's own
// variables: never the runner's (ibexd's or the agent's environment holds
// its configuration, perhaps tokens), only what a login would set.
func minimalEnv(user, home string) []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	env := []string{"PATH=" + path, "HOME=" + home, "USER=" + user, "LOGNAME=" + user, "SHELL=/bin/sh"}
	for _, k := range []string{"LANG", "LC_ALL", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return slices.Clip(env)
}
