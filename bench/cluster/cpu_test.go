package cluster

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CPU time per submission: on a shared machine the rate and latency move
// with the other load, but the CPU each process spends per submission
// hardly does, so it compares binaries even when the clock cannot.

// clockTick is the unit of /proc/PID/stat's utime and stime (USER_HZ,
// 100 on every Linux this runs on).
const clockTick = 10 * time.Millisecond

// procCPU is a process's user+system CPU time so far, from
// /proc/PID/stat; 0 when it cannot be read.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; the fields after it
	// start past the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	st, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(ut+st) * clockTick
}

// selfCPU is this process's user+system CPU time (the benchmark's
// clients).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuUse is the CPU time spent per submission, in microseconds.
type cpuUse struct{ leader, followers, client float64 }

func (c cpuUse) String() string {
	return fmt.Sprintf("CPU per submission: leader %.0f µs, followers %.0f µs (both), clients %.0f µs", c.leader, c.followers, c.client)
}
