package localexec

// The job user's sweep. A cgroup holds every process a job forks, but not
// every process a job's user can get started: cron, at, a systemd user
// manager or a setuid helper start processes outside it, and those would
// survive cgroup.kill into the next tenancy. So, with a job user and
// Options.SweepUser, Clean also kills every process of that user the
// runner's jobs could have started and proves none is left.
//
// "Could have started": the process runs with the job user's uid (real,
// effective, saved or file system), started after the runner's epoch (the
// first time it ever prepared a job on this host, kept in a file) and is
// not inside another task's job cgroup. A process of that user older than
// the epoch predates every job (a daemon started at boot that runs as
// nobody), and one in another job's cgroup belongs to that job (simulated
// nodes share a host). The job user should nevertheless be one that only
// jobs use: see README, "Node agents".
//
// The start time comes from /proc: starttime (in USER_HZ ticks since boot)
// plus the boot time (/proc/stat btime, whole seconds), so it is known to
// about a second; epochSlack widens the window by that much.

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// userHZ is the kernel's USER_HZ, the unit of /proc/PID/stat's times: 100
// on every architecture Linux exports it for.
const userHZ = 100

// epochSlack covers the rounding of /proc start times (btime is whole
// seconds) so a process started right after the epoch is never missed.
const epochSlack = 2 * time.Second

// maxProcFile bounds reads of /proc/PID/{stat,status,cgroup}.
const maxProcFile = 64 << 10

// sweepWait bounds how long Clean kills and re-checks the job user's
// processes before it reports the survivors.
const sweepWait = 5 * time.Second

// epochFile is the runner's epoch in its bookkeeping root: Unix nanoseconds.
const epochFile = "epoch"

