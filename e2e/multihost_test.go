package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/internal/execrun"
	"github.com/ibex-hpc/ibex/internal/netns"
	"github.com/ibex-hpc/ibex/internal/testcluster"
	"github.com/ibex-hpc/ibex/nodeagent/localexec"
	"github.com/ibex-hpc/ibex/nodeagent/simnode"
)

// The multi-host test: 3 ibexd servers and 4 "hosts", each a network
// namespace (own address on a bridge, own hostname, private /tmp) running
// a real ibex-agent process, with jobs, MPI, cancel, agent kills and a
// leader failover across them.
//
// Where things live:
//   - The servers run in the test's own namespace, listening on the
//     bridge's gateway address (API, raft, agent stream, gossip, each on a
//     port of its own): the agents reach them through the bridge, the test
//     and the CLI directly. Servers in namespaces of their own would add
//     nothing this test checks (raft across namespaces is the HA tests').
//   - The servers simulate the fabric (--simulate --sim-agents=false, 2
//     leaves of 2 nodes: exactly the 4 hosts), with --fabric from
//     multiHostFabric. Each host's HCA ports have the GUIDs the simulated
//     fabric gives its node: ibexd --sim-sysfs writes one sysfs tree per
//     node into a directory the servers share and keeps its P_Key tables
//     following the subnet manager (the leader's simnode.Mirror), and each
//     agent runs with --sysfs-root on its node's tree, so the agent's own
//     P_Key check before a job starts reads what the SM read back.
//   - Everything the hosts use lives under /var/tmp (the hosts' /tmp is
//     their own tmpfs, which hides the test's t.TempDir): the ibex and
//     ibex-agent binaries (the agent finds the ibex CLI, the MPI runtimes'
//     rsh agent, next to itself), the sysfs trees, the agents' data and
//     job directories, the MPI programs.

// multiHostFabric is the servers' subnet manager: a real OpenSM on an
// ibsim fabric when both are installed, else the in-memory one.
func multiHostFabric() string {
	for _, c := range []string{"opensm", "ibsim"} {
		if _, err := exec.LookPath(c); err != nil {
			return "sim"
		}
	}
	return "ibsim"
}

type mhHost struct {
	*netns.Host
	dir, cgroup string
	gossip      string
	cmd         *exec.Cmd
	log         *execrun.Buffer
	joinArgs    []string
}

type multiHost struct {
	t *testing.T // the running (sub)test, for failures
	// ctx lives as long as the whole test: the agents' processes must
	// not die with the subtest that (re)started them.
	ctx      context.Context
	net      *netns.Network
	c        *testcluster.Cluster
	base     string // under /var/tmp
	bin      string // base/bin: ibex, ibex-agent
	sysfs    string
	cfgHome  string
	agentSrv []string // the servers' agent listeners
	hosts    map[string]*mhHost
	names    []string
	jobs     []string // every job id the test submitted
}

