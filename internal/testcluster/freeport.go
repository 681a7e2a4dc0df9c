package testcluster

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// lowestPort is where test servers' ports start: above the well-known and
// the usual registered service ports a developer machine runs.
const lowestPort = 20000

// freeBelowEphemeral finds a port between lowestPort and the start of
// the kernel's ephemeral range that ip can listen on now, trying random
// ones (parallel test processes rarely pick the same). ok is false when
// the range is too small or unknown.
func freeBelowEphemeral(ip string) (addr string, ok bool) {
	low := ephemeralLow()
	if low-lowestPort < 1000 {
		return "", false
	}
	for range 64 {
		port := lowestPort + rand.IntN(low-lowestPort)
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
