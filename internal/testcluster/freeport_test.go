package testcluster

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// TestFreeAddrIsBelowTheEphemeralRange: the ports test servers get are
// ones no outgoing connection takes as its source port, and free.
func TestFreeAddrIsBelowTheEphemeralRange(t *testing.T) {
	low := ephemeralLow()
	if low-lowestPort < 1000 {
		t.Skipf("ephemeral range starts at %d: too low for a range below it", low)
	}
	for range 20 {
		addr := FreeAddr(t)
		_, p, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		port, _ := strconv.Atoi(p)
		if port < lowestPort || port >= low {
			t.Fatalf("port %d is not in [%d, %d)", port, lowestPort, low)
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("%s is not free: %v", addr, err)
		}
		l.Close()
	}
}

// A port FreeAddr handed out stays reserved while this process runs:
// another opener of its lock file (another test process) cannot take it,
// and reserve refuses a port someone else holds.
func TestFreeAddrReservesItsPortsAcrossProcesses(t *testing.T) {
	if ephemeralLow()-lowestPort < 1000 {
		t.Skip("no range below the ephemeral one here")
	}
	_, p, _ := net.SplitHostPort(FreeAddr(t))
	lock := filepath.Join(os.TempDir(), "ibex-test-ports", p)
	f, err := os.OpenFile(lock, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
		t.Fatalf("port %s handed out, yet its lock was free for another taker", p)
	}
	port, _ := strconv.Atoi(p)
	if reserve(port) {
		t.Fatalf("port %s reserved twice", p)
	}
}
