package mpi

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// onlyPath finds exactly the given programs, under /usr/bin.
func onlyPath(names ...string) func(string) (string, error) {
	return func(name string) (string, error) {
		if slices.Contains(names, name) {
			return "/usr/bin/" + name, nil
		}
		return "", errors.New("not found")
	}
}

func TestCommand(t *testing.T) {
	files := Files{OpenMPIHostfile: "/j/hostfile-2.openmpi", MPICHHostfile: "/j/hostfile-2.mpich", Agent: "/j/ibex-exec-agent"}
	got, err := Command(OpenMPI, files, 4, 2, []string{"./app", "-v"}, onlyPath("mpirun", "mpirun.openmpi"))
	want := "/usr/bin/mpirun.openmpi --hostfile /j/hostfile-2.openmpi -np 8 --mca plm rsh --mca plm_rsh_agent /j/ibex-exec-agent --mca ras ^slurm ./app -v"
	if err != nil || strings.Join(got, " ") != want {
		t.Fatalf("openmpi: %q, %v\nwant %q", got, err, want)
	}
	got, err = Command(MPICH, files, 4, 2, []string{"./app"}, onlyPath("mpiexec.hydra"))
	want = "/usr/bin/mpiexec.hydra -f /j/hostfile-2.mpich -n 8 -ppn 2 -launcher ssh -launcher-exec /j/ibex-exec-agent -rmk user -genvnone ./app"
	if err != nil || strings.Join(got, " ") != want {
		t.Fatalf("mpich: %q, %v\nwant %q", got, err, want)
	}
	got, err = Command(MPICH, files, 3, 0, []string{"./app"}, onlyPath("mpiexec"))
	if err != nil || !slices.Equal(got[3:7], []string{"-n", "3", "-ppn", "1"}) {
		t.Fatalf("0 tasks per node must mean 1: %q, %v", got, err)
	}
	if _, err := Command(MPICH, files, 1, 1, []string{"./app"}, onlyPath()); err == nil || !strings.Contains(err.Error(), "no mpich launcher") {
		t.Fatalf("no launcher: %v", err)
	}
	if _, err := Command("lam", files, 1, 1, []string{"./app"}, onlyPath("mpirun")); err == nil || !strings.Contains(err.Error(), `unknown MPI "lam"`) {
		t.Fatalf("unknown flavour: %v", err)
	}
	files.Agent = ""
	if _, err := Command(OpenMPI, files, 1, 1, []string{"./app"}, onlyPath("mpirun")); err == nil || !strings.Contains(err.Error(), "launch agent") {
		t.Fatalf("no agent: %v", err)
	}
}

func TestFromLibraries(t *testing.T) {
	for _, c := range []struct {
		libs []string
		want string
	}{
		{[]string{"libc.so.6", "libmpi.so.40"}, OpenMPI},
		{[]string{"libopen-rte.so.40"}, OpenMPI},
		{[]string{"libmpi.so.12", "libc.so.6"}, MPICH},
		{[]string{"libmpich.so.12"}, MPICH},
		{[]string{"libc.so.6", "libm.so.6"}, ""},
		{nil, ""},
	} {
		if got := FromLibraries(c.libs); got != c.want {
			t.Errorf("%v: %q, want %q", c.libs, got, c.want)
		}
	}
}

// TestDetect builds a tiny program with each installed MPI's mpicc and
// checks that auto picks the matching launcher.
func TestDetect(t *testing.T) {
	src := filepath.Join(t.TempDir(), "p.c")
	os.WriteFile(src, []byte("#include <mpi.h>\nint main(int c, char **v) { MPI_Init(&c, &v); return MPI_Finalize(); }\n"), 0o644)
	tried := 0
	for cc, want := range map[string]string{"mpicc.openmpi": OpenMPI, "mpicc.mpich": MPICH} {
		if _, err := exec.LookPath(cc); err != nil {
			continue
		}
		tried++
		bin := filepath.Join(t.TempDir(), "p")
		if out, err := exec.Command(cc, "-o", bin, src).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", cc, err, out)
		}
		if got, err := Detect("./p", filepath.Dir(bin), exec.LookPath); got != want || err != nil {
			t.Errorf("%s: detected %q, %v", cc, got, err)
		}
		if got, err := Detect(bin, "/nonexistent", exec.LookPath); got != want || err != nil {
			t.Errorf("%s by absolute path: detected %q, %v", cc, got, err)
		}
	}
	if _, err := Detect("sh", "/", exec.LookPath); err == nil || !strings.Contains(err.Error(), "pass --mpi") {
		t.Errorf("a non-MPI program: %v", err)
	}
	if _, err := Detect("./missing", t.TempDir(), exec.LookPath); err == nil || !strings.Contains(err.Error(), "cannot read ./missing") {
		t.Errorf("a missing program: %v", err)
	}
	if _, err := Detect("no-such-program-anywhere", "/", onlyPath()); err == nil || !strings.Contains(err.Error(), "not found in PATH") {
		t.Errorf("a program not in PATH: %v", err)
	}
	if tried == 0 {
		t.Skip("neither mpicc.openmpi nor mpicc.mpich is installed (apt-get install libopenmpi-dev mpich)")
	}
}

// FuzzDetect feeds Detect arbitrary files as programs: a tenant's program
// is outside input. It must answer a flavour or an error, never panic.
func FuzzDetect(f *testing.F) {
	if b, err := os.ReadFile("/bin/sh"); err == nil && len(b) < 4<<20 {
		f.Add(b[:min(len(b), 4096)])
	}
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Add([]byte("#!/bin/sh\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "prog")
		if err := os.WriteFile(path, data, 0o755); err != nil {
			t.Fatal(err)
		}
		got, err := Detect(path, "/", onlyPath())
		if (err == nil) != (got == OpenMPI || got == MPICH) {
			t.Fatalf("flavour %q with error %v", got, err)
		}
	})
}