func newMultiHost(t *testing.T) *multiHost {
	t.Helper()
	if testing.Short() {
		t.Skip("multi-host test: skipped with -short")
	}
	if why := netns.Usable(); why != "" {
		t.Skip("multi-host test needs network namespaces: " + why)
	}
	// Open MPI refuses root unless told; the jobs run as nobody anyway,
	// but the agents pass their environment on.
	t.Setenv("OMPI_ALLOW_RUN_AS_ROOT", "1")
	t.Setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
	m := &multiHost{t: t, ctx: t.Context(), hosts: map[string]*mhHost{}, cfgHome: t.TempDir()}
	var err error
	if m.base, err = os.MkdirTemp("/var/tmp", "ibex-multihost-"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(m.base) })
	m.bin = filepath.Join(m.base, "bin")
	m.sysfs = filepath.Join(m.base, "sysfs")
	for _, d := range []string{m.base, m.bin, filepath.Join(m.base, "nodes"), filepath.Join(m.base, "firmware")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chmod(d, 0o755)
	}
	for _, b := range []string{"ibex", "ibex-agent"} {
		copyFile(t, filepath.Join(binDir, b), filepath.Join(m.bin, b), 0o755)
	}

	// The firmware policy pins the HCAs' shipped version: cleaning finds
	// them compliant and burns nothing.
	fw := filepath.Join(m.base, "firmware", "fw-"+simnode.ShippedFirmware+".bin")
	os.WriteFile(fw, []byte("FW Version: "+simnode.ShippedFirmware+"\nPSID: "+simnode.PSID+"\n"), 0o644)
	policy := filepath.Join(m.base, "firmware.json")
	os.WriteFile(policy, []byte(fmt.Sprintf(`[{"psid":%q,"version":%q,"sha256":%q,"file":%q}]`,
		simnode.PSID, simnode.ShippedFirmware, fileSHA(t, fw), filepath.Base(fw))), 0o644)

	m.net = netns.New(t)
	gw := m.net.Gateway
	const servers = 3
	var gossip []string
	for i := 0; i < servers; i++ {
		m.agentSrv = append(m.agentSrv, testcluster.FreeAddrOn(t, gw))
		gossip = append(gossip, testcluster.FreeAddrOn(t, gw))
	}
	each := func(i int) []string {
		args := []string{"--agent-listen", m.agentSrv[i], "--gossip-bind", gossip[i]}
		for j, g := range gossip {
			if j != i {
				args = append(args, "--gossip-seed", g)
			}
		}
		return args
	}
	fabric := multiHostFabric()
	t.Logf("fabric: %s", fabric)
	m.c = testcluster.StartOn(t, binDir, servers, gw, 4, each,
		"--sim-agents=false", "--sim-sysfs", m.sysfs, "--fabric", fabric,
		"--leaves", "2", "--nodes-per-leaf", "2", "--firmware-policy", policy, "--log-level", "info")

	for _, n := range m.nodeNames() {
		m.addHost(n)
	}
	for _, n := range m.names {
		m.startAgent(m.hosts[n])
	}
	m.waitAllReady("every agent enrolled, connected and its node cleaned")
	return m
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

func (m *multiHost) nodeNames() []string {
	var ns []nodeJSON
	if err := json.Unmarshal([]byte(m.must("nodes", "--json")), &ns); err != nil {
		m.t.Fatal(err)
	}
	var names []string
	for _, n := range ns {
		names = append(names, n.Name)
	}
	slices.Sort(names)
	if len(names) != 4 {
		m.t.Fatalf("want 4 simulated nodes, have %v", names)
	}
	return names
}

