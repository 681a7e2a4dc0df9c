// Package netns builds a small network of "hosts" on this machine for
// multi-host tests. A host is a network namespace with its own address on
// a bridge shared by the test's hosts; processes started on it also get
// their own UTS namespace (their hostname is the host's name) and mount
// namespace (a private /tmp), so two agents on one machine look like two
// machines to each other and to the programs they run.
//
// The test process stays in the root namespace, where the bridge holds
// the network's .1 address: it reaches every host, and hosts reach it.
// Everything is removed in t.Cleanup, processes first.
package netns

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Network is one bridge and its hosts.
type Network struct {
	t      testing.TB
	id     string // short unique prefix for interface and namespace names
	bridge string
	subnet int // 10.77.<subnet>.0/24
	// Gateway is the bridge's address, reachable from every host.
	Gateway string

	mu    sync.Mutex
	hosts []*Host
}

// Host is one namespace on the network.
type Host struct {
	Name string // hostname inside, and the namespace's name suffix
	NS   string // the network namespace (ip netns)
	Addr string // its IPv4 address on the bridge
	veth string // the root side of its link
	n    *Network
}

var seq atomic.Int32

// Usable reports why namespaces cannot be built here, or "" if they can:
// it takes root and the ip and unshare commands.
func Usable() string {
	if os.Geteuid() != 0 {
		return "network namespaces need root"
	}
	for _, c := range []string{"ip", "unshare"} {
		if _, err := exec.LookPath(c); err != nil {
			return c + " is not installed"
		}
	}
	return ""
}

// New creates an empty network, or skips the test when Usable says no.
func New(t testing.TB) *Network {
	t.Helper()
	if why := Usable(); why != "" {
		t.Skip(why)
	}
	id := fmt.Sprintf("ix%d%c", os.Getpid()%100000, 'a'+rune(seq.Add(1)%26))
	n := &Network{t: t, id: id, bridge: id + "br"}
	run(t, "ip", "link", "add", n.bridge, "type", "bridge")
	t.Cleanup(n.destroy)
	run(t, "ip", "link", "set", n.bridge, "up")
	n.subnet = n.claimSubnet()
	n.Gateway = fmt.Sprintf("10.77.%d.1", n.subnet)
	return n
}

// claimSubnet picks a /24 no route of this machine uses yet and puts the
// gateway address on the bridge. Two networks of concurrent tests get
// different subnets unless they race for the same one, which the second
// notices when its address add fails.
func (n *Network) claimSubnet() int {
	for s := 1; s < 255; s++ {
		prefix := fmt.Sprintf("10.77.%d.0/24", s)
		out, err := exec.Command("ip", "-4", "route", "show", prefix).Output()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			continue
		}
		if exec.Command("ip", "addr", "add", fmt.Sprintf("10.77.%d.1/24", s), "dev", n.bridge).Run() == nil {
			return s
		}
	}
	n.t.Fatal("netns: no free 10.77.x.0/24 subnet")
	return 0
}

// AddHost creates a namespace named after name (a valid hostname) with the
// next free address, its loopback and link up.
func (n *Network) AddHost(name string) *Host {
	n.t.Helper()
	n.mu.Lock()
	i := len(n.hosts)
	h := &Host{Name: name, NS: fmt.Sprintf("%s-%s", n.id, name), Addr: fmt.Sprintf("10.77.%d.%d", n.subnet, i+2),
		veth: fmt.Sprintf("%sv%d", n.id, i), n: n}
	n.hosts = append(n.hosts, h)
	n.mu.Unlock()
	if i+2 > 254 {
		n.t.Fatal("netns: a network holds at most 253 hosts")
	}
	run(n.t, "ip", "netns", "add", h.NS)
	run(n.t, "ip", "link", "add", h.veth, "type", "veth", "peer", "name", "eth0", "netns", h.NS)
	run(n.t, "ip", "link", "set", h.veth, "master", n.bridge, "up")
	run(n.t, "ip", "-n", h.NS, "addr", "add", h.Addr+"/24", "dev", "eth0")
	run(n.t, "ip", "-n", h.NS, "link", "set", "eth0", "up")
	run(n.t, "ip", "-n", h.NS, "link", "set", "lo", "up")
	run(n.t, "ip", "-n", h.NS, "route", "add", "default", "via", n.Gateway)
	return h
}

// Command returns a command that runs on the host: in its network
// namespace, with its hostname, and with a private tmpfs on /tmp. Extra
// bind mounts inside can be made by the command itself.
func (h *Host) Command(ctx context.Context, name string, arg ...string) *exec.Cmd {
	script := `hostname "$IBEX_NETNS_HOST" && mount -t tmpfs -o mode=1777 tmpfs /tmp && exec "$@"`
	args := append([]string{"netns", "exec", h.NS, "unshare", "--uts", "--mount", "--propagation", "private",
		"/bin/sh", "-c", script, "sh", name}, arg...)
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.Env = append(os.Environ(), "IBEX_NETNS_HOST="+h.Name)
	return cmd
}

// Cut takes the host's link down: it stays up but nobody reaches it, as
// with a pulled cable. Restore brings it back.
func (h *Host) Cut()     { run(h.n.t, "ip", "link", "set", h.veth, "down") }
func (h *Host) Restore() { run(h.n.t, "ip", "link", "set", h.veth, "up") }

// destroy kills every process left in the namespaces and removes them and
// the bridge. Errors are logged, not fatal: cleanup must go on.
func (n *Network) destroy() {
	n.mu.Lock()
	hosts := n.hosts
	n.mu.Unlock()
	for _, h := range hosts {
		if out, err := exec.Command("ip", "netns", "pids", h.NS).Output(); err == nil {
			for _, pid := range strings.Fields(string(out)) {
				_ = exec.Command("kill", "-9", pid).Run()
			}
		}
		if out, err := exec.Command("ip", "netns", "del", h.NS).CombinedOutput(); err != nil {
			n.t.Logf("netns: delete %s: %v: %s", h.NS, err, out)
		}
	}
	if out, err := exec.Command("ip", "link", "del", n.bridge).CombinedOutput(); err != nil {
		n.t.Logf("netns: delete %s: %v: %s", n.bridge, err, out)
	}
}

func run(t testing.TB, name string, arg ...string) {
	t.Helper()
	if out, err := exec.Command(name, arg...).CombinedOutput(); err != nil {
		t.Fatalf("netns: %s %s: %v: %s", name, strings.Join(arg, " "), err, out)
	}
}
