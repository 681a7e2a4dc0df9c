package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/ibsim"
)

// tracert runs the real ibtracert between two hosts' ports (by GUID) on
// ibexd's fabric and returns the switches the packet passes, read from
// the switches' forwarding tables.
func (c *cluster) tracert(a, b int) []string {
	c.t.Helper()
	dir := filepath.Join(c.dir, "data", "fabric")
	sock, err := os.ReadFile(filepath.Join(dir, "sockname"))
	if err != nil {
		c.t.Fatal(err)
	}
	umad, _ := filepath.Glob("/usr/lib/*/umad2sim/libumad2sim.so")
	cmd := exec.Command("ibtracert", "-G", fmt.Sprintf("0x%x", ibsim.HostPortGUID(a)), fmt.Sprintf("0x%x", ibsim.HostPortGUID(b)))
	cmd.Dir = c.t.TempDir() // umad2sim writes sys-<pid> into the cwd
	cmd.Env = append(os.Environ(), "IBSIM_SOCKNAME="+strings.TrimSpace(string(sock)), "SIM_HOST=sm01", "LD_PRELOAD="+umad[0])
	out, err := cmd.CombinedOutput()
	if err != nil {
		c.t.Fatalf("ibtracert: %v\n%s", err, out)
	}
	var sws []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "switch port") {
			if q := strings.Split(line, "\""); len(q) >= 2 {
				sws = append(sws, q[1])
			}
		}
	}
	return sws
}

// TestLinkIsolationRoutesOnRealOpenSM: an isolated job forced across two
// leaves holds one spine's cables; ibexd loads forwarding tables through
// OpenSM's file routing engine, `ibex fabric health` reports them
// enforced (read back and checked), ibtracert shows the job's traffic on
// its spine and traffic to the other hosts on the other spine, and after the release OpenSM routes by itself again.
func TestLinkIsolationRoutesOnRealOpenSM(t *testing.T) {
	if err := ibsim.Available(); err != nil {
		t.Skipf("SKIP (real fabric needed): %v", err)
	}
	c := startDev(t, "--fabric", "ibsim", "--spines", "2", "--leaves", "2", "--nodes-per-leaf", "2")
	c.must("drain", "node001", "--reason", "force the job across leaves")
	c.must("drain", "node003", "--reason", "force the job across leaves")
	id := strings.Fields(c.must("alloc", "-N", "2", "-t", "1h", "--isolation", "links"))[1]
	var j struct {
		Nodes []string `json:"nodes"`
		Links []string `json:"links"`
	}
	if err := json.Unmarshal([]byte(c.must("show", "--json", id)), &j); err != nil {
		t.Fatal(err)
	}
	if len(j.Links) != 2 {
		t.Fatalf("job on %v holds links %v, want one spine's cables at two leaves", j.Nodes, j.Links)
	}
	spine := strings.SplitN(j.Links[0], ">", 2)[1]
	other := "spine01"
	if spine == other {
		other = "spine02"
	}
	t.Logf("ibex fabric health:\n%s", c.waitHealth("enforced for job(s) ["+id+"]"))
	if p := c.tracert(2, 4); !has(p, spine) {
		t.Errorf("job traffic node002 -> node004 passes %v, not its %s", p, spine)
	}
	if p := c.tracert(4, 2); !has(p, spine) {
		t.Errorf("job traffic node004 -> node002 passes %v, not its %s", p, spine)
	}
	// Traffic to a host outside the job, from any host (the job's too),
	// avoids the job's cables. (Traffic to the job's hosts from outside
	// may use them: switches route by destination; the job's partition
	// refuses it.)
	for _, pair := range [][2]int{{1, 3}, {3, 1}, {2, 3}, {4, 1}} {
		if p := c.tracert(pair[0], pair[1]); !has(p, other) {
			t.Errorf("node%03d -> node%03d passes %v: over the job's cables", pair[0], pair[1], p)
		}
	}
	c.must("release", id)
	c.waitHealth("routes by itself")
	if _, err := os.Stat(filepath.Join(c.dir, "data", "fabric", "lfts")); !os.IsNotExist(err) {
		t.Errorf("lfts file still there after the release: %v", err)
	}
}

// waitHealth polls `ibex fabric health` until it says want.
func (c *cluster) waitHealth(want string) string {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		h := c.must("fabric", "health")
		if strings.Contains(h, want) {
			return h
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("fabric health never said %q:\n%s\nibexd log:\n%s", want, h, c.log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestLinkIsolationRoutesDevSim: `ibexd --dev` with the simulated subnet
// manager runs the same routing loop; the simulated SM records the
// tables, and `ibex fabric health` shows the same state as with OpenSM.
func TestLinkIsolationRoutesDevSim(t *testing.T) {
	c := startDev(t, "--spines", "2", "--leaves", "2", "--nodes-per-leaf", "2")
	c.must("drain", "node001", "--reason", "force the job across leaves")
	c.must("drain", "node003", "--reason", "force the job across leaves")
	id := strings.Fields(c.must("alloc", "-N", "2", "-t", "1h", "--isolation", "links"))[1]
	h := c.waitHealth("enforced for job(s) [" + id + "]")
	if strings.Contains(h, "violation") || strings.Contains(h, "conflict") {
		t.Errorf("health:\n%s", h)
	}
	c.must("release", id)
	c.waitHealth("routes by itself")
}

func has(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
