package testcluster

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Host is a network namespace joined to a bridge in the root namespace
// by a veth pair: a host of our own, reachable only from this machine.
// Setting its link down cuts every socket to it, as a network partition.
type Host struct {
	NS, Veth, IP string
}

// Net is a bridge with hosts. Subnet 10.213.X.0/24 exists only inside
// this machine, between namespaces the test created.
type Net struct {
	t      testing.TB
	bridge string
	Hosts  []*Host
}

func run(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func NewNet(t testing.TB, n int) *Net {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network-namespace test needs root (CI runs as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("network-namespace test needs iproute2's ip")
	}
	tag := fmt.Sprintf("%d", os.Getpid()%10000)
	subnet := fmt.Sprintf("10.213.%d", os.Getpid()%200+20)
	tn := &Net{t: t, bridge: "ibr" + tag}
	t.Cleanup(tn.destroy)
	run(t, "ip", "link", "add", tn.bridge, "type", "bridge")
	run(t, "ip", "addr", "add", subnet+".1/24", "dev", tn.bridge)
	run(t, "ip", "link", "set", tn.bridge, "up")
	for i := 0; i < n; i++ {
		h := &Host{NS: fmt.Sprintf("ibex%s-%d", tag, i), Veth: fmt.Sprintf("iv%s-%d", tag, i), IP: fmt.Sprintf("%s.%d", subnet, 10+i)}
		tn.Hosts = append(tn.Hosts, h)
		peer := h.Veth + "p"
		run(t, "ip", "netns", "add", h.NS)
		run(t, "ip", "link", "add", h.Veth, "type", "veth", "peer", "name", peer)
		run(t, "ip", "link", "set", peer, "netns", h.NS)
		run(t, "ip", "link", "set", h.Veth, "master", tn.bridge)
		run(t, "ip", "link", "set", h.Veth, "up")
		run(t, "ip", "netns", "exec", h.NS, "ip", "link", "set", "lo", "up")
		run(t, "ip", "netns", "exec", h.NS, "ip", "addr", "add", h.IP+"/24", "dev", peer)
		run(t, "ip", "netns", "exec", h.NS, "ip", "link", "set", peer, "up")
	}
	return tn
}

// Cut takes a host off the network; Heal puts it back.
func (tn *Net) Cut(h *Host)  { run(tn.t, "ip", "link", "set", h.Veth, "down") }
func (tn *Net) Heal(h *Host) { run(tn.t, "ip", "link", "set", h.Veth, "up") }

func (tn *Net) destroy() {
	for _, h := range tn.Hosts {
		exec.Command("ip", "netns", "del", h.NS).Run()
		exec.Command("ip", "link", "del", h.Veth).Run()
	}
	exec.Command("ip", "link", "del", tn.bridge).Run()
	time.Sleep(100 * time.Millisecond)
}