// addHost makes node's namespace host and its join token.
func (m *multiHost) addHost(node string) {
	t := m.t
	h := &mhHost{Host: m.net.AddHost(node), dir: filepath.Join(m.base, "nodes", node)}
	h.gossip = h.Addr + ":7946"
	h.cgroup = agentCgroup(t, node)
	// Job directories are reached by nobody: the node directory is
	// traversable; the agent's data dir is 0700 inside.
	if err := os.MkdirAll(filepath.Join(h.dir, "hca"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(h.dir, 0o711)
	os.WriteFile(filepath.Join(h.dir, "disk"), []byte(strings.Repeat("previous tenant ", 4096)), 0o600)
	for _, f := range []string{"mlx5_0.burned", "mlx5_0.running"} {
		os.WriteFile(filepath.Join(h.dir, "hca", f), []byte(simnode.ShippedFirmware+"\n"), 0o644)
	}
	fields := map[string]string{}
	for _, line := range strings.Split(m.must("agent", "token", node), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	h.joinArgs = []string{"--join-token", fields["token"], "--ca-pin", fields["ca-pin"]}
	m.hosts[node] = h
	m.names = append(m.names, node)
	t.Cleanup(func() { m.killAgent(h) })
}

func (m *multiHost) startAgent(h *mhHost) {
	m.t.Helper()
	simhca, _ := filepath.Abs("../testdata/simhca")
	args := append([]string{"--node", h.Name, "--server", strings.Join(m.agentSrv, ","),
		"--data-dir", filepath.Join(h.dir, "agent"), "--job-root", filepath.Join(h.dir, "jobs"),
		"--cgroup", h.cgroup, "--job-user", "nobody",
		"--sysfs-root", filepath.Join(m.sysfs, h.Name),
		"--disk", filepath.Join(h.dir, "disk"), "--disk-kind", "file", "--device", simnode.HCAName,
		"--mstflint", filepath.Join(simhca, "mstflint"), "--firmware-dir", filepath.Join(m.base, "firmware"),
		"--gossip-bind", h.gossip, "--gossip-probe-interval", "500ms", "--gossip-probe-timeout", "250ms"}, h.joinArgs...)
	h.log = &execrun.Buffer{}
	argv := append([]string{filepath.Join(m.bin, "ibex-agent")}, args...)
	// The hosts know each other by name, as a cluster's nodes do through
	// DNS or /etc/hosts (MPI runtimes connect back to the node names of
	// their hostfiles): the hosts file is bound over /etc/hosts in the
	// agent's own mount namespace, which its jobs share.
	argv = append([]string{"/bin/sh", "-c", `mount --bind "$0" /etc/hosts && exec "$@"`, m.hostsFile()}, argv...)
	if h.cgroup != "none" {
		// ip netns exec mounts a fresh /sys for the namespace, without the
		// cgroup2 tree under it: mount it again where the host has it.
		mnt, _ := localexec.Cgroup2Mount()
		argv = append([]string{"/bin/sh", "-c", `mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup && mkdir -p "$0" && mount -t cgroup2 cgroup2 "$0" && exec "$@"`, mnt}, argv...)
	}
	h.cmd = h.Command(m.ctx, argv[0], argv[1:]...)
	h.cmd.Env = append(h.cmd.Env, "IBEX_SIM_HCA_DIR="+filepath.Join(h.dir, "hca"), "IBEX_SIM_PSID="+simnode.PSID,
		"PATH="+simhca+":"+os.Getenv("PATH"),
		// The hosts have no HCA, so UCX (MPICH's netmod) finds no use for
		// the job's partition key and would say so in every rank's output.
		"UCX_WARN_UNUSED_ENV_VARS=n")
	h.cmd.Stdout, h.cmd.Stderr = h.log, h.log
	if err := h.cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
}

// hostsFile writes every host's name and address (known when the first
// agent starts: the hosts are made before) in /etc/hosts form.
func (m *multiHost) hostsFile() string {
	m.t.Helper()
	path := filepath.Join(m.base, "hosts")
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n")
	for _, n := range m.names {
		fmt.Fprintf(&b, "%s\t%s\n", m.hosts[n].Addr, n)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		m.t.Fatal(err)
	}
	return path
}

// killAgent kills the agent with SIGKILL: ip netns exec, unshare and the
// shell exec one another, so the process is the agent itself.
func (m *multiHost) killAgent(h *mhHost) {
	if h.cmd != nil {
		execrun.Stop(h.cmd, syscall.SIGKILL, time.Minute)
		h.cmd = nil
	}
}

func (m *multiHost) cliEnv(addr string) []string {
	return append(os.Environ(), "XDG_CONFIG_HOME="+m.cfgHome, "IBEX_ADDR="+addr, "IBEX_TOKEN="+m.c.Token, "IBEX_CA_PIN="+m.c.CAPin())
}

func (m *multiHost) ibexAt(addr string, args ...string) (string, string, int) {
	cmd := exec.Command(filepath.Join(binDir, "ibex"), args...)
	cmd.Env = m.cliEnv(addr)
	out, errb, err := execrun.Output(cmd)
	code, ran := execrun.ExitCode(err)
	if !ran {
		m.t.Fatal(err)
	}
	return string(out), string(errb), code
}

func (m *multiHost) ibex(args ...string) (string, string, int) {
	return m.ibexAt(m.addrs(), args...)
}

// addrs are the live servers' API addresses.
func (m *multiHost) addrs() string {
	var a []string
	for _, s := range m.c.Live() {
		a = append(a, s.API)
	}
	return strings.Join(a, ",")
}

func (m *multiHost) must(args ...string) string {
	m.t.Helper()
	out, errs, code := m.ibex(args...)
	if code != 0 {
		m.t.Fatalf("ibex %s: exit %d: %s", strings.Join(args, " "), code, errs)
	}
	return out
}

func (m *multiHost) submit(args ...string) string {
	m.t.Helper()
	id := jobID(m.t, m.must(append([]string{"submit"}, args...)...))
	m.jobs = append(m.jobs, id)
	return id
}

func (m *multiHost) job(id string) jobJSON {
	m.t.Helper()
	var j jobJSON
	if err := json.Unmarshal([]byte(m.must("show", "--json", id)), &j); err != nil {
		m.t.Fatal(err)
	}
	return j
}

func (m *multiHost) waitState(id, state string, d time.Duration) jobJSON {
	m.t.Helper()
	var j jobJSON
	waitFor(m.t, "job "+id+" "+state, d, func() (bool, string) {
		j = m.job(id)
		return j.State == state, fmt.Sprintf("%+v\n%s", j, m.diag())
	})
	return j
}

func (m *multiHost) nodeStates() map[string]string {
	var ns []nodeJSON
	if err := json.Unmarshal([]byte(m.must("nodes", "--json")), &ns); err != nil {
		m.t.Fatal(err)
	}
	out := map[string]string{}
	for _, n := range ns {
		out[n.Name] = n.State
	}
	return out
}

// waitAllReady waits until every node is ready with its agent connected.
func (m *multiHost) waitAllReady(what string) {
	m.t.Helper()
	waitFor(m.t, what, 60*time.Second, func() (bool, string) {
		st := m.nodeStates()
		for _, n := range m.names {
			if st[n] != "ready" {
				return false, fmt.Sprintf("%v\n%s", st, m.diag())
			}
			if out, _, _ := m.ibex("nodes", "show", n); !strings.Contains(out, "connected") {
				return false, out + m.diag()
			}
		}
		return true, ""
	})
}

// diag is what a failure shows: the nodes and every agent's log tail.
func (m *multiHost) diag() string {
	var b strings.Builder
	out, _, _ := m.ibex("nodes")
	b.WriteString(out)
	for _, n := range m.names {
		l := m.hosts[n].log.String()
		if len(l) > 3000 {
			l = l[len(l)-3000:]
		}
		fmt.Fprintf(&b, "--- agent %s ---\n%s\n", n, l)
	}
	return b.String()
}

// nsPids lists the live processes in a host's network namespace.
func nsPids(t *testing.T, h *mhHost) []int {
	out, err := exec.Command("ip", "netns", "pids", h.NS).Output()
	if err != nil {
		t.Fatalf("ip netns pids %s: %v", h.NS, err)
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if p, err := strconv.Atoi(f); err == nil && procAlive(p) {
			pids = append(pids, p)
		}
	}
	return pids
}

func procComm(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(b))
}

// TestMultiHost runs the cluster and each scenario as a subtest, in an
// order where each leaves every node ready for the next.
func TestMultiHost(t *testing.T) {
	m := newMultiHost(t)
	t.Run("JobRunsInHostNamespaces", m.testNamespaces)
	t.Run("MPIAllreduce", m.testMPI)
	t.Run("CancelKillsDaemon", m.testCancelDaemon)
	t.Run("LeaderFailover", m.testLeaderFailover)
	t.Run("AgentKillFailsJob", m.testAgentKill)
	t.Run("AgentRestartKeepsJob", m.testAgentRestart)
}

// a) Every node's share of a 4-node job reports the host's hostname and
// address, and a file it writes in /tmp is in the host's /tmp, not ours.
func (m *multiHost) testNamespaces(t *testing.T) {
	m.t = t
	id := m.submit("-N", "4", "-t", "2m", "--", "sh", "-c",
		`echo "host=$(hostname) addr=$(hostname -I | tr -d ' ') user=$(id -un)"; echo x > /tmp/ibex-mh-$IBEX_JOB_ID; ls /tmp`)
	j := m.waitState(id, "completed", 60*time.Second)
	if len(j.Nodes) != 4 {
		t.Fatalf("job on %v, want the 4 hosts", j.Nodes)
	}
	me, _ := os.Hostname()
	for _, n := range m.names {
		out := m.must("logs", "--node", n, id)
		want := fmt.Sprintf("host=%s addr=%s user=nobody", n, m.hosts[n].Addr)
		if !strings.Contains(out, want) || strings.Contains(out, "host="+me+" ") {
			t.Fatalf("%s's output:\n%s\nwant a line %q (the test machine is %s)", n, out, want, me)
		}
		if !strings.Contains(out, "ibex-mh-"+id) {
			t.Fatalf("%s: the job's file is not in its /tmp:\n%s", n, out)
		}
	}
	if _, err := os.Stat("/tmp/ibex-mh-" + id); err == nil {
		t.Fatal("the job wrote into the test machine's /tmp: the hosts' /tmp is not private")
	}
}

// b) allreduce.c with each MPI over the 4 hosts: ranks report the hosts'
// hostnames, so they ran in the namespaces, and talked over TCP across
// the bridge (nothing else connects the namespaces).
func (m *multiHost) testMPI(t *testing.T) {
	for _, f := range mpiFlavours {
		t.Run(f.name, func(t *testing.T) {
			m.t = t
			if _, err := exec.LookPath(f.cc); err != nil {
				t.Skipf("%s not found: %s is not tested", f.cc, f.name)
			}
			dir := filepath.Join(m.base, "mpi")
			os.MkdirAll(dir, 0o755)
			bin := filepath.Join(dir, "allreduce-"+f.name)
			src, _ := filepath.Abs("../testdata/mpi/allreduce.c")
			if out, err := exec.Command(f.cc, "-O2", "-o", bin, src).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", f.cc, err, out)
			}
			out, errs, code := m.ibex("run", "-N", "4", "--mpi", f.name, "-t", "5m", "--", bin)
			if code != 0 {
				t.Fatalf("ibex run: exit %d\nstdout:\n%s\nstderr:\n%s\n%s", code, out, errs, m.diag())
			}
			id := mpiRunJobID(t, errs)
			m.jobs = append(m.jobs, id)
			j := m.job(id)
			if j.State != "completed" || len(j.Nodes) != 4 {
				t.Fatalf("job after ibex run: %+v", j)
			}
			// UCX (MPICH's netmod) warns on stdout that the job's
			// partition key went unused: these hosts have no HCA. The
			// agent's jobs do not inherit UCX_WARN_UNUSED_ENV_VARS.
			var lines []string
			for _, l := range strings.Split(out, "\n") {
				if !strings.Contains(l, "UCX  WARN  unused env variable: UCX_IB_PKEY") {
					lines = append(lines, l)
				}
			}
			mpiCheckRanks(t, strings.Join(lines, "\n"), m.names, 1)
		})
	}
}

// c) A job that double-forks a daemon (setsid, parent gone: it is in no
// process group of the job's) is cancelled: nothing of it is left in the
// host's namespace, the agent alone is.
func (m *multiHost) testCancelDaemon(t *testing.T) {
	m.t = t
	id := m.submit("-N", "1", "-t", "5m", "--", "sh", "-c",
		`( setsid sh -c 'exec sleep 301' </dev/null >/dev/null 2>&1 & ) ; exec sleep 302`)
	j := m.waitState(id, "running", 60*time.Second)
	h := m.hosts[j.Nodes[0]]
	agentPid := h.cmd.Process.Pid
	waitFor(t, "the job and its daemon sleeping on "+h.Name, 30*time.Second, func() (bool, string) {
		var sleeps []string
		for _, p := range nsPids(t, h) {
			if procComm(p) == "sleep" {
				b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
				sleeps = append(sleeps, strings.ReplaceAll(string(b), "\x00", " "))
			}
		}
		return len(sleeps) == 2, fmt.Sprint(sleeps)
	})
	m.must("cancel", id)
	m.waitState(id, "cancelled", 30*time.Second)
	waitFor(t, "no process of the job left on "+h.Name, 30*time.Second, func() (bool, string) {
		var left []string
		for _, p := range nsPids(t, h) {
			if p != agentPid {
				left = append(left, fmt.Sprintf("%d %s", p, procComm(p)))
			}
		}
		return len(left) == 0, strings.Join(left, "\n")
	})
	m.waitAllReady("nodes ready after the cancel")
}

// e) kill -9 of an agent while its job runs, restarted before gossip
// declares the node lost: the new agent adopts the job from its journal,
// and the job completes with its whole output.
func (m *multiHost) testAgentRestart(t *testing.T) {
	m.t = t
	id := m.submit("-N", "1", "-t", "5m", "--", "sh", "-c", `echo before; sleep 6; echo after`)
	j := m.waitState(id, "running", 60*time.Second)
	h := m.hosts[j.Nodes[0]]
	waitFor(t, "the job's first line", 30*time.Second, func() (bool, string) {
		out, _, _ := m.ibex("logs", id)
		return strings.Contains(out, "before"), out
	})
	old := h.log.String()
	m.killAgent(h)
	m.startAgent(h)
	j = m.waitState(id, "completed", 60*time.Second)
	if !j.HasExitCode || j.ExitCode != 0 {
		t.Fatalf("job after the agent's restart: %+v\nagent before:\n%s\nafter:\n%s", j, old, h.log)
	}
	if out := m.must("logs", id); !strings.Contains(out, "before") || !strings.Contains(out, "after") {
		t.Fatalf("output after the agent's restart:\n%s", out)
	}
	m.waitAllReady("nodes ready after the agent restart")
	// The restarted node stays in the pool and takes the next job.
	id = m.submit("-N", "4", "-t", "1m", "--", "sh", "-c", "sleep 5")
	j = m.waitState(id, "completed", 60*time.Second)
	if !j.HasExitCode || j.ExitCode != 0 {
		t.Fatalf("job after the agent restart: %+v", j)
	}
}

// d) kill -9 of an agent mid-job, left dead: gossip declares the node lost
// and the job fails saying so; the agent back, the node is cleaned before
// it is ready again.
func (m *multiHost) testAgentKill(t *testing.T) {
	m.t = t
	id := m.submit("-N", "2", "-t", "5m", "--", "sleep", "300")
	j := m.waitState(id, "running", 60*time.Second)
	h := m.hosts[j.Nodes[1]]
	cleanedBefore := strings.Count(m.must("nodes", "history", h.Name), "cleaned ")
	killed := time.Now()
	m.killAgent(h)
	j = m.waitState(id, "failed", 60*time.Second)
	t.Logf("%s declared down %s after its agent was killed", h.Name, time.Since(killed).Round(time.Millisecond))
	if !strings.Contains(j.Reason, h.Name+" went down") {
		t.Fatalf("job failed with reason %q, want it to name %s going down", j.Reason, h.Name)
	}
	sawCleaning := false
	m.startAgent(h)
	waitFor(t, h.Name+" cleaned and ready again", 90*time.Second, func() (bool, string) {
		st := m.nodeStates()
		sawCleaning = sawCleaning || st[h.Name] == "cleaning"
		hist := m.must("nodes", "history", h.Name)
		return st[h.Name] == "ready" && strings.Count(hist, "cleaned ") > cleanedBefore, fmt.Sprintf("%v\n%s\n%s", st, hist, m.diag())
	})
	t.Logf("cleaning state observed while polling: %v", sawCleaning)
	m.waitAllReady("nodes ready after the agent came back")
}

// f) kill -9 of the leader while a 2-node job runs: the job completes
// under the new leader with its output, and the new leader's queue holds
// every job of the test.
func (m *multiHost) testLeaderFailover(t *testing.T) {
	m.t = t
	id := m.submit("-N", "2", "-t", "5m", "--", "sh", "-c", `echo start; sleep 8; echo survived`)
	m.waitState(id, "running", 60*time.Second)
	old := m.c.Leader()
	m.c.Kill(old, syscall.SIGKILL)
	leader := m.c.Leader()
	t.Logf("leader %s killed; %s leads", old.ID, leader.ID)
	j := m.waitState(id, "completed", 90*time.Second)
	if !j.HasExitCode || j.ExitCode != 0 {
		t.Fatalf("job after the failover: %+v", j)
	}
	if out := m.must("logs", id); strings.Count(out, "survived") != 2 {
		t.Fatalf("output after the failover (want both nodes' \"survived\"):\n%s", out)
	}
	out, errs, code := m.ibexAt(leader.API, "queue", "--all")
	if code != 0 {
		t.Fatalf("ibex queue --all on %s: %s", leader.ID, errs)
	}
	have := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			have[f[0]] = true
		}
	}
	for _, want := range m.jobs {
		if !have[want] {
			t.Fatalf("job %s missing from the new leader's queue:\n%s", want, out)
		}
	}
	// A job after the failover runs too.
	id = m.submit("-N", "4", "-t", "1m", "--", "hostname")
	m.waitState(id, "completed", 60*time.Second)
}
