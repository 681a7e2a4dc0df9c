package testcluster

import (
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// lowestPort is where test servers' ports start: above the well-known and
// the usual registered service ports a developer machine runs.
const lowestPort = 20000

// freeBelowEphemeral finds a port between lowestPort and the start of
// the kernel's ephemeral range that ip can listen on now and that no other
// test process reserved (reserve), trying random ones. ok is false when
// the range is too small or unknown.
func freeBelowEphemeral(ip string) (addr string, ok bool) {
	low := ephemeralLow()
	if low-lowestPort < 1000 {
		return "", false
	}
	for range 64 {
		port := lowestPort + rand.IntN(low-lowestPort)
		if !reserve(port) {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			continue
		}
		addr = l.Addr().String()
		l.Close()
		return addr, true
	}
	return "", false
}

// ephemeralLow is the first port of the kernel's ephemeral range, or 0.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[0])
	return n
}

// reservedPorts holds the lock files of the ports this process handed out,
// open until it exits.
var reservedPorts struct {
	mu    sync.Mutex
	files []*os.File
}

// reserve takes port for this test process, for as long as it runs: an
// flock on a file named after it, which another test process (go test runs
// packages side by side) finds held and so skips the port. A free port
// alone is not enough: while a test has killed one of its servers, that
// server's port is free, and another package's server took it
// (TestHAFiveServersSurviveTwoFailures failed so: the client reached the
// other process's TLS listener, "missing selected ALPN property"). When no
// lock file can be made, the port counts as free, as before.
func reserve(port int) bool {
	dir := filepath.Join(os.TempDir(), "ibex-test-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return true
	}
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(port)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return true
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return false
	}
	reservedPorts.mu.Lock()
	reservedPorts.files = append(reservedPorts.files, f)
	reservedPorts.mu.Unlock()
	return true
}
