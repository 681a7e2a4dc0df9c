package localexec

import (
	"crypto/rand"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sweepUser returns a job user with a uid no one else on this host uses
// (no passwd entry needed: setpriv takes numbers), so a sweep in a test
// cannot touch another test's processes, and a runner root it can reach.
func sweepUserRoot(t *testing.T) (string, *JobUser) {
	t.Helper()
	root, _ := jobUserRoot(t)
	var b [4]byte
	_, _ = rand.Read(b[:])
	uid := 1_500_000_000 + binary.BigEndian.Uint32(b[:])%100_000_000
	for {
		if _, err := os.Stat("/proc/self"); err != nil {
			t.Skip("no /proc")
		}
		procs, err := listProcs("/proc")
		if err != nil {
			t.Fatal(err)
		}
		used := false
		for _, p := range procs {
			used = used || p.hasUID(uid)
		}
		if !used {
			break
		}
		uid++
	}
	return root, &JobUser{Name: "ibex-sweep-" + strconv.FormatUint(uint64(uid), 10), UID: uid, GID: uid}
}

// startAs starts argv as u outside any job cgroup (in the test's own
// cgroup), as cron or at would start a tenant's process.
func startAs(t *testing.T, u *JobUser, argv ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: u.credential(), Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd
}

func TestUserStraysRule(t *testing.T) {
	r := &Runner{user: &JobUser{Name: "tenant", UID: 5000}}
	epoch := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	procs := []proc{
		{PID: 10, Comm: "old-daemon", UIDs: [4]uint32{5000, 5000, 5000, 5000}, Start: epoch.Add(-time.Hour)},
		{PID: 11, Comm: "escaped", UIDs: [4]uint32{5000, 5000, 5000, 5000}, Start: epoch.Add(time.Minute)},
		{PID: 12, Comm: "setuid-helper", UIDs: [4]uint32{5000, 0, 0, 0}, Start: epoch.Add(time.Minute)},
		{PID: 13, Comm: "root", UIDs: [4]uint32{0, 0, 0, 0}, Start: epoch.Add(time.Minute)},
		{PID: 14, Comm: "other-job", UIDs: [4]uint32{5000, 5000, 5000, 5000}, Start: epoch.Add(time.Minute), inJob: true, jobID: 8, jobNode: "n2"},
		{PID: 15, Comm: "this-job", UIDs: [4]uint32{5000, 5000, 5000, 5000}, Start: epoch.Add(time.Minute), inJob: true, jobID: 7, jobNode: "n1"},
		{PID: 16, Comm: "zombie", UIDs: [4]uint32{5000, 5000, 5000, 5000}, Start: epoch.Add(time.Minute), Zombie: true},
		{PID: 17, Comm: "at-the-epoch", UIDs: [4]uint32{5000, 5000, 5000, 5000}, Start: epoch.Add(-time.Second)},
	}
	got := r.userStrays(procs, epoch, func(j uint64, n string) bool { return j != 7 || n != "n1" })
	var names []string
	for _, p := range got {
		names = append(names, p.Comm)
	}
	if want := "escaped setuid-helper this-job at-the-epoch"; strings.Join(names, " ") != want {
		t.Errorf("strays %v, want %s", names, want)
	}
}

func TestProcParsers(t *testing.T) {
	comm, state, start, err := parseProcStat([]byte("42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 12345 1000 200 18446744073709551615\n"))
	if err != nil || comm != "a (b) c" || state != "S" || start != 12345 {
		t.Errorf("parseProcStat = %q %q %d %v", comm, state, start, err)
	}
	u, err := parseStatusUIDs([]byte("Name:\tsleep\nUid:\t1\t2\t3\t4\nGid:\t0\t0\t0\t0\n"))
	if err != nil || u != [4]uint32{1, 2, 3, 4} {
		t.Errorf("parseStatusUIDs = %v %v", u, err)
	}
	if _, err := parseStatusUIDs([]byte("Uid:\t1\t2\n")); err == nil {
		t.Error("a short Uid line parsed")
	}
	if p := parseCgroupV2([]byte("12:cpu:/x\n0::/ibex.slice/job-3/node-a\n")); p != "/ibex.slice/job-3/node-a" {
		t.Errorf("parseCgroupV2 = %q", p)
	}
	if b, err := parseBootTime([]byte("cpu 1 2\nbtime 1700000000\n")); err != nil || b.Unix() != 1700000000 {
		t.Errorf("parseBootTime = %v %v", b, err)
	}
	// The real /proc agrees about this process.
	procs, err := listProcs("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		if p.PID == os.Getpid() {
			if d := time.Since(p.Start); d < 0 || d > time.Hour {
				t.Errorf("this test started %v ago, says /proc", d)
			}
			return
		}
	}
	t.Error("listProcs did not find this process")
}