// noteEpoch records the epoch the first time the runner prepares a job.
// It never moves later: a process older than it cannot be a job's.
func (r *Runner) noteEpoch() error {
	path := filepath.Join(r.stateRoot(), epochFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, r.fileMode())
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("record the runner's epoch: %w", err)
	}
	_, err = f.WriteString(strconv.FormatInt(time.Now().UnixNano(), 10) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// epoch is when the runner first prepared a job; ok is false when it
// never did (so no process of the job user can be a job's).
func (r *Runner) epoch() (time.Time, bool, error) {
	b, err := readBounded(filepath.Join(r.stateRoot(), epochFile), 64)
	if errors.Is(err, fs.ErrNotExist) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, err
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || ns <= 0 {
		return time.Time{}, false, fmt.Errorf("runner epoch file: %q is not a time", bytes.TrimSpace(b))
	}
	return time.Unix(0, ns), true, nil
}

// proc is what the sweep knows of one process.
type proc struct {
	PID     int
	Comm    string
	Start   time.Time
	Cgroup  string // its cgroup v2 path, "" if unknown
	UIDs    [4]uint32
	Zombie  bool
	inJob   bool // Cgroup is some task's job cgroup
	jobID   uint64
	jobNode string
}

func (p proc) String() string { return fmt.Sprintf("%d (%s)", p.PID, p.Comm) }

// jobCgroupRe matches a task's cgroup: .../job-<id>/node-<node>, the
// layout of cgroupTree.leaf, under any runner's directory.
var jobCgroupRe = regexp.MustCompile(`/job-([0-9]{1,20})/node-([^/]+)$`)

// hasUID reports whether any of the process's uids is uid.
func (p proc) hasUID(uid uint32) bool { return slices.Contains(p.UIDs[:], uid) }

// listProcs reads every process of /proc with the fields the sweep needs.
// A process that exits while it is read is skipped.
func listProcs(procRoot string) ([]proc, error) {
	boot, err := bootTime(procRoot)
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, err
	}
	var out []proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		dir := filepath.Join(procRoot, e.Name())
		st, err := readBounded(filepath.Join(dir, "stat"), maxProcFile)
		if err != nil {
			continue
		}
		comm, state, ticks, err := parseProcStat(st)
		if err != nil {
			continue
		}
		status, err := readBounded(filepath.Join(dir, "status"), maxProcFile)
		if err != nil {
			continue
		}
		uids, err := parseStatusUIDs(status)
		if err != nil {
			continue
		}
		p := proc{PID: pid, Comm: comm, UIDs: uids, Zombie: state == "Z" || state == "X",
			Start: boot.Add(time.Duration(ticks) * (time.Second / userHZ))}
		if cg, err := readBounded(filepath.Join(dir, "cgroup"), maxProcFile); err == nil {
			p.Cgroup = parseCgroupV2(cg)
		}
		if m := jobCgroupRe.FindStringSubmatch(p.Cgroup); m != nil {
			if id, err := strconv.ParseUint(m[1], 10, 64); err == nil {
				p.inJob, p.jobID, p.jobNode = true, id, m[2]
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// bootTime reads btime from /proc/stat.
func bootTime(procRoot string) (time.Time, error) {
	b, err := readBounded(filepath.Join(procRoot, "stat"), 4<<20)
	if err != nil {
		return time.Time{}, err
	}
	return parseBootTime(b)
}

func parseBootTime(b []byte) (time.Time, error) {
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil || s <= 0 {
				return time.Time{}, fmt.Errorf("/proc/stat: bad btime %q", v)
			}
			return time.Unix(s, 0), nil
		}
	}
	return time.Time{}, errors.New("/proc/stat has no btime line")
}

// parseProcStat returns the command name, the state and the start time
// (field 22, in USER_HZ ticks since boot) of a /proc/PID/stat line. The
// name is between the first '(' and the last ')', and may hold anything.
func parseProcStat(b []byte) (comm, state string, start uint64, err error) {
	open, closing := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open {
		return "", "", 0, errors.New("stat: no command name")
	}
	comm = string(b[open+1 : closing])
	f := strings.Fields(string(b[closing+1:]))
	// f[0] is field 3 (state); starttime is field 22, f[19].
	if len(f) < 20 {
		return "", "", 0, fmt.Errorf("stat: %d fields after the name, want at least 20", len(f))
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return "", "", 0, fmt.Errorf("stat: starttime %q: %w", f[19], err)
	}
	return comm, f[0], start, nil
}

// parseStatusUIDs reads the "Uid:" line of /proc/PID/status: real,
// effective, saved and file-system uid.
func parseStatusUIDs(b []byte) ([4]uint32, error) {
	var u [4]uint32
	for _, line := range strings.Split(string(b), "\n") {
		v, ok := strings.CutPrefix(line, "Uid:")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 4 {
			return u, fmt.Errorf("status: Uid line has %d fields, want 4", len(f))
		}
		for i, s := range f {
			n, err := strconv.ParseUint(s, 10, 32)
			if err != nil {
				return u, fmt.Errorf("status: uid %q: %w", s, err)
			}
			u[i] = uint32(n)
		}
		return u, nil
	}
	return u, errors.New("status: no Uid line")
}

// parseCgroupV2 returns the unified hierarchy's path from /proc/PID/cgroup
// (the "0::PATH" line), "" when there is none.
func parseCgroupV2(b []byte) string {
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return p
		}
	}
	return ""
}

