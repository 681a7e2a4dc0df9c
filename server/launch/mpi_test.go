package launch

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/nodeagent/localexec"
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

func TestMPICommand(t *testing.T) {
	files := localexec.LaunchFiles{OpenMPIHostfile: "/j/hostfile-2.openmpi", MPICHHostfile: "/j/hostfile-2.mpich", Agent: "/j/ibex-exec-agent"}
	got, err := mpiCommand(mpiOpenMPI, files, 4, 2, []string{"./app", "-v"}, onlyPath("mpirun", "mpirun.openmpi"))
	want := "/usr/bin/mpirun.openmpi --hostfile /j/hostfile-2.openmpi -np 8 --mca plm rsh --mca plm_rsh_agent /j/ibex-exec-agent --mca ras ^slurm ./app -v"
	if err != nil || strings.Join(got, " ") != want {
		t.Fatalf("openmpi: %q, %v\nwant %q", got, err, want)
	}
	got, err = mpiCommand(mpiMPICH, files, 4, 2, []string{"./app"}, onlyPath("mpiexec.hydra"))
	want = "/usr/bin/mpiexec.hydra -f /j/hostfile-2.mpich -n 8 -ppn 2 -launcher ssh -launcher-exec /j/ibex-exec-agent -rmk user -genvnone ./app"
	if err != nil || strings.Join(got, " ") != want {
		t.Fatalf("mpich: %q, %v\nwant %q", got, err, want)
	}
	if _, err := mpiCommand(mpiMPICH, files, 1, 1, []string{"./app"}, onlyPath()); err == nil || !strings.Contains(err.Error(), "no mpich launcher") {
		t.Fatalf("no launcher: %v", err)
	}
	files.Agent = ""
	if _, err := mpiCommand(mpiOpenMPI, files, 1, 1, []string{"./app"}, onlyPath("mpirun")); err == nil || !strings.Contains(err.Error(), "launch agent") {
		t.Fatalf("no agent: %v", err)
	}
}

// TestDetectMPI builds a tiny program with each installed MPI's mpicc and
// checks that auto picks the matching launcher.
func TestDetectMPI(t *testing.T) {
	src := filepath.Join(t.TempDir(), "p.c")
	os.WriteFile(src, []byte("#include <mpi.h>\nint main(int c, char **v) { MPI_Init(&c, &v); return MPI_Finalize(); }\n"), 0o644)
	tried := 0
	for cc, want := range map[string]string{"mpicc.openmpi": mpiOpenMPI, "mpicc.mpich": mpiMPICH} {
		if _, err := exec.LookPath(cc); err != nil {
			continue
		}
		tried++
		bin := filepath.Join(t.TempDir(), "p")
		if out, err := exec.Command(cc, "-o", bin, src).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", cc, err, out)
		}
		if got, err := detectMPI("./p", filepath.Dir(bin), exec.LookPath); got != want || err != nil {
			t.Errorf("%s: detected %q, %v", cc, got, err)
		}
	}
	if _, err := detectMPI("sh", "/", exec.LookPath); err == nil || !strings.Contains(err.Error(), "pass --mpi") {
		t.Errorf("a non-MPI program: %v", err)
	}
	if tried == 0 {
		t.Skip("neither mpicc.openmpi nor mpicc.mpich is installed (apt-get install libopenmpi-dev mpich)")
	}
}

func TestCommandName(t *testing.T) {
	for argv, want := range map[string]string{
		"/bin/sh|-c|PATH=/usr/bin:$PATH ; export PATH ;   /usr/bin/orted -mca ess \"env\"": "orted",
		"/bin/sh|-c|\"/usr/bin/hydra_pmi_proxy\" --control-port 127.0.0.1:1":               "hydra_pmi_proxy",
		"/bin/sh|-c|sleep 10":                  "sleep",
		"/usr/bin/mpirun.openmpi|--hostfile|x": "mpirun.openmpi",
	} {
		if got := commandName(strings.Split(argv, "|")); got != want {
			t.Errorf("%q: %q, want %q", argv, got, want)
		}
	}
}

func TestJobCredential(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "job-12")
	tok, err := jobCredential(dir, 12)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := jobCredential(dir, 12); again != tok {
		t.Fatal("a second call made a new credential")
	}
	if id, ok := jobTokenID(tok); !ok || id != 12 || !checkJobCredential(dir, tok) {
		t.Fatalf("%q: id %d, ok %v", tok, id, ok)
	}
	if checkJobCredential(dir, tok+"x") || checkJobCredential(t.TempDir(), tok) {
		t.Fatal("a wrong credential passed")
	}
	if _, ok := jobTokenID("ibex_tenanttoken"); ok {
		t.Fatal("a tenant token parsed as a job credential")
	}
	if fi, _ := os.Stat(filepath.Join(dir, jobTokenFile)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("credential file mode %v", fi.Mode())
	}
}
