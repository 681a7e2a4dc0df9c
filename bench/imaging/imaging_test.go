//go:build unix

// Package imaging benchmarks node imaging against what the same disk can
// do with the classic tools, measured in the same run:
//
//	go test ./bench/imaging -run '^$' -bench . -benchtime 3x
//
// Each iteration, in turn on the same target path:
//
//   - baseline: `dd if=SRC of=DST bs=4M conv=fsync` then `sha256sum DST`,
//     timed as a pair (copy, flush, hash: what imaging must also do); dd's
//     share is printed too, as the stricter "disk copy rate" reference;
//   - imaging with read-back off: a loopback HTTP server serves SRC, and
//     imaging.Writer streams it to DST (hash while writing, fdatasync);
//   - imaging with read-back on (the default): the same, then the target
//     is re-read from the medium (page cache dropped) and hashed.
//
// It prints the medians in MB/s (10^6 bytes/s, as go test does) and the
// imaging/baseline ratio; the target is ≥ 0.9×. The image is 256 MiB of
// incompressible data in a temporary directory (IBEX_BENCH_DIR picks the
// disk; default the system temp dir); everything is removed afterwards.
package imaging

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	nodeimaging "github.com/ibex-hpc/ibex/nodeagent/imaging"
)

const (
	imageSize   = 256 << 20
	targetRatio = 0.9
)

func BenchmarkImaging(b *testing.B) {
	for _, tool := range []string{"dd", "sha256sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("baseline needs %s (coreutils)", tool)
		}
	}
	dir, err := os.MkdirTemp(os.Getenv("IBEX_BENCH_DIR"), "ibex-bench-imaging-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	src, dst := filepath.Join(dir, "image.raw"), filepath.Join(dir, "target.raw")
	digest := makeImage(b, src)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, src) }))
	defer srv.Close()
	img := nodeimaging.Image{Name: "bench", Version: "1", Size: imageSize, SHA256: digest, SourceURL: srv.URL + "/image.raw"}

	var base, ddOnly, off, on, onWrite, onRead []time.Duration
	var cpuBase, cpuOff, cpuOn []time.Duration
	b.SetBytes(imageSize)
	b.ResetTimer()
	for range b.N {
		dd, sum, cpu := baseline(b, src, dst, digest)
		base, ddOnly, cpuBase = append(base, dd+sum), append(ddOnly, dd), append(cpuBase, cpu)
		_, d, cpu := image(b, img, dst, true)
		off, cpuOff = append(off, d), append(cpuOff, cpu)
		ev, d, cpu := image(b, img, dst, false)
		on, cpuOn = append(on, d), append(cpuOn, cpu)
		onWrite, onRead = append(onWrite, ev.WriteDuration), append(onRead, ev.ReadBackDuration)
	}
	b.StopTimer()
	os.Remove(dst)

	rBase, rDD, rOff, rOn := mbps(median(base)), mbps(median(ddOnly)), mbps(median(off)), mbps(median(on))
	b.ReportMetric(rBase, "baseline-MB/s")
	b.ReportMetric(rOff, "imaging-MB/s")
	b.ReportMetric(rOn, "imaging+readback-MB/s")
	b.ReportMetric(rOff/rBase, "ratio")
	verdict := func(r float64) string {
		if r >= targetRatio {
			return "met"
		}
		return "NOT met"
	}
	fmt.Printf("imaging bench: %d MiB image over loopback HTTP -> %s, median of %d run(s)\n", imageSize>>20, dir, b.N)
	fmt.Printf("  CPU time (user+sys) per run: baseline %.2fs (dd+sha256sum processes), imaging %.2fs / %.2fs with read-back (whole test process, HTTP server included)\n",
		median(cpuBase).Seconds(), median(cpuOff).Seconds(), median(cpuOn).Seconds())
	fmt.Printf("  baseline dd bs=4M conv=fsync + sha256sum: %7.1f MB/s\n", rBase)
	fmt.Printf("    (dd alone, no hash:                     %7.1f MB/s)\n", rDD)
	fmt.Printf("  imaging, read-back off:                   %7.1f MB/s  ratio %.2fx vs baseline (target >= %.1fx: %s), %.2fx vs dd alone\n",
		rOff, rOff/rBase, targetRatio, verdict(rOff/rBase), rOff/rDD)
	fmt.Printf("  imaging, read-back on:                    %7.1f MB/s  ratio %.2fx vs baseline (write phase %.1f MB/s, read-back %.1f MB/s)\n",
		rOn, rOn/rBase, mbps(median(onWrite)), mbps(median(onRead)))
}

// makeImage writes imageSize pseudo-random (incompressible) bytes, flushes
// them so their writeback does not land in a measurement, and returns the
// sha256.
func makeImage(b *testing.B, path string) string {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	rng := rand.NewChaCha8([32]byte{'i', 'b', 'e', 'x'})
	h := sha256.New()
	buf := make([]byte, 4<<20)
	for n := 0; n < imageSize; n += len(buf) {
		rng.Read(buf)
		h.Write(buf)
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// baseline times `dd ... conv=fsync` followed by `sha256sum`, returning
// the two parts, and checks the digest so both sides provably did the
// same work.
func baseline(b *testing.B, src, dst, digest string) (dd, sum, cpu time.Duration) {
	os.Remove(dst)
	start := time.Now()
	ddCmd := exec.Command("dd", "if="+src, "of="+dst, "bs=4M", "conv=fsync", "status=none")
	if out, err := ddCmd.CombinedOutput(); err != nil {
		b.Fatalf("dd: %v: %s", err, out)
	}
	mid := time.Now()
	sumCmd := exec.Command("sha256sum", dst)
	out, err := sumCmd.Output()
	end := time.Now()
	if err != nil {
		b.Fatalf("sha256sum: %v", err)
	}
	if got, _, _ := strings.Cut(string(out), " "); got != digest {
		b.Fatalf("baseline copy has sha256 %s, want %s", got, digest)
	}
	cpu = ddCmd.ProcessState.UserTime() + ddCmd.ProcessState.SystemTime() +
		sumCmd.ProcessState.UserTime() + sumCmd.ProcessState.SystemTime()
	return mid.Sub(start), end.Sub(mid), cpu
}

// image runs one imaging.Writer pass onto a fresh target file and times
// it from opening the target to closing it.
func image(b *testing.B, img nodeimaging.Image, dst string, skipReadBack bool) (nodeimaging.Evidence, time.Duration, time.Duration) {
	os.Remove(dst)
	cpu0 := selfCPU()
	start := time.Now()
	disk, err := nodeimaging.OpenDisk(dst)
	if err != nil {
		b.Fatal(err)
	}
	w := &nodeimaging.Writer{SkipReadBack: skipReadBack}
	ev, err := w.Write(context.Background(), img, disk)
	if err != nil {
		b.Fatalf("imaging (read-back skipped: %v): %v", skipReadBack, err)
	}
	if err := disk.Close(); err != nil {
		b.Fatal(err)
	}
	return ev, time.Since(start), selfCPU() - cpu0
}

// selfCPU is this process's user+system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func mbps(d time.Duration) float64 { return float64(imageSize) / d.Seconds() / 1e6 }