// userStrays lists the live processes of the job user the runner's jobs
// could have started (see the top of this file) and that are not inside
// the job cgroup of a task other than keep (nil: any task's cgroup spares
// a process).
func (r *Runner) userStrays(procs []proc, since time.Time, keep func(job uint64, node string) bool) []proc {
	var out []proc
	for _, p := range procs {
		if p.Zombie || !p.hasUID(r.user.UID) || p.Start.Before(since.Add(-epochSlack)) || p.PID == os.Getpid() {
			continue
		}
		if p.inJob && keep(p.jobID, p.jobNode) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// sweepUser kills what userStrays finds for the task's clean until none
// is left, and returns the evidence; "" when the runner has no job user or
// does not sweep.
func (r *Runner) sweepUser(jobID uint64, node string) (string, error) {
	if r.user == nil || !r.sweep {
		return "", nil
	}
	since, ok, err := r.epoch()
	if err != nil {
		return "", fmt.Errorf("clean %s: %w", node, err)
	}
	if !ok {
		return fmt.Sprintf("; job user %s (uid %d): this runner never prepared a job, so no process of it is a job's", r.user.Name, r.user.UID), nil
	}
	other := func(j uint64, n string) bool { return j != jobID || n != node }
	var killed []string
	deadline := time.Now().Add(sweepWait)
	for {
		procs, err := listProcs("/proc")
		if err != nil {
			return "", fmt.Errorf("clean %s: list processes: %w", node, err)
		}
		strays := r.userStrays(procs, since, other)
		if len(strays) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("clean %s: processes of job user %s survive SIGKILL: %v", node, r.user.Name, strays)
		}
		for _, p := range strays {
			if err := syscall.Kill(p.PID, syscall.SIGKILL); err == nil && !slices.Contains(killed, p.String()) {
				killed = append(killed, p.String())
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	what := "none outside the job's cgroup"
	if len(killed) > 0 {
		what = fmt.Sprintf("%d outside the job's cgroup killed (%s)", len(killed), strings.Join(capList(killed, 8), ", "))
	}
	return fmt.Sprintf("; job user %s (uid %d), processes started since %s: %s; none left",
		r.user.Name, r.user.UID, since.UTC().Format(time.RFC3339), what), nil
}

func capList(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(slices.Clone(s[:n]), fmt.Sprintf("and %d more", len(s)-n))
}

// Leftovers is what a node about to be handed to a tenant still holds of
// earlier jobs: job cgroups with processes in them, and processes of the
// job user outside every job cgroup (see the top of this file).
type Leftovers struct {
	// Cgroups are populated job cgroups under the runner's cgroup
	// directory, with their pids.
	Cgroups map[string][]int `json:",omitempty"`
	// UserProcs are the job user's processes outside every job cgroup.
	UserProcs []string `json:",omitempty"`
	// Checked says what was looked at, for the evidence.
	Checked []string
}

// None reports whether nothing was found.
func (l Leftovers) None() bool { return len(l.Cgroups) == 0 && len(l.UserProcs) == 0 }

// Leftovers looks, without killing anything, for processes of earlier
// jobs: the hand-out check before a node goes to its next tenant. Every
// task must have been cleaned by then, so any populated job cgroup and any
// stray of the job user counts.
func (r *Runner) Leftovers() (Leftovers, error) {
	var l Leftovers
	if r.cg != nil {
		l.Checked = append(l.Checked, "job cgroups under "+r.cg.dir)
		err := filepath.WalkDir(r.cg.dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() || p == r.cg.dir {
				return nil
			}
			if !jobCgroupRe.MatchString(p) {
				return nil
			}
			if busy, err := populated(p); err == nil && busy {
				pids, _ := readProcs(p)
				if l.Cgroups == nil {
					l.Cgroups = map[string][]int{}
				}
				l.Cgroups[p] = pids
			}
			return filepath.SkipDir
		})
		if err != nil {
			return l, fmt.Errorf("leftovers: %w", err)
		}
	}
	if r.user != nil && r.sweep {
		since, ok, err := r.epoch()
		if err != nil {
			return l, fmt.Errorf("leftovers: %w", err)
		}
		l.Checked = append(l.Checked, fmt.Sprintf("processes of job user %s (uid %d)", r.user.Name, r.user.UID))
		if ok {
			procs, err := listProcs("/proc")
			if err != nil {
				return l, fmt.Errorf("leftovers: list processes: %w", err)
			}
			for _, p := range r.userStrays(procs, since, func(uint64, string) bool { return true }) {
				l.UserProcs = append(l.UserProcs, p.String())
			}
		}
	}
	if len(l.Checked) == 0 {
		l.Checked = []string{"nothing: the runner has neither cgroups nor a job user it sweeps"}
	}
	return l, nil
}
