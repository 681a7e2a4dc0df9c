package launch

import (
	"debug/elf"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ibex-hpc/ibex/nodeagent/localexec"
)

// MPI flavours ibex knows how to launch.
const (
	mpiOpenMPI = "openmpi"
	mpiMPICH   = "mpich"
	mpiAuto    = "auto"
)

// mpiLaunchers are each flavour's launcher, best first. Debian installs
// both MPIs side by side and points plain mpirun at one of them, so the
// suffixed names come first.
var mpiLaunchers = map[string][]string{
	mpiOpenMPI: {"mpirun.openmpi", "orterun", "mpirun"},
	mpiMPICH:   {"mpiexec.hydra", "mpirun.mpich", "mpiexec.mpich", "mpiexec"},
}

// mpiCommand is the command line that runs prog (an MPI program and its
// arguments) on every node of a job, tasks ranks per node, with the
// flavour's launcher started on the job's first node. The runtimes start
// their remote daemons through files.Agent, i.e. through ibexd, never ssh.
// lookPath finds the launcher on the node.
func mpiCommand(flavour string, files localexec.LaunchFiles, nodes, tasks int, prog []string, lookPath func(string) (string, error)) ([]string, error) {
	if files.Agent == "" {
		return nil, fmt.Errorf("no ibex CLI on the node to serve as the MPI runtime's launch agent (looked next to ibexd and in PATH)")
	}
	tasks = max(tasks, 1)
	var launcher string
	for _, name := range mpiLaunchers[flavour] {
		if p, err := lookPath(name); err == nil {
			launcher = p
			break
		}
	}
	if launcher == "" {
		return nil, fmt.Errorf("no %s launcher on the node (looked for %s)", flavour, strings.Join(mpiLaunchers[flavour], ", "))
	}
	np := strconv.Itoa(nodes * tasks)
	var argv []string
	switch flavour {
	case mpiOpenMPI:
		// plm rsh: never srun, even when --slurm-env makes the job look
		// like a Slurm allocation; ras ^slurm for the same reason.
		argv = []string{launcher, "--hostfile", files.OpenMPIHostfile, "-np", np,
			"--mca", "plm", "rsh", "--mca", "plm_rsh_agent", files.Agent, "--mca", "ras", "^slurm"}
	case mpiMPICH:
		// -genvnone: each rank keeps its own node's environment (above all
		// IBEX_NODENAME) instead of a copy of mpiexec's, as under Slurm.
		argv = []string{launcher, "-f", files.MPICHHostfile, "-n", np, "-ppn", strconv.Itoa(tasks),
			"-launcher", "ssh", "-launcher-exec", files.Agent, "-rmk", "user", "-genvnone"}
	default:
		return nil, fmt.Errorf("unknown MPI %q: use openmpi, mpich or auto", flavour)
	}
	return append(argv, prog...), nil
}

// detectMPI tells which MPI a program was built with from the shared
// libraries it links, so `ibex run` picks the matching launcher: Open
// MPI's and MPICH's wire protocols are not compatible.
func detectMPI(prog, dir string, lookPath func(string) (string, error)) (string, error) {
	path := prog
	switch {
	case !strings.Contains(prog, "/"):
		p, err := lookPath(prog)
		if err != nil {
			return "", fmt.Errorf("--mpi auto: %s not found in PATH", prog)
		}
		path = p
	case !filepath.IsAbs(prog):
		path = filepath.Join(dir, prog)
	}
	f, err := elf.Open(path)
	if err != nil {
		return "", fmt.Errorf("--mpi auto: cannot read %s as a program (%v); pass --mpi openmpi or --mpi mpich", prog, err)
	}
	defer f.Close()
	libs, _ := f.ImportedLibraries()
	for _, l := range libs {
		switch {
		case strings.HasPrefix(l, "libmpich"), l == "libmpi.so.12": // MPICH ABI
			return mpiMPICH, nil
		case strings.HasPrefix(l, "libmpi.so"), strings.HasPrefix(l, "libopen-"):
			return mpiOpenMPI, nil
		}
	}
	return "", fmt.Errorf("--mpi auto: %s links no MPI library this can recognise; pass --mpi openmpi or --mpi mpich", prog)
}

var execLookPath = exec.LookPath
