// Package mpi builds MPI launch command lines on a node: which MPI a
// program was built with (Detect, for `ibex run --mpi auto`) and the
// launcher command that starts it across a job's nodes (Command). Both
// run on the node that starts the launcher, because only that node has
// the tenant's program and the MPI installation it was built against; the
// control plane never reads a tenant's files.
package mpi

import (
	"debug/elf"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// Flavours ibex knows how to launch.
const (
	OpenMPI = "openmpi"
	MPICH   = "mpich"
	// Auto tells the flavour from the program (Detect).
	Auto = "auto"
)

// Valid reports whether flavour is one Command or Detect understands.
func Valid(flavour string) bool {
	return flavour == OpenMPI || flavour == MPICH || flavour == Auto
}

// launchers are each flavour's launcher, best first. Debian installs both
// MPIs side by side and points plain mpirun at one of them, so the
// suffixed names come first.
var launchers = map[string][]string{
	OpenMPI: {"mpirun.openmpi", "orterun", "mpirun"},
	MPICH:   {"mpiexec.hydra", "mpirun.mpich", "mpiexec.mpich", "mpiexec"},
}

// Files are what a launch needs from the job directory on the node (see
// localexec.PrepareLaunch): a hostfile in each MPI's format and the agent
// script the runtimes use as their rsh/ssh agent.
type Files struct {
	OpenMPIHostfile string
	MPICHHostfile   string
	Agent           string
}

// Command is the command line that runs prog (an MPI program and its
// arguments) on every node of a job, tasks ranks per node, with the
// flavour's launcher started on this node. The runtimes start their
// remote daemons through files.Agent, i.e. through ibex, never ssh.
// lookPath finds the launcher here.
func Command(flavour string, files Files, nodes, tasks int, prog []string, lookPath func(string) (string, error)) ([]string, error) {
	if files.Agent == "" {
		return nil, fmt.Errorf("no ibex CLI on the node to serve as the MPI runtime's launch agent (install ibex next to the node agent or in PATH)")
	}
	tasks = max(tasks, 1)
	names, ok := launchers[flavour]
	if !ok {
		return nil, fmt.Errorf("unknown MPI %q: use openmpi, mpich or auto", flavour)
	}
	var launcher string
	for _, name := range names {
		if p, err := lookPath(name); err == nil {
			launcher = p
			break
		}
	}
	if launcher == "" {
		return nil, fmt.Errorf("no %s launcher on the node (looked for %s)", flavour, strings.Join(names, ", "))
	}
	np := strconv.Itoa(nodes * tasks)
	var argv []string
	switch flavour {
	case OpenMPI:
		// plm rsh: never srun, even when --slurm-env makes the job look
		// like a Slurm allocation; ras ^slurm for the same reason.
		argv = []string{launcher, "--hostfile", files.OpenMPIHostfile, "-np", np,
			"--mca", "plm", "rsh", "--mca", "plm_rsh_agent", files.Agent, "--mca", "ras", "^slurm"}
	case MPICH:
		// -genvnone: each rank keeps its own node's environment (above all
		// IBEX_NODENAME) instead of a copy of mpiexec's, as under Slurm.
		argv = []string{launcher, "-f", files.MPICHHostfile, "-n", np, "-ppn", strconv.Itoa(tasks),
			"-launcher", "ssh", "-launcher-exec", files.Agent, "-rmk", "user", "-genvnone"}
	}
	return append(argv, prog...), nil
}

// Detect tells which MPI a program was built with from the shared
// libraries it links, so that `ibex run` picks the matching launcher: Open
// MPI's and MPICH's wire protocols are not compatible. A relative prog is
// found in dir (the working directory of the launch), a bare name in PATH
// through lookPath.
func Detect(prog, dir string, lookPath func(string) (string, error)) (string, error) {
	path := prog
	switch {
	case !strings.Contains(prog, "/"):
		p, err := lookPath(prog)
		if err != nil {
			return "", fmt.Errorf("--mpi auto: %s not found in PATH on the node", prog)
		}
		path = p
	case !filepath.IsAbs(prog):
		path = filepath.Join(dir, prog)
	}
	f, err := elf.Open(path)
	if err != nil {
		return "", fmt.Errorf("--mpi auto: cannot read %s as a program on the node (%v); pass --mpi openmpi or --mpi mpich", prog, err)
	}
	defer f.Close()
	libs, err := f.ImportedLibraries()
	if err != nil {
		return "", fmt.Errorf("--mpi auto: %s: %v; pass --mpi openmpi or --mpi mpich", prog, err)
	}
	if flavour := FromLibraries(libs); flavour != "" {
		return flavour, nil
	}
	return "", fmt.Errorf("--mpi auto: %s links no MPI library this can recognise; pass --mpi openmpi or --mpi mpich", prog)
}

// FromLibraries tells the MPI from a program's DT_NEEDED entries, "" when
// none is recognised. MPICH's ABI library is libmpi.so.12 (libmpich.so.12
// in older builds); Open MPI's libmpi.so.40 and its libopen-* helpers.
func FromLibraries(libs []string) string {
	for _, l := range libs {
		switch {
		case strings.HasPrefix(l, "libmpich"), l == "libmpi.so.12":
			return MPICH
		case strings.HasPrefix(l, "libmpi.so"), strings.HasPrefix(l, "libopen-"):
			return OpenMPI
		}
	}
	return ""
}
