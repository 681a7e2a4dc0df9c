package main

import (
	"os"
	"runtime/debug"
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

// memoryLimitShare: the soft memory limit is this fraction of the
// machine's RAM, so that when the heap nears it the collector runs more
// often instead of letting GOGC=400 take memory the machine needs.
const memoryLimitShare = 4 // a quarter

// tuneGC sets gcPercent and the soft memory limit unless the environment
// sets GOGC or GOMEMLIMIT, which win.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		var si syscall.Sysinfo_t
		if err := syscall.Sysinfo(&si); err == nil && si.Totalram > 0 {
			total := uint64(si.Totalram) * uint64(si.Unit)
			debug.SetMemoryLimit(int64(total / memoryLimitShare))
		}
	}
}
