package state

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/raft/fsm"
)

// BenchmarkSnapshotFormats compares the snapshot formats on one state, in
// the same process (issue #17 item 5): format 1 (the JSON servers wrote
// before format 2, fsm.WriteSnapshotJSON) against format 2
// (fsm.WriteSnapshot: the ledger in a binary section, the whole
// DEFLATE-compressed), and format 2 without the compression. Per fabric of 10,000 and 100,000 nodes, each node
// enrolled and cleaned, then a million finished jobs with retention on (as
// BenchmarkStateNodes), it prints the leader's live heap and RSS, then per
// format the snapshot's size, the time to write it and to restore it
// (medians of rounds that alternate the formats, with the range), and the
// heap the restored state takes (what a restarted server holds).
//
//	go test ./bench/state -run '^$' -bench SnapshotFormats -benchtime 1x -timeout 2h
//
// -short keeps to 100,000 jobs. ROUNDS=n in the environment sets the
// rounds (default 3).
func BenchmarkSnapshotFormats(b *testing.B) {
	for _, fabric := range []int{10_000, 100_000} {
		n := 1_000_000
		if testing.Short() {
			n = 100_000
		}
		b.Run(fmt.Sprintf("nodes=%d/jobs=%d", fabric, n), func(b *testing.B) {
			for range b.N {
				compareFormats(b, fabric, n)
			}
		})
	}
}

type snapFormat struct {
	name  string
	write func(*bytes.Buffer, *fsm.State) error
}

func compareFormats(b *testing.B, fabric, n int) {
	rounds := 3
	if r := os.Getenv("ROUNDS"); r != "" {
		fmt.Sscan(r, &rounds)
	}
	start := time.Now()
	f := populateOn(b, fabric, n, true)
	applied := time.Since(start)
	var live, ledger int
	f.Read(func(s *fsm.State) {
		live = len(s.Jobs)
		for _, l := range s.Ledger {
			ledger += len(l)
		}
	})
	heap, rss := memNow()
	fmt.Printf("nodes=%d jobs=%d: populated in %.0f s; %d live jobs, %d ledger entries; leader heap %.1f MB, RSS %.1f MB (load %s)\n",
		fabric, n, applied.Seconds(), live, ledger, heap, rss, loadavg())

	formats := []snapFormat{
		{"format 1 (JSON)", func(w *bytes.Buffer, s *fsm.State) error { return fsm.WriteSnapshotJSON(w, s) }},
		{"format 2", func(w *bytes.Buffer, s *fsm.State) error { return fsm.WriteSnapshot(w, s) }},
		{"2 uncompressed", func(w *bytes.Buffer, s *fsm.State) error { return fsm.WriteSnapshotUncompressed(w, s) }},
	}
	st := f.SnapshotState()
	writes := make([][]time.Duration, len(formats))
	restores := make([][]time.Duration, len(formats))
	sizes := make([]int, len(formats))
	heaps := make([]float64, len(formats))
	for r := range rounds {
		for i, fm := range formats {
			var buf bytes.Buffer
			before, _ := memNow()
			t := time.Now()
			if err := fm.write(&buf, st); err != nil {
				b.Fatal(err)
			}
			writes[i] = append(writes[i], time.Since(t))
			sizes[i] = buf.Len()
			g := fsm.New()
			t = time.Now()
			if err := g.Restore(&buf); err != nil {
				b.Fatal(err)
			}
			restores[i] = append(restores[i], time.Since(t))
			buf = bytes.Buffer{}
			after, _ := memNow()
			runtime.KeepAlive(g)
			if r == 0 {
				heaps[i] = after - before
			}
		}
	}
	runtime.KeepAlive(f)
	fmt.Printf("%-16s %12s %22s %22s %16s\n", "format", "size_MB", "write_ms med (range)", "restore_ms med (range)", "restored_heap_MB")
	for i, fm := range formats {
		fmt.Printf("%-16s %12.1f %22s %22s %16.1f\n", fm.name, float64(sizes[i])/(1<<20), medRange(writes[i]), medRange(restores[i]), heaps[i])
	}
	b.ReportMetric(float64(sizes[1]), "snapshot_B")
	b.ReportMetric(float64(sizes[0]), "json_snapshot_B")
}

// memNow is the live heap after a full collection, and the process's RSS
// with freed memory handed back, in MB.
func memNow() (heap, rss float64) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heap = float64(ms.HeapAlloc) / (1 << 20)
	if fh, err := os.Open("/proc/self/status"); err == nil {
		defer fh.Close()
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			if kb, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
				var v float64
				fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(kb), "kB")), &v)
				rss = v / 1024
			}
		}
	}
	return heap, rss
}

func medRange(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return fmt.Sprintf("%.0f (%.0f-%.0f)", ms(s[len(s)/2]), ms(s[0]), ms(s[len(s)-1]))
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}
