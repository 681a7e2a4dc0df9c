package localexec

// The environment and files an MPI launch inside a job needs: hostfiles in
// each MPI's format, the rsh/ssh agent script that routes the runtimes'
// remote starts through ibex, the IBEX_* variables, the partition key in
// the variables MPI libraries read, and an optional Slurm look-alike.

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/ibex-hpc/ibex/hostlist"
)

// Launch is what one launch in a job adds to the job itself.
type Launch struct {
	// TasksPerNode is the number of MPI ranks per node; 0 means 1.
	TasksPerNode int
	// PKey is the job's InfiniBand partition key; 0 (never a valid key)
	// when the job has none. A full-membership bit, if set, is dropped.
	PKey uint16
	// SlurmEnv also sets SLURM_* variables, for programs written for Slurm.
	SlurmEnv bool
	// IbexBinary is the `ibex` CLI on the node. The agent script calls it;
	// without it there is no agent.
	IbexBinary string
}

func (l Launch) tasks() int { return max(l.TasksPerNode, 1) }

// LaunchFiles are paths PrepareLaunch made in the job directory.
type LaunchFiles struct {
	// Hostfiles, one per tasks-per-node value so that two launches in one
	// allocation never overwrite each other's.
	OpenMPIHostfile string // "node001 slots=K" lines
	MPICHHostfile   string // "node001:K" lines
	// Agent is the script MPI runtimes run as their rsh/ssh agent
	// (`AGENT [ssh options] HOST COMMAND...`); empty without IbexBinary.
	Agent string
}

// PrepareLaunch writes the launch's hostfiles and agent script into the
// job directory. It is idempotent: every exec of a launch calls it.
func (r *Runner) PrepareLaunch(jobID uint64, nodes []string, l Launch) (LaunchFiles, error) {
	dir, err := r.ensureJobDir(jobID)
	if err != nil {
		return LaunchFiles{}, fmt.Errorf("prepare launch: %w", err)
	}
	k := l.tasks()
	var ompi, mpich bytes.Buffer
	for _, n := range nodes {
		fmt.Fprintf(&ompi, "%s slots=%d\n", n, k)
		fmt.Fprintf(&mpich, "%s:%d\n", n, k)
	}
	f := LaunchFiles{
		OpenMPIHostfile: filepath.Join(dir, fmt.Sprintf("hostfile-%d.openmpi", k)),
		MPICHHostfile:   filepath.Join(dir, fmt.Sprintf("hostfile-%d.mpich", k)),
	}
	if err := ensureFile(f.OpenMPIHostfile, ompi.Bytes(), 0o644); err != nil {
		return f, err
	}
	if err := ensureFile(f.MPICHHostfile, mpich.Bytes(), 0o644); err != nil {
		return f, err
	}
	if l.IbexBinary != "" {
		// A script, not "ibex exec ...": MPICH's -launcher-exec takes one
		// executable, and Open MPI splits its agent string on spaces. The
		// "--" keeps the ibex CLI from reading the runtime's options.
		f.Agent = filepath.Join(dir, "ibex-exec-agent")
		script := "#!/bin/sh\n# The rsh/ssh agent of MPI runtimes in this job: starts HOST COMMAND... through ibexd.\nexec " +
			shellQuote(l.IbexBinary) + " exec --agent -- \"$@\"\n"
		if err := ensureFile(f.Agent, []byte(script), 0o755); err != nil {
			return f, err
		}
	}
	return f, nil
}

// jobEnv is the environment of an exec'd process, on top of ibexd's.
func jobEnv(t ExecTask, f LaunchFiles) []string {
	k, n := t.Launch.tasks(), len(t.Nodes)
	nodelist := hostlist.Compress(t.Nodes)
	env := []string{
		"IBEX_JOB_ID=" + strconv.FormatUint(t.JobID, 10),
		"IBEX_NODELIST=" + nodelist,
		"IBEX_NNODES=" + strconv.Itoa(n),
		"IBEX_NODEID=" + strconv.Itoa(t.NodeIndex),
		// MPI ranks of simulated nodes all run on this host: this is the
		// only thing that tells them which node they are on.
		"IBEX_NODENAME=" + t.Node,
		"IBEX_TASKS_PER_NODE=" + strconv.Itoa(k),
		"IBEX_NTASKS=" + strconv.Itoa(k*n),
		"IBEX_HOSTFILE_OPENMPI=" + f.OpenMPIHostfile,
		"IBEX_HOSTFILE_MPICH=" + f.MPICHHostfile,
	}
	if f.Agent != "" {
		env = append(env, "IBEX_EXEC_AGENT="+f.Agent)
	}
	env = append(env, PKeyEnv(t.Launch.PKey)...)
	if t.Launch.SlurmEnv {
		// Kept so that the daemons this process starts get it too.
		env = append(env, "IBEX_SLURM_ENV=1")
		env = append(env, slurmEnv(t, nodelist)...)
	}
	return env
}

