package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/internal/execrun"
	"github.com/ibex-hpc/ibex/internal/testcluster"
	"github.com/ibex-hpc/ibex/nodeagent/localexec"
	"github.com/ibex-hpc/ibex/nodeagent/redfishmock"
)

// simNode is one node of the agent test: a real ibex-agent process with
// simulated hardware underneath (a sysfs fixture tree, a disk file, an HCA
// behind the simulated mstflint).
type simNode struct {
	name, dir, disk, hca, sysfs string
	gossip                      string   // kept across restarts, like a real node's
	bmc                         []string // BMC flags, if the node has one
	cmd                         *exec.Cmd
	log                         *execrun.Buffer
}

type agentBed struct {
	c                *cluster
	agentAddr, fwDir string
	image, imageSHA  string
	nodes            map[string]*simNode
	simhca, sysfs    string
	agentEnv         []string // extra environment for agents
}

const simPSID = "SM_2001000001034" // board id of the mlx5_0 fixture

func fileSHA(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// newAgentBed starts ibexd for agents; serve, if not nil, publishes the
// image file and returns its URL (default: file://).
func newAgentBed(t *testing.T, serve func(path string) string) *agentBed {
	t.Helper()
	dir := t.TempDir()
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	b := &agentBed{nodes: map[string]*simNode{}, simhca: abs("../testdata/simhca"), sysfs: abs("../testdata/ib-sysfs/procfs")}
	// The pinned firmware (newer than the simulated HCAs carry) and the OS image.
	b.fwDir = filepath.Join(dir, "firmware")
	os.MkdirAll(b.fwDir, 0o755)
	fw := filepath.Join(b.fwDir, "fw-14.30.1000.bin")
	os.WriteFile(fw, []byte("FW Version: 14.30.1000\nPSID: "+simPSID+"\n"), 0o644)
	policy := filepath.Join(dir, "firmware.json")
	os.WriteFile(policy, []byte(fmt.Sprintf(`[{"psid":%q,"version":"14.30.1000","sha256":%q,"file":"fw-14.30.1000.bin"}]`, simPSID, fileSHA(t, fw))), 0o644)
	b.image = filepath.Join(dir, "rocky9.img")
	img := make([]byte, 4<<20)
	rand.Read(img)
	os.WriteFile(b.image, img, 0o644)
	b.imageSHA = fileSHA(t, b.image)

	b.agentAddr = testcluster.FreeAddr(t)
	// Real ibex-agent processes enroll these nodes, so ibexd runs no
	// simulated agents of its own.
	b.c = startDev(t, "--sim-agents=false", "--fabric", "off", "--leaves", "1", "--nodes-per-leaf", "2",
		"--agent-listen", b.agentAddr, "--gossip-bind", testcluster.FreeAddr(t), "--gossip-probe-interval", "200ms",
		"--image", "rocky9:1", "--firmware-policy", policy)
	url := "file://" + b.image
	if serve != nil {
		url = serve(b.image)
	}
	b.c.must("images", "add", "rocky9:1", "--sha256", b.imageSHA, "--size", fmt.Sprint(len(img)), "--url", url)
	t.Cleanup(func() {
		for _, n := range b.nodes {
			b.kill(n)
		}
	})
	return b
}

// enroll creates the node's token and starts its agent.
func (b *agentBed) enroll(t *testing.T, name string) *simNode {
	t.Helper()
	out := b.c.must("agent", "token", name)
	fields := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	n := &simNode{name: name, dir: t.TempDir(), gossip: testcluster.FreeAddr(t)}
	// The agent runs jobs as nobody: the job root's parents must be
	// traversable (t.TempDir makes them 0700). The agent's own data dir
	// stays 0700 inside.
	for _, d := range []string{filepath.Dir(n.dir), n.dir} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	n.disk = filepath.Join(n.dir, "disk")
	os.WriteFile(n.disk, bytes.Repeat([]byte("previous tenant's data "), 300000), 0o644)
	n.hca = filepath.Join(n.dir, "hca")
	os.MkdirAll(n.hca, 0o755)
	os.WriteFile(filepath.Join(n.hca, "mlx5_0.burned"), []byte("14.28.2006\n"), 0o644)
	os.WriteFile(filepath.Join(n.hca, "mlx5_0.running"), []byte("14.28.2006\n"), 0o644)
	// Each node its own sysfs: its fw_ver follows a firmware reset, as a
	// real driver's does, and compliance needs every reading to agree.
	n.sysfs = filepath.Join(n.dir, "sysfs")
	if out, err := exec.Command("cp", "-a", b.sysfs, n.sysfs).CombinedOutput(); err != nil {
		t.Fatalf("copy the sysfs fixture: %v: %s", err, out)
	}
	b.nodes[name] = n
	b.start(t, n, append([]string{"--join-token", fields["token"], "--ca-pin", fields["ca-pin"]}, b.bmcArgs(t, n)...)...)
	return n
}

// bmcArgs gives node001 a BMC: a Redfish mockup server serving the DMTF
// public-rackmount1 tree, reached by the agent through gofish.
func (b *agentBed) bmcArgs(t *testing.T, n *simNode) []string {
	if n.name != "node001" {
		return nil
	}
	mock, err := redfishmock.New("../testdata/redfish/dmtf-publications/public-rackmount1", redfishmock.Options{Username: "admin", Password: "bmc-pass"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mock)
	t.Cleanup(srv.Close)
	creds := filepath.Join(n.dir, "bmc.json")
	os.WriteFile(creds, []byte(`{"username":"admin","password":"bmc-pass"}`), 0o600)
	n.bmc = []string{"--bmc-endpoint", srv.URL, "--bmc-credentials-file", creds}
	return n.bmc
}

func (b *agentBed) start(t *testing.T, n *simNode, extra ...string) {
	t.Helper()
	args := append([]string{"--node", n.name, "--server", b.agentAddr, "--data-dir", filepath.Join(n.dir, "agent"), "--job-root", filepath.Join(n.dir, "jobs"),
		"--cgroup", agentCgroup(t, n.name),
		// Jobs run as nobody, whom other tests on this host use too: no
		// sweep of the user's other processes (nodeagent/agent's
		// TestCleanLeavesNothing covers it with a uid of its own).
		"--sweep-job-user=false",
		"--disk", n.disk, "--disk-kind", "file", "--device", "mlx5_0", "--firmware-dir", b.fwDir,
		"--mstflint", filepath.Join(b.simhca, "mstflint"), "--sysfs-root", n.sysfs,
		"--gossip-bind", n.gossip, "--gossip-probe-interval", "200ms", "--gossip-probe-timeout", "100ms"}, extra...)
	n.log = &execrun.Buffer{}
	n.cmd = exec.Command(filepath.Join(binDir, "ibex-agent"), args...)
	n.cmd.Env = append(append(os.Environ(), "IBEX_SIM_HCA_DIR="+n.hca, "IBEX_SIM_PSID="+simPSID, "PATH="+b.simhca+":"+os.Getenv("PATH"),
		"IBEX_SIM_SYSFS_FW="+filepath.Join(n.sysfs, "sys/class/infiniband/mlx5_0/fw_ver")), b.agentEnv...)
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
}

func (b *agentBed) kill(n *simNode) {
	execrun.Stop(n.cmd, syscall.SIGKILL, time.Minute)
	n.cmd = nil
}

// waitFor polls cond until it holds, or fails with what it last saw.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, seen := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s; last seen:\n%s", what, timeout, seen)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (b *agentBed) nodeShow(name string) string {
	out, errs, _ := b.c.ibex("nodes", "show", name)
	return out + errs
}

// TestAgentsEndToEnd: two real agents enroll with single-use tokens and
// talk mTLS; a job's end triggers their hygiene — erase, firmware pinned
// (burned, reset, verified), image written and verified — with every step
// in the ledger; a corrupted image keeps the node from tenants; a killed
// agent's node goes down and its job fails; a revoked agent is refused.
func TestAgentsEndToEnd(t *testing.T) {
	b := newAgentBed(t, nil)
	c := b.c
	for _, name := range []string{"node001", "node002"} {
		n := b.enroll(t, name)
		waitFor(t, name+" agent connected", 60*time.Second, func() (bool, string) {
			out := b.nodeShow(name)
			return strings.Contains(out, "connected") && strings.Contains(out, "HCA mlx5_0"), out + n.log.String()
		})
	}
	c.fails(nil, "not found", "agent", "token", "node999") // unknown node

	// A job, then the hygiene between tenants.
	id := jobID(t, c.must("submit", "-N", "2", "-t", "1m", "--", "true"))
	c.waitState(id, "completed")
	waitFor(t, "both nodes cleaned and ready", 120*time.Second, func() (bool, string) {
		out := c.must("nodes")
		return strings.Count(out, " ready ") == 2, out + b.nodeShow("node001") + b.nodes["node001"].log.String()
	})
	for _, name := range []string{"node001", "node002"} {
		hist := c.must("nodes", "history", name)
		for _, step := range []string{"enroll", "erase", "firmware", "image", "cleaned"} {
			if !strings.Contains(hist, step+" ") {
				t.Fatalf("%s history lacks %s:\n%s", name, step, hist)
			}
		}
		for _, line := range strings.Split(strings.TrimSpace(hist), "\n")[1:] {
			if f := strings.Fields(line); len(f) < 5 || f[4] != "true" { // SEQ DATE TIME STEP OK ...
				t.Fatalf("%s history has a failed step: %s", name, line)
			}
		}
		if v := c.must("nodes", "history", name, "--verify"); !strings.Contains(v, "chain of custody verified") {
			t.Fatalf("%s: history --verify: %s", name, v)
		}
		n := b.nodes[name]
		if got := fileSHA(t, n.disk); got != b.imageSHA {
			t.Fatalf("%s disk holds %s, want the image %s", name, got, b.imageSHA)
		}
		if v, _ := os.ReadFile(filepath.Join(n.hca, "mlx5_0.running")); strings.TrimSpace(string(v)) != "14.30.1000" {
			t.Fatalf("%s runs firmware %q, want the pinned 14.30.1000", name, v)
		}
		if show := b.nodeShow(name); !strings.Contains(show, "rocky9:1") {
			t.Fatalf("node show lacks the image:\n%s", show)
		}
		// node001's BMC firmware inventory came through Redfish.
		if show := b.nodeShow(name); name == "node001" && !strings.Contains(show, "BMC firmware") {
			t.Fatalf("node show lacks the Redfish firmware inventory:\n%s", show)
		}
	}

	// A corrupted image source: the node never becomes ready, and after
	// repeated failures it is quarantined with the reason.
	good, _ := os.ReadFile(b.image)
	bad := append([]byte(nil), good...)
	bad[12345] ^= 0xff
	os.WriteFile(b.image, bad, 0o644)
	id = jobID(t, c.must("submit", "-N", "2", "-t", "1m", "--", "true"))
	c.waitState(id, "completed")
	// Both nodes, not just the first to fail: both are undrained below.
	waitFor(t, "node001 and node002 quarantined for their image", 120*time.Second, func() (bool, string) {
		out := c.must("nodes")
		n := 0
		for _, l := range strings.Split(out, "\n") {
			if (strings.HasPrefix(l, "node001 ") || strings.HasPrefix(l, "node002 ")) && strings.Contains(l, "quarantined") && strings.Contains(l, "image failed") {
				n++
			}
		}
		return n == 2, out
	})
	if hist := c.must("nodes", "history", "node001"); !strings.Contains(hist, "sha256 mismatch") {
		t.Fatalf("history does not say why the image failed:\n%s", hist)
	}
	os.WriteFile(b.image, good, 0o644)
	c.must("undrain", "node001")
	c.must("undrain", "node002")
	waitFor(t, "nodes ready again with a good image", 120*time.Second, func() (bool, string) {
		out := c.must("nodes")
		return strings.Count(out, " ready ") == 2, out
	})

	// kill -9 an agent under a running allocation: the node goes down and
	// the allocation fails with the reason.
	alloc := strings.Fields(c.must("alloc", "-N", "2", "-t", "1h"))[1]
	killed := time.Now()
	b.kill(b.nodes["node002"])
	j := c.waitState(alloc, "failed")
	t.Logf("node002 declared down %s after its agent was killed", time.Since(killed).Round(time.Millisecond))
	if !strings.Contains(j.Reason, "node002 went down") {
		t.Fatalf("allocation failed with %q", j.Reason)
	}

	// Revoke node001's agent: restarted, it is refused.
	c.must("nodes", "revoke", "node001", "--reason", "disk swapped")
	b.kill(b.nodes["node001"])
	b.start(t, b.nodes["node001"])
	waitFor(t, "the revoked agent refused", 60*time.Second, func() (bool, string) {
		l := b.nodes["node001"].log.String()
		return strings.Contains(l, "revoked") || strings.Contains(l, "refused"), l
	})
	if show := b.nodeShow("node001"); !strings.Contains(show, "revoked") {
		t.Fatalf("node show:\n%s", show)
	}
}

// TestAgentRestartMidTask kills the agent in the middle of a firmware burn
// and again in the middle of writing the image (during the cleaning every
// newly enrolled node gets before first use): each time the restarted
// agent redoes the task, and the node becomes ready only with the pinned
// firmware running and the image verified on its disk.
func TestAgentRestartMidTask(t *testing.T) {
	// Serve the image slowly, so there is a "middle" to kill the agent in.
	serve := func(path string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := os.ReadFile(path)
			w.Header().Set("Content-Length", fmt.Sprint(len(b)))
			for off := 0; off < len(b); off += 256 << 10 {
				if _, err := w.Write(b[off:min(off+256<<10, len(b))]); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				time.Sleep(100 * time.Millisecond)
			}
		}))
		t.Cleanup(srv.Close)
		return srv.URL + "/rocky9.img"
	}
	b := newAgentBed(t, serve)
	b.agentEnv = []string{"IBEX_SIM_BURN_SECONDS=2"}
	c := b.c
	n := b.enroll(t, "node001")
	waitFor(t, "agent connected", 60*time.Second, func() (bool, string) {
		out := b.nodeShow("node001")
		return strings.Contains(out, "connected"), out + n.log.String()
	})
	// A newly enrolled node is cleaned before first use: that cleaning is
	// what gets interrupted. Mid-flash: the erase is recorded, the burn
	// sleeps for 2 s.
	waitFor(t, "erase recorded", 60*time.Second, func() (bool, string) {
		h := c.must("nodes", "history", "node001")
		return strings.Contains(h, "erase "), h
	})
	time.Sleep(500 * time.Millisecond)
	b.kill(n)
	if burned, _ := os.ReadFile(filepath.Join(n.hca, "mlx5_0.burned")); strings.TrimSpace(string(burned)) != "14.28.2006" {
		t.Fatalf("the burn finished before the kill (%q); the test did not hit the middle", burned)
	}
	if show := b.nodeShow("node001"); strings.Contains(show, " ready") {
		t.Fatalf("node ready with its flash interrupted:\n%s", show)
	}
	t0 := time.Now()
	b.start(t, n) // the certificate from enrollment is reused

	// Mid-image: progress is reported, then the agent dies.
	waitFor(t, "imaging in progress", 60*time.Second, func() (bool, string) {
		out := b.nodeShow("node001")
		return strings.Contains(out, "/image/"), out + n.log.String()
	})
	t.Logf("imaging seen %s after the restart", time.Since(t0).Round(time.Millisecond))
	b.kill(n)
	if got := fileSHA(t, n.disk); got == b.imageSHA {
		t.Fatal("the image was complete before the kill; the test did not hit the middle")
	}
	if show := c.must("nodes"); strings.Contains(show, "node001  ready") {
		t.Fatalf("node ready with a half-written image:\n%s", show)
	}
	t0 = time.Now()
	b.start(t, n)
	defer func() { t.Logf("ready %s after the second restart", time.Since(t0).Round(time.Millisecond)) }()
	waitFor(t, "node001 ready after the redone tasks", 120*time.Second, func() (bool, string) {
		out := c.must("nodes")
		return strings.Contains(out, "node001  ready"), out + b.nodeShow("node001")
	})
	if got := fileSHA(t, n.disk); got != b.imageSHA {
		t.Fatalf("ready node's disk holds %s, want the image %s", got, b.imageSHA)
	}
	if v, _ := os.ReadFile(filepath.Join(n.hca, "mlx5_0.running")); strings.TrimSpace(string(v)) != "14.30.1000" {
		t.Fatalf("ready node runs firmware %q, want 14.30.1000", v)
	}
	// Each killed run is in the chain of custody, not hidden in the
	// redone task's span.
	hist := c.must("nodes", "history", "node001")
	for _, step := range []string{"firmware:interrupted ", "image:interrupted "} {
		if !strings.Contains(hist, step) || !strings.Contains(hist, "died with the agent process") {
			t.Fatalf("history lacks %s:\n%s", step, hist)
		}
	}
	if v := c.must("nodes", "history", "node001", "--verify"); !strings.Contains(v, "chain of custody verified") {
		t.Fatalf("history --verify: %s", v)
	}
}

// agentCgroup is a cgroup v2 directory of the test's own for one agent,
// removed at the end, or "none" where this host has no writable cgroup2
// tree (the test then runs jobs in process groups, as ibex-agent --cgroup
// none does).
func agentCgroup(t *testing.T, node string) string {
	mnt, err := localexec.Cgroup2Mount()
	if err != nil || os.Geteuid() != 0 {
		t.Logf("no cgroup v2 for the agents (%v): --cgroup none", err)
		return "none"
	}
	dir := filepath.Join(mnt, fmt.Sprintf("ibex-e2e-%d-%s-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "_"), node))
	t.Cleanup(func() {
		// Job cgroups below it are removed by cleaning; remove what is left.
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.IsDir() {
				sub, _ := os.ReadDir(filepath.Join(dir, e.Name()))
				for _, s := range sub {
					if s.IsDir() {
						os.Remove(filepath.Join(dir, e.Name(), s.Name()))
					}
				}
				os.Remove(filepath.Join(dir, e.Name()))
			}
		}
		os.Remove(dir)
	})
	return dir
}
