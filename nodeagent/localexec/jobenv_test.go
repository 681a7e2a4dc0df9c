package localexec

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestBatchJobEnvironment runs a batch job as the job user with an
// exported environment, a working directory and -o/-e files, and checks
// what a tenant would: the variables arrive (ibex's own win), nothing of
// the runner's environment leaks, the files are the job user's, and the
// tenant's PATH never reaches the wrapper that runs as root.
func TestBatchJobEnvironment(t *testing.T) {
	root, nobody := jobUserRoot(t)
	t.Setenv("IBEXD_SECRET", "runner-secret")
	r, err := NewWithOptions(root, Options{User: nobody})
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Dir(root)
	work := filepath.Join(base, "work")
	evil := filepath.Join(base, "evilbin")
	for _, d := range []string{work, evil} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(work, int(nobody.UID), int(nobody.GID)); err != nil {
		t.Fatal(err)
	}
	// A wrapper that looked up mv in the tenant's PATH would run this as root.
	marker := filepath.Join(base, "evil-ran")
	if err := os.WriteFile(filepath.Join(evil, "mv"), []byte("#!/bin/sh\ntouch "+marker+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	script := `pwd
echo "FOO=[$FOO]"
echo "SLURM=$SLURM_JOB_ID $SLURM_JOB_NAME $SLURM_PROCID $SLURM_NNODES $SLURM_SUBMIT_DIR"
env | grep -c IBEXD_SECRET
env | grep -c '^IBEX_U'
echo to-stderr >&2
exit 3
`
	task := Task{JobID: 7, Node: "n1", Nodes: []string{"n1"}, Script: script, JobEnv: JobEnv{
		Tenant: "alice", Name: "envtest", Workdir: work, SubmitDir: "/submit", Output: "out.%j.%N", Error: "err.%x.%j", SlurmEnv: true,
		UserEnv: []string{"FOO=a b\nc", "PATH=" + evil + ":/usr/bin:/bin", "SLURM_JOB_ID=999"}}}
	if err := r.Start(task); err != nil {
		t.Fatal(err)
	}
	st := waitPhase(t, r, 7, "n1", Exited)
	if st.ExitCode != 3 {
		t.Errorf("exit code %d, want 3 (recorded by the wrapper)", st.ExitCode)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the tenant's PATH reached the root wrapper: its mv ran")
	}
	out, err := os.ReadFile(filepath.Join(work, "out.7.n1"))
	if err != nil {
		t.Fatalf("-o file: %v", err)
	}
	want := work + "\nFOO=[a b\nc]\nSLURM=7 envtest 0 1 /submit\n0\n0\n"
	if string(out) != want {
		t.Errorf("-o file:\n%s\nwant:\n%s", out, want)
	}
	errOut, err := os.ReadFile(filepath.Join(work, "err.envtest.7"))
	if err != nil || string(errOut) != "to-stderr\n" {
		t.Errorf("-e file: %q, %v", errOut, err)
	}
	for _, f := range []string{"out.7.n1", "err.envtest.7"} {
		fi, err := os.Stat(filepath.Join(work, f))
		if err != nil || fi.Sys() == nil || ownerOf(fi) != nobody.UID {
			t.Errorf("%s is not the job user's", f)
		}
	}

	// A link planted at the output's name to a file only root may write:
	// the job user's open fails, the file is untouched.
	target := filepath.Join(base, "root-only")
	if err := os.WriteFile(target, []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(work, "out.8.n1")); err != nil {
		t.Fatal(err)
	}
	task.JobID = 8
	if err := r.Start(task); err != nil {
		t.Fatal(err)
	}
	if st := waitPhase(t, r, 8, "n1", Exited); st.ExitCode == 0 || st.ExitCode == 3 {
		t.Errorf("job with a planted link exited %d; want the failed open's code", st.ExitCode)
	}
	if b, _ := os.ReadFile(target); string(b) != "precious\n" {
		t.Fatalf("root's file was written through the link: %q", b)
	}

	// An output file the job user may not create: the job fails, and its
	// stderr stream says why.
	task.JobID, task.Workdir = 9, base // root's, 0755
	if err := r.Start(task); err != nil {
		t.Fatal(err)
	}
	if st := waitPhase(t, r, 9, "n1", Exited); st.ExitCode != 1 {
		t.Errorf("job with an unwritable -o exited %d, want 1", st.ExitCode)
	}
	if b, _, _ := r.ReadStream(9, "n1", StreamStderr, 0, 1<<20); !strings.Contains(string(b), "cannot write its output file out.9.n1") {
		t.Errorf("stderr stream %q does not say why", b)
	}

	// Working directories the job user cannot use fail the start, saying why.
	closed := filepath.Join(base, "closed")
	if err := os.Mkdir(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	for dir, why := range map[string]string{filepath.Join(base, "missing"): "does not exist on n1", closed: "cannot be entered by the job user nobody"} {
		task.JobID += 10
		task.Workdir = dir
		err := r.Start(task)
		if err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("workdir %s: %v, want an error saying %q", dir, err, why)
		}
	}
}

func ownerOf(fi os.FileInfo) uint32 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Uid
	}
	return ^uint32(0)
}
