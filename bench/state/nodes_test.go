package state

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// BenchmarkStateNodes is BenchmarkState on fabrics of 10,000 and 100,000
// nodes (issue #17, item 5: state size, snapshot time and leader memory as
// the fabric grows), each node registered, enrolled and cleaned once, then
// finished jobs spread over them with retention on:
//
//	go test ./bench/state -run '^$' -bench StateNodes -benchtime 1x -short
//
// -short keeps to 100,000 jobs; without it the million-job cases run too
// (several minutes each on a laptop).
func BenchmarkStateNodes(b *testing.B) {
	for _, fabric := range []int{10_000, 100_000} {
		for _, n := range []int{100_000, 1_000_000} {
			b.Run(fmt.Sprintf("nodes=%d/jobs=%d/retention=on", fabric, n), func(b *testing.B) {
				if testing.Short() && n > 100_000 {
					b.Skip("-short")
				}
				for range b.N {
					runOn(b, fabric, n, true, true)
				}
			})
		}
	}
}

var wideHeader sync.Once

func printWide(fabric, n int, keep bool, live, ledger int, snap int64, persist, clone time.Duration, heap float64, apply time.Duration) {
	wideHeader.Do(func() {
		fmt.Printf("%-8s %-9s %-9s %9s %9s %12s %10s %8s %9s %8s\n", "nodes", "jobs", "retention", "live_jobs", "ledger", "snapshot_MB", "persist_ms", "clone_ms", "heap_MB", "apply_s")
	})
	mode := "off"
	if keep {
		mode = "on"
	}
	fmt.Printf("%-8d %-9d %-9s %9d %9d %12.1f %10d %8d %9.1f %8.1f\n", fabric, n, mode, live, ledger, float64(snap)/(1<<20),
		persist.Milliseconds(), clone.Milliseconds(), heap, apply.Seconds())
}