// TestCleanSweepsJobUser: a process of the job user that the job did not
// fork (cron, at) survives cgroup.kill; Clean kills it too and says so,
// and leaves other users' processes alone.
func TestCleanSweepsJobUser(t *testing.T) {
	root, u := sweepUserRoot(t)
	r, err := NewWithOptions(root, Options{User: u, CgroupDir: testCgroupDir(t), SweepUser: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(Task{JobID: 4, Node: "n1", Nodes: []string{"n1"}, Script: "exec sleep 300"}); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, r, 4, "n1", Running)
	escaped := startAs(t, u, "sleep", "300")
	bystander := exec.Command("sleep", "300")
	if err := bystander.Start(); err != nil {
		t.Fatal(err)
	}
	defer bystander.Process.Kill()
	go func() { _ = bystander.Wait() }()

	l, err := r.Leftovers()
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Cgroups) != 1 || len(l.UserProcs) != 1 || !strings.Contains(l.UserProcs[0], strconv.Itoa(escaped.Process.Pid)) {
		t.Errorf("before the clean, leftovers %+v: want the job's cgroup and the escaped process %d", l, escaped.Process.Pid)
	}
	ev, err := r.Clean(4, "n1")
	if err != nil {
		t.Fatal(err)
	}
	t.Log(ev)
	if !strings.Contains(ev, "1 outside the job's cgroup killed ("+strconv.Itoa(escaped.Process.Pid)+" (sleep))") || !strings.HasSuffix(ev, "none left") {
		t.Errorf("evidence does not name the escaped process: %s", ev)
	}
	waitFor(t, "the escaped process to die", func() bool { return procGone(escaped.Process.Pid) })
	if procGone(bystander.Process.Pid) {
		t.Error("the sweep killed another user's process")
	}
	if l, err := r.Leftovers(); err != nil || !l.None() {
		t.Errorf("after the clean, leftovers %+v, %v", l, err)
	}
	if _, err := os.Stat(filepath.Join(r.stateRoot(), epochFile)); err != nil {
		t.Errorf("no epoch file: %v", err)
	}
}

// TestNoSweepWithoutOption: without SweepUser a shared user's other
// processes are nobody's business (simulated nodes share a host).
func TestNoSweepWithoutOption(t *testing.T) {
	root, u := sweepUserRoot(t)
	r, err := NewWithOptions(root, Options{User: u, CgroupDir: testCgroupDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(Task{JobID: 1, Node: "n1", Nodes: []string{"n1"}, Script: "exec sleep 300"}); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, r, 1, "n1", Running)
	other := startAs(t, u, "sleep", "300")
	ev, err := r.Clean(1, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(ev, "job user") || procGone(other.Process.Pid) {
		t.Errorf("swept without SweepUser: %s", ev)
	}
}

func FuzzParseProcStat(f *testing.F) {
	f.Add([]byte("1 (init) S 0 1 1 0 -1 4194560 1 0 0 0 1 2 0 0 20 0 1 0 5 1000 200 1\n"))
	f.Add([]byte("2 ()) R"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxProcFile {
			return
		}
		comm, _, _, err := parseProcStat(b)
		if err == nil && len(comm) > len(b) {
			t.Fatal("name longer than the line")
		}
	})
}

func FuzzParseStatusUIDs(f *testing.F) {
	f.Add([]byte("Uid:\t0\t0\t0\t0\n"))
	f.Add([]byte("Uid: 1 2 3\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxProcFile {
			return
		}
		_, _ = parseStatusUIDs(b)
		_ = parseCgroupV2(b)
		_, _ = parseBootTime(b)
	})
}
