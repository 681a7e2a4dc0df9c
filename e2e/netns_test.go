package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// testHost is a network namespace joined to a bridge in the root namespace
// by a veth pair: a host of our own, reachable only from this machine.
// Setting its link down cuts every socket to it, as a network partition.
type testHost struct {
	ns, veth, ip string
}

// testNet is a bridge with hosts. Subnet 10.213.X.0/24 exists only inside
// this machine, between namespaces the test created.
type testNet struct {
	t      *testing.T
	bridge string
	hosts  []*testHost
}

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func newTestNet(t *testing.T, n int) *testNet {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network-namespace test needs root (CI runs as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("network-namespace test needs iproute2's ip")
	}
	tag := fmt.Sprintf("%d", os.Getpid()%10000)
	subnet := fmt.Sprintf("10.213.%d", os.Getpid()%200+20)
	tn := &testNet{t: t, bridge: "ibr" + tag}
	t.Cleanup(tn.destroy)
	run(t, "ip", "link", "add", tn.bridge, "type", "bridge")
	run(t, "ip", "addr", "add", subnet+".1/24", "dev", tn.bridge)
	run(t, "ip", "link", "set", tn.bridge, "up")
	for i := 0; i < n; i++ {
		h := &testHost{ns: fmt.Sprintf("ibex%s-%d", tag, i), veth: fmt.Sprintf("iv%s-%d", tag, i), ip: fmt.Sprintf("%s.%d", subnet, 10+i)}
		tn.hosts = append(tn.hosts, h)
		peer := h.veth + "p"
		run(t, "ip", "netns", "add", h.ns)
		run(t, "ip", "link", "add", h.veth, "type", "veth", "peer", "name", peer)
		run(t, "ip", "link", "set", peer, "netns", h.ns)
		run(t, "ip", "link", "set", h.veth, "master", tn.bridge)
		run(t, "ip", "link", "set", h.veth, "up")
		run(t, "ip", "netns", "exec", h.ns, "ip", "link", "set", "lo", "up")
		run(t, "ip", "netns", "exec", h.ns, "ip", "addr", "add", h.ip+"/24", "dev", peer)
		run(t, "ip", "netns", "exec", h.ns, "ip", "link", "set", peer, "up")
	}
	return tn
}

// cut takes a host off the network; heal puts it back.
func (tn *testNet) cut(h *testHost)  { run(tn.t, "ip", "link", "set", h.veth, "down") }
func (tn *testNet) heal(h *testHost) { run(tn.t, "ip", "link", "set", h.veth, "up") }

func (tn *testNet) destroy() {
	for _, h := range tn.hosts {
		exec.Command("ip", "netns", "del", h.ns).Run()
		exec.Command("ip", "link", "del", h.veth).Run()
	}
	exec.Command("ip", "link", "del", tn.bridge).Run()
	time.Sleep(100 * time.Millisecond)
}
