package localexec

// cgroup v2 per job. A process group is not a job boundary: a daemon that
// calls setsid, or an MPI proxy that regroups its ranks, leaves it, and a
// job running as its own user could strip any marker from its environment.
// A cgroup is inherited by every descendant and only root can move a
// process out, so the job is exactly what is in its cgroup, cgroup.kill
// ends all of it at once, and cgroup.events says when nothing is left.
//
// Tree, under the directory the runner owns (Options.CgroupDir):
//
//	CgroupDir/job-<id>/              the job on this host
//	CgroupDir/job-<id>/node-<node>/  its task on one node: the wrapper,
//	                                 the command, every exec'd process
//
// One host runs one node in production; simulated nodes share a host,
// which is why each node has a leaf of its own. Processes live only in the
// leaves, as cgroup v2 requires once controllers are enabled.
//
// Accounting: cpu.stat's usage_usec is a core cgroup v2 file and needs no
// controller. memory.peak (Linux 5.19+) exists only when the memory
// controller is enabled down to the leaf, which the runner tries to do
// (it enables cpu, memory, io and pids in the subtree where the parent
// offers them). On hosts with the hybrid v1/v2 layout, memory is bound to
// v1 and the unified tree has no memory controller, so MemoryPeakBytes is
// 0 there.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// cgroup2Magic is CGROUP2_SUPER_MAGIC, the f_type of a cgroup2 mount.
const cgroup2Magic = 0x63677270

// maxCgroupFile bounds reads of cgroup files. cgroup.procs of a leaf with
// many processes is the largest (about 8 bytes per pid).
const maxCgroupFile = 4 << 20

// accountControllers are enabled for job cgroups where available.
var accountControllers = []string{"cpu", "memory", "io", "pids"}

type cgroupTree struct {
	dir string
	// byPid is set when the kernel cannot start a process in a cgroup
	// (CLONE_INTO_CGROUP, Linux 5.7+; Go uses it for
	// SysProcAttr.UseCgroupFD). The runner then writes the child's pid into
	// cgroup.procs from the parent right after starting it, and the child
	// waits for that before it runs the job's command (see place).
	byPid bool
}

var probeSeq atomic.Uint64

// openCgroupTree checks that dir is (or can be made) a writable cgroup v2
// directory with cgroup.kill, and finds out how to start processes in it.
func openCgroupTree(dir string) (*cgroupTree, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("cgroup dir: %w", err)
	}
	// The nearest existing ancestor first: MkdirAll elsewhere would make
	// plain directories that look like a slice.
	if err := onCgroup2(existingAncestor(dir)); err != nil {
		return nil, fmt.Errorf("cgroup dir %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cgroup dir %s is not writable: %w; run the agent as root, or delegate that cgroup subtree to its user (systemd: Delegate=yes)", dir, err)
	}
	if err := onCgroup2(dir); err != nil {
		return nil, fmt.Errorf("cgroup dir %s: %w", dir, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "cgroup.kill")); err != nil {
		return nil, fmt.Errorf("cgroup dir %s has no cgroup.kill: the kernel is older than Linux 5.14, which jobs need so that every process of a job can be killed", dir)
	}
	t := &cgroupTree{dir: dir}
	enableControllers(dir)
	if err := t.probe(); err != nil {
		return nil, err
	}
	return t, nil
}

// probe starts a process in a scratch cgroup, to learn whether
// CLONE_INTO_CGROUP works and to prove the tree writable.
func (t *cgroupTree) probe() error {
	p := filepath.Join(t.dir, fmt.Sprintf("probe-%d-%d", os.Getpid(), probeSeq.Add(1)))
	if err := os.Mkdir(p, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("cgroup dir %s is not writable: %w; run the agent as root, or delegate that cgroup subtree to its user (systemd: Delegate=yes)", t.dir, err)
	}
	defer os.Remove(p)
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("cgroup dir %s: %w", t.dir, err)
	}
	defer f.Close()
	cmd := exec.Command("/bin/sh", "-c", ":")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(f.Fd())}
	err = cmd.Run()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.ENOSYS), errors.Is(err, syscall.E2BIG), errors.Is(err, syscall.EINVAL):
		// clone3 (5.3) or CLONE_INTO_CGROUP (5.7) unknown to the kernel.
		t.byPid = true
	default:
		return fmt.Errorf("cannot start a process in cgroup %s: %w; run the agent as root, or delegate that cgroup subtree to its user (systemd: Delegate=yes)", p, err)
	}
	cmd = exec.Command("/bin/sh", "-c", "read _")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cgroup probe: %w", err)
	}
	err = addPid(p, cmd.Process.Pid)
	stdin.Close()
	_ = cmd.Wait()
	if err != nil {
		return fmt.Errorf("cannot move a process into cgroup %s: %w; run the agent as root, or delegate that cgroup subtree to its user (systemd: Delegate=yes)", p, err)
	}
	return nil
}

