package main

import (
	"syscall"
	"testing"
)

// The soft memory limit comes from memory ibexd can really use: never
// more than the machine's RAM, and found at all on Linux.
func TestUsableMemory(t *testing.T) {
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		t.Skip(err)
	}
	ram := uint64(si.Totalram) * uint64(si.Unit)
	if got := usableMemory(); got == 0 || got > ram {
		t.Fatalf("usable memory %d, RAM %d", got, ram)
	}
}
