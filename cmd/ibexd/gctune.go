package main

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
)

// gcPercent is ibexd's GOGC. Its hot path is many small RPCs, each of
// which allocates (gRPC's stream, the request, the command and its
// entry); at Go's default of 100 a 3-server leader under bench-submit
// spent ~18% of its CPU marking, and GOGC=400 cut its CPU per submission
// from 98 to 73 µs (followers 48 to 41, bench/cluster SubmitCompare,
// #17.2). The price is a heap up to 5× the live data between collections,
// which memoryLimitShare bounds.
const gcPercent = 400

// memoryLimitShare: the soft memory limit is this share of the memory
// ibexd may use (the machine's RAM, or its cgroup's memory.max when
// smaller), so that when the heap nears it the collector runs more often
// instead of letting GOGC=400 take memory the machine needs. It is
// headroom against GOGC's overshoot, not a budget: a live heap near the
// limit makes the collector run almost without pause, so it sits well
// above what a leader keeps live (about 0.4 GB at 100k nodes, bench/state).
const memoryLimitShare = 0.75

// tuneGC sets gcPercent and the soft memory limit unless the environment
// sets GOGC or GOMEMLIMIT, which win.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		if total := usableMemory(); total > 0 {
			debug.SetMemoryLimit(int64(float64(total) * memoryLimitShare))
		}
	}
}

// usableMemory is the machine's RAM, or the cgroup v2 memory.max of
// ibexd's cgroup when set and smaller; 0 when neither can be read.
func usableMemory() uint64 {
	var total uint64
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err == nil {
		total = uint64(si.Totalram) * uint64(si.Unit)
	}
	if b, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		// cgroup v2's line is "0::/path".
		for _, line := range strings.Split(string(b), "\n") {
			if path, ok := strings.CutPrefix(line, "0::"); ok {
				for _, root := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
					if m, err := os.ReadFile(filepath.Join(root, path, "memory.max")); err == nil {
						if v, err := strconv.ParseUint(strings.TrimSpace(string(m)), 10, 64); err == nil && (total == 0 || v < total) {
							return v
						}
						break
					}
				}
			}
		}
	}
	return total
}
