package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/ibsim"
)

// fabricDev starts `ibexd --dev --fabric=ibsim`: a real OpenSM on an ibsim
// fabric of 8 hosts. It skips loudly when the packages are missing (CI
// installs them).
func fabricDev(t *testing.T) *cluster {
	t.Helper()
	if err := ibsim.Available(); err != nil {
		t.Skipf("SKIP (real fabric needed): %v", err)
	}
	c := startDev(t, "--fabric", "ibsim", "--leaves", "2", "--nodes-per-leaf", "4", "--pkey-cooldown", "1s")
	if !strings.Contains(c.log.String(), "real OpenSM") {
		t.Fatalf("ibexd did not start the OpenSM fabric:\n%s", c.log)
	}
	return c
}

// pkeys reads a host's own P_Key table with the real smpquery, as that
// host sees it, through the fabric ibexd runs.
func (c *cluster) pkeys(host string) []string {
	c.t.Helper()
	dir := filepath.Join(c.dir, "data", "fabric")
	sock, err := os.ReadFile(filepath.Join(dir, "sockname"))
	if err != nil {
		c.t.Fatal(err)
	}
	umad, _ := filepath.Glob("/usr/lib/*/umad2sim/libumad2sim.so")
	scratch := c.t.TempDir() // umad2sim writes sys-<pid> into the cwd
	cmd := exec.Command("smpquery", "-D", "pkeys", "0", "1")
	cmd.Dir = scratch
	cmd.Env = append(os.Environ(), "IBSIM_SOCKNAME="+strings.TrimSpace(string(sock)), "SIM_HOST="+host, "LD_PRELOAD="+umad[0])
	out, err := cmd.CombinedOutput()
	if err != nil {
		c.t.Fatalf("smpquery pkeys on %s: %v\n%s", host, err, out)
	}
	var keys []string
	for _, f := range strings.Fields(string(out)) {
		if strings.HasPrefix(f, "0x") && f != "0x0000" {
			keys = append(keys, f)
		}
	}
	return keys
}

func hasKey(keys []string, want string) bool {
	for _, k := range keys {
		if k == want {
			return true
		}
	}
	return false
}

// TestAllocationPartitionOnRealOpenSM: an allocation gets its own key, full
// members on exactly its nodes as seen by each host; other hosts keep only
// the limited default key; after release the key is gone before the nodes
// are ready again.
func TestAllocationPartitionOnRealOpenSM(t *testing.T) {
	c := fabricDev(t)
	out := c.must("alloc", "-N", "4", "-t", "1h")
	id := strings.Fields(out)[1]
	show := c.must("show", id)
	if !strings.Contains(show, "confirmed on the fabric") {
		t.Fatalf("allocation running without a confirmed partition:\n%s", show)
	}
	j := c.job(id)
	var pkey uint64
	for _, line := range strings.Split(show, "\n") {
		if strings.HasPrefix(line, "Partition:") {
			pkey, _ = strconv.ParseUint(strings.TrimPrefix(strings.Fields(line)[1], "0x"), 16, 16)
		}
	}
	full := "0x" + strconv.FormatUint(pkey|0x8000, 16)
	inJob := map[string]bool{}
	for _, n := range j.Nodes {
		inJob[n] = true
	}
	for _, n := range c.nodes() {
		keys := c.pkeys(n.Name)
		if !hasKey(keys, "0x7fff") {
			t.Errorf("%s: tenant node not a limited member of the default partition: %v", n.Name, keys)
		}
		if hasKey(keys, "0xffff") {
			t.Errorf("%s: tenant node is a full member of the default partition: %v", n.Name, keys)
		}
		if inJob[n.Name] != hasKey(keys, full) {
			t.Errorf("%s (in job: %v): table %v, job key %s", n.Name, inJob[n.Name], keys, full)
		}
	}
	c.must("release", id)
	c.waitAllReady()
	for _, n := range j.Nodes {
		if keys := c.pkeys(n); hasKey(keys, full) {
			t.Fatalf("%s is ready but still holds released key %s: %v", n, full, keys)
		}
	}
}

// TestPartitionGatesJobStart pauses OpenSM: a new job is scheduled but must
// not start (or run anything) until its key is on the fabric.
func TestPartitionGatesJobStart(t *testing.T) {
	c := fabricDev(t)
	pid := opensmPid(t, c)
	syscall.Kill(pid, syscall.SIGSTOP)
	defer syscall.Kill(pid, syscall.SIGCONT)
	id := jobID(t, c.must("submit", "-N", "2", "-t", "5m", "--", "sh", "-c", "echo started"))
	time.Sleep(3 * time.Second)
	j := c.job(id)
	if j.State != "scheduled" {
		t.Fatalf("job is %s while the subnet manager is paused, want scheduled", j.State)
	}
	if logs := c.must("logs", id); strings.Contains(logs, "started") {
		t.Fatal("job ran before its partition existed")
	}
	syscall.Kill(pid, syscall.SIGCONT)
	c.waitState(id, "completed")
}

