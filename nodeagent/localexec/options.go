package localexec

// Options: a Runner for a real node (or a simulated agent that should
// behave like one) runs each job in a cgroup of its own and as an
// unprivileged job user, and keeps its bookkeeping where jobs cannot reach
// it.
//
// Layout of a Runner made by NewWithOptions:
//
//	Root/                      the runner's, not writable by anyone else
//	Root/job-<id>/             the job's working directory (JobDir), owned
//	                           by the job user, 0700: the script, hostfiles,
//	                           the MPI agent script, <node>.tmp/
//	Root/.runner/              0700, the runner's own (stateRoot)
//	Root/.runner/job-<id>/     bookkeeping: <node>.pid .exit .out .acct and
//	                           the exec files (see exec.go), 0700
//
// New keeps the single-directory layout of `ibexd --dev` (bookkeeping in
// JobDir), which its callers and the e2e tests read.
//
// How the exit status survives the runner without being forgeable: the
// wrapper that waits for the job's command and records its exit status is
// a /bin/sh that runs with the runner's credentials (root), and only the
// command it starts drops to the job user, through setpriv(1) from
// util-linux. The exit file lives in the bookkeeping directory, which the
// job user can neither open nor list, and the job has no descriptor of it.
// A job therefore cannot write any exit status, its own or another job's,
// and cannot kill its wrapper (a different uid) to make itself look lost.
// The alternative, a wrapper running as the job user with an inherited
// descriptor, would let a job ptrace or signal the wrappers of every job
// of the same uid.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// Options configure NewWithOptions. The zero Options run jobs as the
// runner's own user without cgroups, but with the bookkeeping apart.
type Options struct {
	// CgroupDir is a cgroup v2 directory the runner owns (a "slice"), e.g.
	// /sys/fs/cgroup/ibex.slice, or /sys/fs/cgroup/unified/ibex.slice on a
	// host with the hybrid v1/v2 layout. Each job's processes on a node go
	// into CgroupDir/job-<id>/node-<node>. Empty: no cgroups.
	CgroupDir string
	// User, when set, is the user job and exec'd processes run as.
	User *JobUser
	// SweepUser makes Clean also kill the job user's processes outside
	// the job's cgroup (started by cron, at, a setuid helper...) and the
	// hand-out check (Leftovers) count them; see sweep.go. Only for a
	// host where that user runs nothing but this runner's jobs.
	SweepUser bool
	// SharedHost says the runner's nodes are simulated ones sharing this
	// machine (ibexd's in-process agents): exec'd MPI runtimes are kept
	// on loopback, TCP and no CPU binding (see simulatedNodeEnv). A real
	// node (ibex-agent) leaves it false: its MPI runtimes use the
	// network they find, or ranks on two machines could never meet.
	SharedHost bool
}

// JobUser is the identity job processes run as.
type JobUser struct {
	Name   string
	UID    uint32
	GID    uint32
	Groups []uint32 // supplementary groups
}

// LookupJobUser resolves a user name on this node, with its groups.
func LookupJobUser(name string) (*JobUser, error) {
	u, err := user.Lookup(name)
	if err != nil {
		var unknown user.UnknownUserError
		if errors.As(err, &unknown) {
			return nil, fmt.Errorf("job user %q does not exist on this node", name)
		}
		return nil, fmt.Errorf("job user %q: %w", name, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("job user %q: uid %q or gid %q is not numeric", name, u.Uid, u.Gid)
	}
	ju := &JobUser{Name: name, UID: uint32(uid), GID: uint32(gid)}
	gids, err := u.GroupIds()
	if err != nil {
		return nil, fmt.Errorf("job user %q: groups: %w", name, err)
	}
	for _, g := range gids {
		n, err := strconv.ParseUint(g, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("job user %q: group id %q is not numeric", name, g)
		}
		ju.Groups = append(ju.Groups, uint32(n))
	}
	slices.Sort(ju.Groups)
	ju.Groups = slices.Compact(ju.Groups)
	return ju, nil
}

func (u *JobUser) credential() *syscall.Credential {
	return &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: slices.Clone(u.Groups)}
}

// setprivArgs are the setpriv(1) options that make the wrapper's command
// run as u, with no capabilities left to inherit.
func (u *JobUser) setprivArgs() []string {
	args := []string{"--reuid=" + strconv.FormatUint(uint64(u.UID), 10), "--regid=" + strconv.FormatUint(uint64(u.GID), 10)}
	if len(u.Groups) == 0 {
		args = append(args, "--clear-groups")
	} else {
		gs := make([]string, len(u.Groups))
		for i, g := range u.Groups {
			gs[i] = strconv.FormatUint(uint64(g), 10)
		}
		args = append(args, "--groups="+strings.Join(gs, ","))
	}
	return append(args, "--inh-caps=-all")
}

