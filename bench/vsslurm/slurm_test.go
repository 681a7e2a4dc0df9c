package vsslurm

import (
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/internal/execrun"
)

// slurmBinaries are what a peer cluster needs; the Debian 12 package
// slurm-wlm installs them (and munge the authentication daemon).
var slurmBinaries = []string{"slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "munged"}

// missingSlurm names the binaries that are not on PATH (or in /usr/sbin).
func missingSlurm() []string {
	var out []string
	for _, b := range slurmBinaries {
		if _, err := lookPath(b); err != nil {
			out = append(out, b)
		}
	}
	return out
}

func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	p := filepath.Join("/usr/sbin", name)
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s not found", name)
}

// slurm is one Slurm 22.05 cluster on this host: munged, one slurmctld and
// one slurmd per emulated node (`slurmd -N nXXX`, each on its own port),
// all run in the foreground as our children, so stopping them is by their
// PIDs only: other programs on the machine are never signalled.
type slurm struct {
	b     *testing.B
	base  string
	conf  string
	env   []string
	procs []*exec.Cmd
	nodes int
}

// startSlurm writes slurm.conf and topology.conf for leaves*perLeaf nodes
// (topology/tree, one spine) and starts the daemons; it returns once every
// node is idle.
func startSlurm(b *testing.B, leaves, perLeaf int, schedParams string) *slurm {
	base, err := os.MkdirTemp("", "ibex-vsslurm-slurm-")
	if err != nil {
		b.Fatal(err)
	}
	s := &slurm{b: b, base: base, conf: filepath.Join(base, "etc", "slurm.conf"), nodes: leaves * perLeaf}
	for _, d := range []string{"etc", "run", "log", "var/ctld", "munge", "work"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			b.Fatal(err)
		}
	}
	host, _ := os.Hostname()
	host, _, _ = strings.Cut(host, ".")
	ctldPort := freePort(b)
	ports := freePortRange(b, s.nodes)
	socket := filepath.Join(base, "run", "munge.socket")

	var conf strings.Builder
	fmt.Fprintf(&conf, `# written by bench/vsslurm: %d nodes, %d leaves of %d
ClusterName=vsslurm
SlurmctldHost=%s
SlurmUser=root
SlurmdUser=root
SlurmctldPort=%d
AuthType=auth/munge
AuthInfo=socket=%s
CredType=cred/munge
StateSaveLocation=%s/var/ctld
SlurmdSpoolDir=%s/var/d/%%n
SlurmctldPidFile=%s/run/slurmctld.pid
SlurmdPidFile=%s/run/slurmd-%%n.pid
SlurmctldLogFile=%s/log/slurmctld.log
SlurmdLogFile=%s/log/slurmd-%%n.log
SlurmctldDebug=info
SlurmdDebug=error
ProctrackType=proctrack/pgid
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
SlurmdParameters=config_overrides
SlurmdTimeout=300
SlurmctldTimeout=120
InactiveLimit=0
KillWait=5
MinJobAge=30
MaxJobCount=200000
MaxArraySize=100001
SchedulerType=sched/backfill
SchedulerParameters=%s
SelectType=select/linear
TopologyPlugin=topology/tree
`, s.nodes, leaves, perLeaf, host, ctldPort, socket, base, base, base, base, base, base, schedParams)
	for i := 1; i <= s.nodes; i++ {
		fmt.Fprintf(&conf, "NodeName=n%03d NodeHostname=%s NodeAddr=127.0.0.1 Port=%d CPUs=32 Boards=1 SocketsPerBoard=2 CoresPerSocket=16 ThreadsPerCore=1 RealMemory=256000 State=UNKNOWN\n", i, host, ports+i-1)
	}
	conf.WriteString("PartitionName=batch Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=EXCLUSIVE\n")
	var topo strings.Builder
	var leafNames []string
	for l := 0; l < leaves; l++ {
		name := fmt.Sprintf("leaf%02d", l+1)
		leafNames = append(leafNames, name)
		fmt.Fprintf(&topo, "SwitchName=%s Nodes=n[%03d-%03d]\n", name, l*perLeaf+1, (l+1)*perLeaf)
	}
	fmt.Fprintf(&topo, "SwitchName=spine Switches=%s\n", strings.Join(leafNames, ","))
	if err := os.WriteFile(s.conf, []byte(conf.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "etc", "topology.conf"), []byte(topo.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	s.env = append(os.Environ(), "SLURM_CONF="+s.conf)

	key := make([]byte, 1024)
	rand.Read(key)
	keyFile := filepath.Join(base, "munge", "munge.key")
	if err := os.WriteFile(keyFile, key, 0o400); err != nil {
		b.Fatal(err)
	}
	s.daemon("munged", "--foreground", "--force", "--socket="+socket, "--key-file="+keyFile,
		"--pid-file="+filepath.Join(base, "run", "munged.pid"), "--log-file="+filepath.Join(base, "log", "munged.log"),
		"--seed-file="+filepath.Join(base, "munge", "munged.seed"), "--num-threads=8")
	s.waitFor("munge socket", func() bool { _, err := os.Stat(socket); return err == nil })
	s.daemon("slurmctld", "-D", "-c", "-i", "-f", s.conf)
	s.waitFor("slurmctld", func() bool { return s.run("scontrol", "ping") == nil })
	stepd, _ := lookPath("slurmstepd")
	for i := 1; i <= s.nodes; i++ {
		n := fmt.Sprintf("n%03d", i)
		os.MkdirAll(filepath.Join(base, "var", "d", n), 0o755)
		s.daemon("slurmd", "-D", "-f", s.conf, "-d", stepd, "-N", n)
	}
	start := time.Now()
	s.waitFor("every slurmd idle", func() bool {
		out, err := s.output("sinfo", "-h", "-t", "idle", "-o", "%D")
		if err != nil {
			return false
		}
		idle := 0
		for _, f := range strings.Fields(out) {
			var n int
			fmt.Sscan(f, &n)
			idle += n
		}
		return idle >= s.nodes
	})
	fmt.Printf("slurm: %d slurmd idle %s after start (%s)\n", s.nodes, time.Since(start).Round(100*time.Millisecond), base)
	return s
}

func (s *slurm) bin(name string) string {
	p, err := lookPath(name)
	if err != nil {
		s.stop()
		s.b.Fatal(err)
	}
	return p
}

// daemon starts one foreground daemon as our child, in its own process
// group (a terminal's ^C reaches the benchmark, which stops it).
func (s *slurm) daemon(name string, args ...string) {
	cmd := exec.Command(s.bin(name), args...)
	cmd.Env = s.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := os.Create(filepath.Join(s.base, "log", fmt.Sprintf("%s-%d.out", name, len(s.procs))))
	if err == nil {
		cmd.Stdout, cmd.Stderr = out, out
	}
	if err := cmd.Start(); err != nil {
		s.stop()
		s.b.Fatalf("start %s: %v", name, err)
	}
	s.procs = append(s.procs, cmd)
}

func (s *slurm) waitFor(what string, ok func() bool) {
	deadline := time.Now().Add(2 * time.Minute)
	for !ok() {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(s.base, "log", "slurmctld.log"))
			s.stop()
			s.b.Fatalf("slurm: no %s after 2 minutes; slurmctld.log:\n%s", what, tail(string(log), 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *slurm) run(name string, args ...string) error {
	cmd := exec.Command(s.bin(name), args...)
	cmd.Env = s.env
	cmd.Dir = filepath.Join(s.base, "work")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

func (s *slurm) output(name string, args ...string) (string, error) {
	cmd := exec.Command(s.bin(name), args...)
	cmd.Env = s.env
	out, err := cmd.Output()
	return string(out), err
}

// drained reports whether no job is pending, running or completing.
func (s *slurm) drained() bool {
	out, err := s.output("squeue", "-h", "-t", "PD,R,CG,CF", "-o", "%i")
	return err == nil && strings.TrimSpace(out) == ""
}

// stop cancels every job, then ends the daemons it started (SIGTERM, then
// SIGKILL after a grace), each by its PID, and removes the cluster's files.
func (s *slurm) stop() {
	if len(s.procs) > 1 {
		s.run("scancel", "-Q", "--user=root")
		for i := 0; i < 50 && !s.drained(); i++ {
			time.Sleep(100 * time.Millisecond)
		}
	}
	// Every slurmd at once, then slurmctld, then munged: the reverse of
	// the start.
	var wg sync.WaitGroup
	for _, p := range s.procs[min(2, len(s.procs)):] {
		wg.Add(1)
		go func() { defer wg.Done(); execrun.Stop(p, syscall.SIGTERM, 15*time.Second) }()
	}
	wg.Wait()
	for i := min(2, len(s.procs)) - 1; i >= 0; i-- {
		execrun.Stop(s.procs[i], syscall.SIGTERM, 15*time.Second)
	}
	s.procs = nil
	os.RemoveAll(s.base)
}

func freePort(b *testing.B) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// freePortRange finds n consecutive free ports below the kernel's
// ephemeral range (so other programs' outgoing connections do not take
// them while the slurmd start) and returns the first.
func freePortRange(b *testing.B, n int) int {
	for first := 20000 + int(time.Now().UnixNano()%40)*200; first+n < 32768; first += n {
		ok := true
		for p := first; p < first+n && ok; p++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				continue
			}
			l.Close()
		}
		if ok {
			return first
		}
	}
	b.Fatalf("no %d consecutive free ports between 20000 and 32768", n)
	return 0
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