// opensmPid finds the opensm that ibexd started for this test.
func opensmPid(t *testing.T, c *cluster) int {
	conf := filepath.Join(c.dir, "data", "fabric", "opensm.conf")
	out, _ := exec.Command("pgrep", "-f", "opensm -F "+conf).Output()
	f := strings.Fields(string(out))
	if len(f) == 0 {
		t.Fatalf("opensm for %s not found", conf)
	}
	pid, _ := strconv.Atoi(f[0])
	return pid
}

// console sends a command to the ibsim console of ibexd's fabric.
func (c *cluster) console(cmd string) {
	c.t.Helper()
	f, err := os.OpenFile(filepath.Join(c.dir, "data", "fabric", "ibsim.console"), os.O_WRONLY, 0)
	if err != nil {
		c.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(cmd + "\n"); err != nil {
		c.t.Fatal(err)
	}
}

// TestFabricHealthUnlink takes a host's cable out through the ibsim console:
// the node leaves scheduling with the reason, `ibex fabric health` names the
// link, and relinking brings it back.
func TestFabricHealthUnlink(t *testing.T) {
	if err := ibsim.Available(); err != nil {
		t.Skipf("SKIP (real fabric needed): %v", err)
	}
	c := startDev(t, "--fabric", "ibsim", "--leaves", "2", "--nodes-per-leaf", "4", "--health-every", "500ms")
	// The monitor must have seen the healthy fabric once, or a link that is
	// missing from its first discovery is simply unknown.
	deadline := time.Now().Add(120 * time.Second)
	for !strings.Contains(c.must("fabric", "health", "--all"), "node003") {
		if time.Now().After(deadline) {
			t.Fatalf("no fabric health report\n%s", c.log)
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.console(`Unlink "node003"`)
	node := func() nodeJSON {
		for _, n := range c.nodes() {
			if n.Name == "node003" {
				return n
			}
		}
		t.Fatal("node003 missing")
		return nodeJSON{}
	}
	deadline = time.Now().Add(120 * time.Second)
	for node().State != "drained" {
		if time.Now().After(deadline) {
			t.Fatalf("node003 still %s after its link went down\n%s", node().State, c.log)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if out := c.must("nodes"); !strings.Contains(out, "fabric: link to") {
		t.Fatalf("no reason in `ibex nodes`:\n%s", out)
	}
	if out := c.must("fabric", "health"); !strings.Contains(out, "node003") || !strings.Contains(out, "down") {
		t.Fatalf("fabric health:\n%s", out)
	}
	// A job for every other node runs without node003.
	id := jobID(t, c.must("submit", "-N", "7", "-t", "1m", "--", "true"))
	if j := c.waitState(id, "completed"); strings.Contains(strings.Join(j.Nodes, ","), "node003") {
		t.Fatalf("job placed on the unlinked node: %v", j.Nodes)
	}
	c.console(`ReLink "node003"`)
	deadline = time.Now().Add(120 * time.Second)
	for node().State == "drained" {
		if time.Now().After(deadline) {
			t.Fatal("node003 not back after relink")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestPerTenantPartition: with --pkey-per-tenant a tenant's allocations
// share one confirmed key, and another tenant gets its own.
func TestPerTenantPartition(t *testing.T) {
	c := startDev(t, "--pkey-per-tenant")
	alice := "IBEX_TOKEN=" + strings.TrimSpace(c.must("tenant", "create", "alice"))
	bob := "IBEX_TOKEN=" + strings.TrimSpace(c.must("tenant", "create", "bob"))
	key := func(env string) string {
		out, errs, code := c.ibexEnv([]string{env}, "alloc", "-N", "2", "-t", "1h")
		if code != 0 {
			t.Fatal(errs)
		}
		show, _, _ := c.ibexEnv([]string{env}, "show", strings.Fields(out)[1])
		line := lineWith(show, "Partition:")
		if !strings.Contains(line, "confirmed") {
			t.Fatalf("partition not confirmed: %s", show)
		}
		return strings.Fields(line)[1]
	}
	a1, a2, b1 := key(alice), key(alice), key(bob)
	if a1 != a2 || a1 == b1 {
		t.Fatalf("alice's keys %s %s, bob's %s: want alice's shared and bob's different", a1, a2, b1)
	}
}

// lineWith returns the first line of text that starts with prefix.
func lineWith(text, prefix string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), prefix) {
			return l
		}
	}
	return ""
}
