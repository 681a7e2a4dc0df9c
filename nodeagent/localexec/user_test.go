package localexec

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ibex-hpc/ibex/internal/execrun"
)

// jobUserRoot returns a runner root the user nobody can reach: t.TempDir
// makes the directory that holds a test's temporary directories 0700.
func jobUserRoot(t *testing.T) (root string, nobody *JobUser) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("switching to a job user needs root")
	}
	u, err := LookupJobUser("nobody")
	if err != nil {
		t.Skipf("no user nobody: %v", err)
	}
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "jobs"), u
}

// isolationScript is what a curious tenant tries. Every LEAKED or FORGED
// line is a failure.
const isolationScript = `id -u
cat ../admin.token && echo LEAKED-TOKEN
ls ../` + stateDirName + ` && echo LEAKED-STATE-LIST
cat ../` + stateDirName + `/job-1/n1.out && echo LEAKED-OUTPUT
echo 0 > ../` + stateDirName + `/job-1/n1.exit && echo FORGED-EXIT
kill -9 $PPID && echo KILLED-WRAPPER
echo "exit file var: [$IBEX_EXIT_FILE]"
touch mine && echo wrote-own-dir
exit 7
`

func TestJobUserIsolation(t *testing.T) {
	for _, withCgroup := range []bool{false, true} {
		name := "plain"
		if withCgroup {
			name = "cgroup"
		}
		t.Run(name, func(t *testing.T) {
			root, nobody := jobUserRoot(t)
			o := Options{User: nobody}
			if withCgroup {
				o.CgroupDir = testCgroupDir(t)
			}
			r, err := NewWithOptions(root, o)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, "admin.token"), []byte("secret\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := r.Start(Task{JobID: 1, Node: "n1", Nodes: []string{"n1"}, Script: isolationScript}); err != nil {
				t.Fatal(err)
			}
			st := waitPhase(t, r, 1, "n1", Exited)
			out, _ := r.Output(1, "n1", 1<<20)
			lines := strings.Split(string(out), "\n")
			if lines[0] != "65534" {
				t.Errorf("id -u said %q, want 65534", lines[0])
			}
			for _, bad := range []string{"LEAKED", "FORGED", "KILLED-WRAPPER", "secret"} {
				if strings.Contains(string(out), bad) {
					t.Errorf("output has %s:\n%s", bad, out)
				}
			}
			if !strings.Contains(string(out), "exit file var: []\n") || !strings.Contains(string(out), "wrote-own-dir\n") {
				t.Errorf("output:\n%s", out)
			}
			// The job's own exit status, although it tried to forge one and
			// to kill its wrapper.
			if st.ExitCode != 7 {
				t.Errorf("exit %d, want 7; output:\n%s", st.ExitCode, out)
			}
			wantOwner(t, r.JobDir(1), 65534, 0o700)
			wantOwner(t, filepath.Join(r.JobDir(1), "mine"), 65534, -1)
			wantOwner(t, r.stateDir(1), 0, 0o700)
			wantOwner(t, r.file(1, "n1", "out"), 0, 0o600)
			wantOwner(t, r.file(1, "n1", "exit"), 0, -1)

			// exec'd processes run as the job user too, with a private
			// TMPDIR they own.
			var eout execrun.Buffer
			p, err := r.StartExec(ExecTask{JobID: 1, Node: "n1", Nodes: []string{"n1"},
				Argv: []string{"/bin/sh", "-c", `id -u; id -g; touch "$TMPDIR/x" && echo tmp-ok; cat ../admin.token || echo no-token`}}, &eout, &execrun.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			if res, err := p.Wait(); err != nil || res.ExitCode != 0 {
				t.Fatalf("exec: %+v, %v", res, err)
			}
			p.Close()
			if got := eout.String(); got != "65534\n65534\ntmp-ok\nno-token\n" {
				t.Errorf("exec output %q", got)
			}
			if _, err := r.Clean(1, "n1"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// wantOwner checks a path's owner and, unless mode is -1, its permissions.
func wantOwner(t *testing.T, path string, uid uint32, mode int) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Error(err)
		return
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != uid || (mode >= 0 && fi.Mode().Perm() != os.FileMode(mode)) {
		t.Errorf("%s: uid %d mode %04o, want uid %d mode %04o", path, st.Uid, fi.Mode().Perm(), uid, mode)
	}
}

// TestJobUserRootUnreachable: a root the job user cannot enter is refused
// up front, not discovered by every job failing.
func TestJobUserRootUnreachable(t *testing.T) {
	_, nobody := jobUserRoot(t)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := NewWithOptions(filepath.Join(dir, "jobs"), Options{User: nobody})
	if err == nil || !strings.Contains(err.Error(), `job user "nobody" cannot reach`) {
		t.Fatalf("err %v", err)
	}
}

// TestPlantedLinkNotFollowed: a job user that replaces a file the runner
// writes into its directory with a link does not get the runner to write
// or chmod the link's target.
func TestPlantedLinkNotFollowed(t *testing.T) {
	root, nobody := jobUserRoot(t)
	r := mustRunner(t, root, Options{User: nobody})
	victim := filepath.Join(root, "victim")
	if err := os.WriteFile(victim, []byte("keep\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ensureJobDir(3); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(r.JobDir(3), "hostfile-1.openmpi")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(r.JobDir(3), "n1.tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(r.JobDir(3), "cred")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.PrepareLaunch(3, []string{"n1"}, Launch{}); err != nil {
		t.Fatal(err)
	}
	if path, err := r.WriteJobFile(3, "cred", []byte("token\n"), 0o644); err != nil || path != filepath.Join(r.JobDir(3), "cred") {
		t.Fatalf("WriteJobFile: %q, %v", path, err)
	}
	if b, err := os.ReadFile(filepath.Join(r.JobDir(3), "cred")); err != nil || string(b) != "token\n" {
		t.Fatalf("cred %q, %v", b, err)
	}
	if _, err := r.WriteJobFile(3, "../escape", nil, 0o644); err == nil {
		t.Fatal("WriteJobFile took a path")
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep\n" {
		t.Fatalf("victim now %q", b)
	}
	wantOwner(t, victim, 0, 0o600)
	_, err := r.StartExec(ExecTask{JobID: 3, Node: "n1", Nodes: []string{"n1"}, Argv: []string{"true"}}, &execrun.Buffer{}, &execrun.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("exec with a planted TMPDIR link: %v", err)
	}
	wantOwner(t, victim, 0, 0o600)
}