// PKeyEnv is how MPI libraries are told the job's partition: UCX (Open MPI
// and MPICH over UCX), Open MPI's openib BTL and MVAPICH2. All of them take
// the 15-bit key, without the membership bit (which UCX and MVAPICH2 mask
// off anyway); IBEX_PKEY is the same value, as `ibex show` prints it. No
// partition, no variables: the libraries then pick the port's default
// partition.
func PKeyEnv(pkey uint16) []string {
	if pkey == 0 {
		return nil
	}
	base := fmt.Sprintf("0x%04x", pkey&0x7fff)
	return []string{
		"IBEX_PKEY=" + base,
		"UCX_IB_PKEY=" + base,
		"OMPI_MCA_btl_openib_pkey=" + base,
		"MV2_DEFAULT_PKEY=" + base,
	}
}

// slurmEnv is the Slurm compatibility mode: the variables of an srun step
// with K tasks on each of N nodes. SLURM_PROCID and SLURM_LOCALID are only
// set with one task per node, where the node's process is task NODEID;
// with more, each rank's id comes from its MPI library, not from here.
func slurmEnv(t ExecTask, nodelist string) []string {
	k, n := t.Launch.tasks(), len(t.Nodes)
	id := strconv.FormatUint(t.JobID, 10)
	perNode := strconv.Itoa(k)
	if n > 1 {
		perNode = fmt.Sprintf("%d(x%d)", k, n)
	}
	env := []string{
		"SLURM_JOB_ID=" + id, "SLURM_JOBID=" + id,
		"SLURM_JOB_NODELIST=" + nodelist, "SLURM_NODELIST=" + nodelist,
		"SLURM_JOB_NUM_NODES=" + strconv.Itoa(n), "SLURM_NNODES=" + strconv.Itoa(n),
		"SLURM_NTASKS=" + strconv.Itoa(k*n), "SLURM_NPROCS=" + strconv.Itoa(k*n),
		"SLURM_NTASKS_PER_NODE=" + strconv.Itoa(k), "SLURM_TASKS_PER_NODE=" + perNode,
		"SLURM_NODEID=" + strconv.Itoa(t.NodeIndex), "SLURMD_NODENAME=" + t.Node,
	}
	if k == 1 {
		env = append(env, "SLURM_PROCID="+strconv.Itoa(t.NodeIndex), "SLURM_LOCALID=0")
	}
	return env
}

// simulatedNodeEnv makes MPI runtimes treat each simulated node as its own
// machine although they all share this host (every node also gets a
// private TMPDIR for session directories): loopback as the network, TCP between ranks (Open MPI's
// shared-memory BTL names its segments after the real hostname, so two
// simulated nodes' segments would collide), and no CPU binding (every
// node would bind to the same cores). They have no HCAs either, so UCX is
// told not to warn that the partition key went unused.
func simulatedNodeEnv() []string {
	return []string{
		"UCX_WARN_UNUSED_ENV_VARS=n",
		"OMPI_MCA_btl=self,tcp",
		"OMPI_MCA_btl_tcp_if_include=lo",
		"OMPI_MCA_oob_tcp_if_include=lo",
		"OMPI_MCA_hwloc_base_binding_policy=none",
		"HYDRA_IFACE=lo",
	}
}

// ensureFile writes data to path unless it already holds exactly that,
// through a unique temporary file so that concurrent writers never see a
// partial file. The directory may belong to the job user, who may have put
// anything at path or swap the temporary file for a link: nothing here
// follows a link or blocks on a FIFO, and the mode is set on the open file.
func ensureFile(path string, data []byte, mode os.FileMode) error {
	if sameContent(path, data) {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// sameContent reports whether path is a regular file holding exactly data.
func sameContent(path string, data []byte) bool {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != int64(len(data)) {
		return false
	}
	old, err := io.ReadAll(io.LimitReader(f, int64(len(data))+1))
	return err == nil && bytes.Equal(old, data)
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