func existingAncestor(dir string) string {
	for {
		if _, err := os.Stat(dir); err == nil || dir == filepath.Dir(dir) {
			return dir
		}
		dir = filepath.Dir(dir)
	}
}

func onCgroup2(dir string) error {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		return err
	}
	if fs.Type != cgroup2Magic {
		return fmt.Errorf("%s is not on a cgroup v2 file system (f_type %#x); point the cgroup dir into the unified hierarchy: /sys/fs/cgroup/<slice>, or /sys/fs/cgroup/unified/<slice> on hosts with the hybrid v1/v2 layout", dir, fs.Type)
	}
	return nil
}

// enableControllers enables, best effort, the accounting controllers
// dir's parent offers for dir's children. Failure only costs accounting
// (no memory.peak), never the job: a delegated slice may offer none.
func enableControllers(dir string) {
	have, err := readBounded(filepath.Join(dir, "cgroup.controllers"), maxCgroupFile)
	if err != nil {
		return
	}
	avail := strings.Fields(string(have))
	for _, c := range accountControllers {
		for _, a := range avail {
			if a == c {
				_ = os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+"+c), 0)
			}
		}
	}
}

func (t *cgroupTree) jobDir(jobID uint64) string {
	return filepath.Join(t.dir, fmt.Sprintf("job-%d", jobID))
}

func (t *cgroupTree) leaf(jobID uint64, node string) string {
	return filepath.Join(t.jobDir(jobID), "node-"+node)
}

// ensureLeaf makes the task's cgroup and opens it for CLONE_INTO_CGROUP.
func (t *cgroupTree) ensureLeaf(jobID uint64, node string) (*os.File, error) {
	j := t.jobDir(jobID)
	switch err := os.Mkdir(j, 0o755); {
	case err == nil:
		enableControllers(j)
	case !errors.Is(err, fs.ErrExist):
		return nil, fmt.Errorf("job cgroup: %w", err)
	}
	l := t.leaf(jobID, node)
	if err := os.Mkdir(l, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("job cgroup: %w", err)
	}
	f, err := os.Open(l)
	if err != nil {
		return nil, fmt.Errorf("job cgroup: %w", err)
	}
	return f, nil
}

// placement puts one process into a cgroup as it starts.
type placement struct {
	f      *os.File // the cgroup, open
	gate   *os.File // byPid: the child's end of the gate pipe
	opener *os.File // byPid: ours; a line opens the gate
}

// place sets cmd up to start inside the task's cgroup (which it makes).
// Call started after a successful cmd.Start, and close in any case.
//
// With CLONE_INTO_CGROUP the child is in the cgroup from its first
// instruction. The byPid fallback cannot do that, so it makes the child
// wait, before it runs anything of the job's, until the parent has written
// its pid into cgroup.procs: it starts the command through a /bin/sh that
// first reads a line from a pipe (the gate), closes it, and execs the
// command in its own place (same pid). If the move fails, the gate closes
// unopened and the child exits with 126 without having run anything.
func (t *cgroupTree) place(cmd *exec.Cmd, jobID uint64, node string) (*placement, error) {
	f, err := t.ensureLeaf(jobID, node)
	if err != nil {
		return nil, err
	}
	p := &placement{f: f}
	if !t.byPid {
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = int(f.Fd())
		return p, nil
	}
	if cmd.Err != nil { // the command was not found; Start will say so
		return p, nil
	}
	if p.gate, p.opener, err = os.Pipe(); err != nil {
		f.Close()
		return nil, fmt.Errorf("job cgroup: %w", err)
	}
	fd := 3 + len(cmd.ExtraFiles)
	cmd.ExtraFiles = append(cmd.ExtraFiles, p.gate)
	gate := fmt.Sprintf(`read _ <&%d || exit 126; exec %d<&-; exec "$0" "$@"`, fd, fd)
	cmd.Args = append([]string{"/bin/sh", "-c", gate, cmd.Path}, cmd.Args[1:]...)
	cmd.Path = "/bin/sh"
	return p, nil
}

// started finishes placing a started cmd: in the byPid fallback, it moves
// the child into the cgroup and then lets it run.
func (p *placement) started(cmd *exec.Cmd) error {
	if p.opener == nil {
		return nil
	}
	p.gate.Close()
	p.gate = nil
	err := addPid(p.f.Name(), cmd.Process.Pid)
	if err == nil {
		_, err = p.opener.Write([]byte("\n"))
	}
	p.opener.Close()
	p.opener = nil
	return err
}

func (p *placement) close() {
	for _, f := range []*os.File{p.f, p.gate, p.opener} {
		if f != nil {
			f.Close()
		}
	}
}

