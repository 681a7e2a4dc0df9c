package agentpath

import (
	"context"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/ibex-hpc/ibex/client"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// Per-job costs besides ibexd's CPU, so a change that moves work between
// processes, or into more raft entries, shows:
//
//   - the benchmark's own CPU (its 64 submitting clients and the polls),
//     the only other process of the run: the agents live in ibexd;
//   - raft entries committed per job (the leader's applied index, from
//     Servers/Local): a Batch or group-committed entry counts once.

// selfCPU is this process's user+system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// appliedIndex is the answering server's applied raft index (0 when it
// cannot tell).
func appliedIndex(c *client.Client) uint64 {
	s, err := c.Servers.Local(c.Context(context.Background()), &pb.LocalRequest{})
	if err != nil {
		return 0
	}
	return s.GetAppliedIndex()
}

// loadAvg is the machine's 1-minute load average, as /proc tells it.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}