// stateDirName is the bookkeeping directory under Root (NewWithOptions).
const stateDirName = ".runner"

// NewWithOptions returns a Runner that keeps job directories under root,
// with cgroups and a job user as o says. It refuses, with the reason, a
// setup it could only half use: a CgroupDir that is not a writable cgroup
// v2 directory, a job user it cannot switch to, a root the job user cannot
// reach or others can write.
func NewWithOptions(root string, o Options) (*Runner, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("job root: %w", err)
	}
	r := &Runner{Root: root, children: map[string]*exec.Cmd{}, split: true, user: o.User, sweep: o.SweepUser, shared: o.SharedHost}
	mode := os.FileMode(0o755)
	if o.User != nil {
		mode = 0o711 // job users reach their own directory but list nothing
		if err := r.checkUserSetup(); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(root, mode); err != nil {
		return nil, fmt.Errorf("job root: %w", err)
	}
	if err := checkPrivateDir(root, o.User != nil); err != nil {
		return nil, err
	}
	if o.User != nil {
		if err := checkReachable(root, o.User); err != nil {
			return nil, err
		}
	}
	if err := mkdirPrivate(r.stateRoot()); err != nil {
		return nil, fmt.Errorf("job root: %w", err)
	}
	if o.CgroupDir != "" {
		if r.cg, err = openCgroupTree(o.CgroupDir); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// CgroupDir is the cgroup v2 directory the runner puts jobs under, "" when
// it uses none.
func (r *Runner) CgroupDir() string {
	if r.cg == nil {
		return ""
	}
	return r.cg.dir
}

// JobCgroup is the cgroup of the job's processes on node, "" when the
// runner uses no cgroups. It exists from the first Start or StartExec of
// the task until Clean.
func (r *Runner) JobCgroup(jobID uint64, node string) string {
	if r.cg == nil {
		return ""
	}
	return r.cg.leaf(jobID, node)
}

func (r *Runner) checkUserSetup() error {
	u := r.user
	if u.Name == "" {
		return errors.New("job user: no name")
	}
	if euid := os.Geteuid(); euid != 0 && (u.UID != uint32(euid) || u.GID != uint32(os.Getegid())) {
		return fmt.Errorf("running jobs as %q (uid %d) needs root; the runner runs as uid %d", u.Name, u.UID, euid)
	}
	p, err := exec.LookPath("setpriv")
	if err != nil {
		return fmt.Errorf("running jobs as %q needs setpriv(1), from util-linux: %w", u.Name, err)
	}
	r.setpriv = p
	return nil
}

// checkPrivateDir refuses a root that someone other than the runner could
// write to: a job could plant files or links where the runner writes.
// Without a job user jobs run as the runner anyway, and only a
// world-writable root is refused.
func checkPrivateDir(dir string, strict bool) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("job root: %w", err)
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm()&0o022 != 0 && (strict || fi.Mode().Perm()&0o002 != 0) {
		return fmt.Errorf("job root %s is mode %04o: others could write to it; chmod go-w it or pick another directory", dir, fi.Mode().Perm())
	}
	if strict && st != nil && st.Uid != uint32(os.Geteuid()) {
		return fmt.Errorf("job root %s belongs to uid %d, not to the runner (uid %d); chown it or pick another directory", dir, st.Uid, os.Geteuid())
	}
	return nil
}

// checkReachable checks that u may traverse every directory down to dir,
// so that jobs can enter their working directories.
func checkReachable(dir string, u *JobUser) error {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("job root: %w", err)
		}
		if !mayTraverse(fi, u) {
			return fmt.Errorf("job user %q cannot reach the job root %s: %s is mode %04o; make it traversable (chmod o+x) or pick a job root elsewhere", u.Name, dir, d, fi.Mode().Perm())
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

func mayTraverse(fi fs.FileInfo, u *JobUser) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	perm := fi.Mode().Perm()
	switch {
	case !ok || u.UID == 0:
		return true
	case st.Uid == u.UID:
		return perm&0o100 != 0
	case st.Gid == u.GID || slices.Contains(u.Groups, st.Gid):
		return perm&0o010 != 0
	}
	return perm&0o001 != 0
}

// mkdirPrivate makes dir (0700, the runner's) unless it exists as a
// directory.
func mkdirPrivate(dir string) error {
	err := os.Mkdir(dir, 0o700)
	if err == nil || !errors.Is(err, fs.ErrExist) {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s exists and is not a directory", dir)
	}
	return nil
}

// mkdirOwned makes dir for u (owned by u, 0700) or, without u, for the
// runner (0755). An existing dir is accepted only if it is a real
// directory (not a link a job planted) owned by whom it should be. Only
// fd-free, link-safe calls are used: the parent may belong to the job user.
func mkdirOwned(dir string, u *JobUser) error {
	mode := os.FileMode(0o755)
	if u != nil {
		mode = 0o700
	}
	err := os.Mkdir(dir, mode)
	if err == nil {
		if u != nil {
			// Lchown: if the job swapped the new directory for a link in
			// the meantime, the link changes owner, not its target.
			return os.Lchown(dir, int(u.UID), int(u.GID))
		}
		return nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s exists and is not a directory", dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && u != nil && st.Uid != u.UID {
		return fmt.Errorf("%s belongs to uid %d, not to the job user %q (uid %d)", dir, st.Uid, u.Name, u.UID)
	}
	return nil
}

// stateRoot holds the bookkeeping of every job.
func (r *Runner) stateRoot() string {
	if !r.split {
		return r.Root
	}
	return filepath.Join(r.Root, stateDirName)
}

// stateDir holds the job's bookkeeping: JobDir itself for New's runners.
func (r *Runner) stateDir(jobID uint64) string {
	if !r.split {
		return r.JobDir(jobID)
	}
	return filepath.Join(r.stateRoot(), fmt.Sprintf("job-%d", jobID))
}

// ensureJobDir makes the job's working directory, owned by the job user.
func (r *Runner) ensureJobDir(jobID uint64) (string, error) {
	dir := r.JobDir(jobID)
	if !r.split {
		return dir, os.MkdirAll(dir, 0o755)
	}
	return dir, mkdirOwned(dir, r.user)
}

// ensureStateDir makes the job's bookkeeping directory.
func (r *Runner) ensureStateDir(jobID uint64) error {
	if err := r.noteEpoch(); err != nil {
		return err
	}
	if !r.split {
		_, err := r.ensureJobDir(jobID)
		return err
	}
	return mkdirPrivate(r.stateDir(jobID))
}

// fileMode is the mode of bookkeeping files.
func (r *Runner) fileMode() os.FileMode {
	if r.split {
		return 0o600
	}
	return 0o644
}

// baseEnv is the environment jobs start from. As the runner's own user,
// that is the runner's environment, as before; as a job user, only what a
// login would give, so that nothing of the agent's (tokens, paths of its
// key) leaks to the job. HOME is the job's working directory: the job
// users this is for (nobody, per-tenant users) have no home.
func (r *Runner) baseEnv(workDir string) []string {
	if r.user == nil {
		// Jobs run as the runner's own user: its name and home, nothing
		// else of its environment (jobenv.go).
		name := os.Getenv("USER")
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
		home, err := os.UserHomeDir()
		if err != nil {
			home = workDir
		}
		return minimalEnv(name, home)
	}
	return minimalEnv(r.user.Name, workDir)
}

// checkNode refuses node names that would not make safe file and cgroup
// names: they are host names.
func checkNode(node string) error {
	if node == "" || len(node) > 253 || node[0] == '.' || node[0] == '-' || strings.Contains(node, ".exec-") {
		return fmt.Errorf("invalid node name %q", node)
	}
	for _, c := range []byte(node) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return fmt.Errorf("invalid node name %q: only letters, digits, '-', '.' and '_'", node)
		}
	}
	return nil
}

// WriteJobFile writes name into the job's working directory, for the job
// to read (a credential, an input file), and returns its path. Use it, not
// os.WriteFile: with a job user the directory is the job's, and the job
// may have put a link or a FIFO at that name. No link is followed, nothing
// blocks, and readers never see a partial file. The file belongs to the
// runner; mode 0644 in the job user's 0700 directory is private to the job.
func (r *Runner) WriteJobFile(jobID uint64, name string, data []byte, mode os.FileMode) (string, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return "", fmt.Errorf("job file: invalid name %q", name)
	}
	dir, err := r.ensureJobDir(jobID)
	if err != nil {
		return "", fmt.Errorf("job file: %w", err)
	}
	path := filepath.Join(dir, name)
	if err := ensureFile(path, data, mode); err != nil {
		return "", fmt.Errorf("job file: %w", err)
	}
	return path, nil
}