func addPid(cgroup string, pid int) error {
	return os.WriteFile(filepath.Join(cgroup, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// kill ends every process in the task's cgroup. It refuses a cgroup that
// holds the runner itself (someone moved it there): cgroup.kill would end
// the runner with the job.
func (t *cgroupTree) kill(jobID uint64, node string) error {
	l := t.leaf(jobID, node)
	if !exists(l) {
		return nil
	}
	if holdsSelf(l) {
		return fmt.Errorf("job cgroup %s holds this runner (pid %d) itself; refusing to kill it", l, os.Getpid())
	}
	if err := os.WriteFile(filepath.Join(l, "cgroup.kill"), []byte("1"), 0); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("kill job %d on %s: %w", jobID, node, err)
	}
	return nil
}

// holdsSelf reports whether the runner's process is in cgroup dir or
// below it.
func holdsSelf(dir string) bool {
	self := os.Getpid()
	found := false
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || found {
			return filepath.SkipDir
		}
		if d.IsDir() {
			if pids, err := readProcs(p); err == nil {
				for _, pid := range pids {
					if pid == self {
						found = true
						return filepath.SkipAll
					}
				}
			}
		}
		return nil
	})
	return found
}

// readProcs lists the pids in a cgroup (not in its descendants).
func readProcs(dir string) ([]int, error) {
	b, err := readBounded(filepath.Join(dir, "cgroup.procs"), maxCgroupFile)
	if err != nil {
		return nil, err
	}
	return parsePids(b)
}

// parsePids parses one decimal pid per line.
func parsePids(b []byte) ([]int, error) {
	var out []int
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" {
			continue
		}
		pid, err := strconv.Atoi(line)
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("cgroup.procs: bad pid %q", line)
		}
		out = append(out, pid)
	}
	return out, nil
}

// populated reads cgroup.events: whether any process is left in the
// cgroup or below it. Zombies do not count.
func populated(dir string) (bool, error) {
	b, err := readBounded(filepath.Join(dir, "cgroup.events"), maxCgroupFile)
	if err != nil {
		return false, err
	}
	kv, err := parseKeyed(b)
	if err != nil {
		return false, fmt.Errorf("%s: %w", dir, err)
	}
	v, ok := kv["populated"]
	if !ok {
		return false, fmt.Errorf("%s/cgroup.events has no populated line", dir)
	}
	return v != 0, nil
}

// drain kills the task's cgroup until it is empty and returns how many
// processes it held first.
func (t *cgroupTree) drain(jobID uint64, node string) (int, error) {
	l := t.leaf(jobID, node)
	procs, _ := readProcs(l)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := t.kill(jobID, node); err != nil {
			return 0, err
		}
		busy, err := populated(l)
		if errors.Is(err, fs.ErrNotExist) {
			return len(procs), nil
		}
		if err != nil {
			return 0, err
		}
		if !busy {
			return len(procs), nil
		}
		if time.Now().After(deadline) {
			left, _ := readProcs(l)
			return 0, fmt.Errorf("clean %s: processes %v of job %d survive cgroup.kill of %s", node, left, jobID, l)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// remove deletes the task's cgroup, which must be empty, and the job's
// when no other node's is left in it.
func (t *cgroupTree) remove(jobID uint64, node string) error {
	l := t.leaf(jobID, node)
	var err error
	for i := 0; i < 50; i++ { // a just-emptied cgroup may be busy briefly
		if err = syscall.Rmdir(l); err == nil || errors.Is(err, syscall.ENOENT) {
			err = nil
			break
		}
		if !errors.Is(err, syscall.EBUSY) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("remove job cgroup %s: %w", l, err)
	}
	_ = syscall.Rmdir(t.jobDir(jobID)) // ENOTEMPTY/EBUSY: other nodes of the job
	return nil
}

// usage reads the task cgroup's accounting. ok is false when the cgroup is
// gone.
func (t *cgroupTree) usage(jobID uint64, node string) (u usage, ok bool, err error) {
	l := t.leaf(jobID, node)
	b, err := readBounded(filepath.Join(l, "cpu.stat"), maxCgroupFile)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENODEV) {
		return u, false, nil
	}
	if err != nil {
		return u, false, err
	}
	kv, err := parseKeyed(b)
	if err != nil {
		return u, false, fmt.Errorf("%s/cpu.stat: %w", l, err)
	}
	u.CPUUsec = kv["usage_usec"]
	if b, err := readBounded(filepath.Join(l, "memory.peak"), maxCgroupFile); err == nil {
		if u.MemoryPeakBytes, err = strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 64); err != nil {
			return u, false, fmt.Errorf("%s/memory.peak: %q is not a number", l, bytes.TrimSpace(b))
		}
	}
	return u, true, nil
}

// readBounded reads at most limit bytes of path, and fails if it is
// larger.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return b, nil
}
