// Package cluster benchmarks the control plane as users meet it: real ibexd
// processes, the real gRPC API, concurrent clients.
//
//	go test ./bench/cluster -run '^$' -bench . -benchtime 20000x
//
// BenchmarkSubmit prints jobs/s and latency percentiles for 1 and 3
// servers; BenchmarkFailover the time from killing the leader to the first
// acknowledged write, one run per iteration (use -benchtime 5x).
// BenchmarkLogStores compares the raft log stores on 3 servers, taking
// turns round by round (make bench-logstore):
//
//	go test ./bench/cluster -run '^$' -bench LogStores -benchtime 1x -args -rounds 3 -submissions 10000
package cluster

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ibex-hpc/ibex/client"
	"github.com/ibex-hpc/ibex/internal/testcluster"
	"github.com/ibex-hpc/ibex/internal/testutil"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

var binDir string

func TestMain(m *testing.M) {
	testutil.RunWithBinaries(m, &binDir, "../../cmd/ibexd")
}

// clients is how many submissions are in flight at once (-clients; 64 is
// the number the goal is stated with: report others next to it).
var clients = flag.Int("clients", 64, "submission benchmarks: concurrent clients (submissions in flight at once)")

// goalJobsPerSec is issue #17's stated goal for 3 servers (with p99 under
// 50 ms). It is printed as a goal, never as a measurement, and nothing
// asserts it; the comparisons that count are measured in the same run
// (BenchmarkLogStores takes the stores in turn; bench/agentpath compares
// against an earlier ibexd with -base-ibexd).
const goalJobsPerSec = 20000

func BenchmarkSubmit(b *testing.B) {
	for _, servers := range []int{1, 3} {
		b.Run(fmt.Sprintf("servers=%d", servers), func(b *testing.B) {
			// IBEX_BENCH_ARGS adds ibexd flags, e.g. "--insecure" to
			// compare with TLS (the default).
			extra := strings.Fields(os.Getenv("IBEX_BENCH_ARGS"))
			if p := os.Getenv("IBEX_BENCH_CPUPROFILE"); p != "" {
				extra = append(extra, "--cpuprofile", p)
			}
			h := testcluster.Start(b, binDir, servers, nil, extra...)
			if p := os.Getenv("IBEX_BENCH_CPUPROFILE"); p != "" {
				defer func() {
					for _, s := range h.Servers {
						h.Kill(s, syscall.SIGTERM)
					}
				}()
			}
			b.ResetTimer()
			r := submit(b, h.Client(), b.N, "b")
			b.StopTimer()
			b.ReportMetric(r.rate, "jobs/s")
			b.ReportMetric(ms(r.p50), "p50-ms")
			b.ReportMetric(ms(r.p99), "p99-ms")
			b.Logf("%d servers, %d clients: %d submissions in %s = %.0f jobs/s; latency p50 %s p99 %s (stated goal for 3 servers, not a measurement: %d jobs/s)",
				servers, *clients, b.N, r.elapsed.Round(time.Millisecond), r.rate,
				r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), goalJobsPerSec)
		})
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// load is one measured burst of submissions.
type load struct {
	rate          float64 // jobs/s
	elapsed       time.Duration
	p50, p99, max time.Duration
	cpu           cpuUse // BenchmarkSubmitCompare's ibexd modes only
}

// loadOf is the rate and latency spread of n operations that took elapsed
// in all, with lat their latencies (sorted in place).
func loadOf(lat []time.Duration, elapsed time.Duration) load {
	n := len(lat)
	slices.Sort(lat)
	return load{rate: float64(n) / elapsed.Seconds(), elapsed: elapsed, p50: lat[n/2], p99: lat[n*99/100], max: lat[n-1]}
}

// submit sends n interactive one-node submissions from clients concurrent
// clients, each with a request id under prefix, as unary Jobs.Submit
// calls, and fails b if any fails.
func submit(b *testing.B, c *client.Client, n int, prefix string) load {
	return submitWith(b, c, pb.NewJobsClient(c.Conn), n, prefix)
}

// submitWith is submit through jobs: the client library's c.Jobs sends
// concurrent Submit calls on its shared SubmitStream.
func submitWith(b *testing.B, c *client.Client, jobs pb.JobsClient, n int, prefix string) load {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < *clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				t0 := time.Now()
				ctx, cancel := context.WithTimeout(c.Context(context.Background()), 30*time.Second)
				_, err := jobs.Submit(ctx, &pb.SubmitRequest{NumNodes: 1, TimeLimit: durationpb.New(time.Hour),
					Interactive: true, RequestId: fmt.Sprintf("%s%d", prefix, i)})
				cancel()
				lat[i] = time.Since(t0)
				if err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if failed.Load() > 0 {
		b.Fatalf("%d of %d submissions failed", failed.Load(), n)
	}
	return loadOf(lat, elapsed)
}

var (
	rounds      = flag.Int("rounds", 3, "BenchmarkLogStores: rounds; each round runs every store once, in turn")
	submissions = flag.Int("submissions", 10000, "BenchmarkLogStores: submissions per store per round")
	logStores   = flag.String("log-stores", "wal,raftwal,bolt", "BenchmarkLogStores: the --log-store values to compare")
)

// BenchmarkLogStores measures 3-server submissions/s and latency for each
// raft log store. Every round starts a fresh cluster per store, in the same
// order each round (A, B, C, A, B, C, ...), so slow spells of a shared
// machine hit every store alike; compare the medians. It ignores b.N: run
// it with -benchtime 1x.
func BenchmarkLogStores(b *testing.B) {
	stores := strings.Split(*logStores, ",")
	res := map[string][]load{}
	for round := 1; round <= *rounds; round++ {
		for _, store := range stores {
			h := testcluster.Start(b, binDir, 3, nil, "--log-store", store)
			r := submit(b, h.Client(), *submissions, fmt.Sprintf("r%d-", round))
			for _, s := range h.Servers {
				h.Kill(s, syscall.SIGKILL)
			}
			os.RemoveAll(h.Dir)
			res[store] = append(res[store], r)
			fmt.Printf("round %d  %-8s %6.0f jobs/s  p50 %7.2f ms  p99 %7.2f ms\n", round, store, r.rate, ms(r.p50), ms(r.p99))
		}
	}

	var t strings.Builder
	fmt.Fprintf(&t, "\nraft log stores, 3 servers, %d clients, %d submissions per store per round, %d rounds taken in turn (A,B,C,A,B,C...)\n",
		*clients, *submissions, *rounds)
	fmt.Fprintf(&t, "%-8s | %-*s | %13s | %22s | %22s\n", "store", 8**rounds, "jobs/s per round", "median jobs/s", "p50 ms (median, range)", "p99 ms (median, range)")
	medians := map[string]float64{}
	for _, store := range stores {
		var per []string
		var rates, p50s, p99s []float64
		for _, r := range res[store] {
			per = append(per, fmt.Sprintf("%7.0f", r.rate))
			rates, p50s, p99s = append(rates, r.rate), append(p50s, ms(r.p50)), append(p99s, ms(r.p99))
		}
		medians[store] = median(rates)
		fmt.Fprintf(&t, "%-8s | %-*s | %13.0f | %6.2f (%6.2f-%6.2f) | %6.2f (%6.2f-%6.2f)\n", store, 8**rounds, strings.Join(per, " "), medians[store],
			median(p50s), slices.Min(p50s), slices.Max(p50s), median(p99s), slices.Min(p99s), slices.Max(p99s))
		b.ReportMetric(medians[store], store+"-jobs/s")
	}
	for _, store := range stores[1:] {
		fmt.Fprintf(&t, "%s vs %s: %+.1f%% median jobs/s\n", stores[0], store, 100*(medians[stores[0]]/medians[store]-1))
	}
	fmt.Fprintf(&t, "(stated goal from issue #17, not measured: %d jobs/s on 3 servers, p99 under 50 ms)\n", goalJobsPerSec)
	fmt.Print(t.String())
}

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// BenchmarkFailover kills the leader of a 3-server cluster once per
// iteration and measures until a client's write is acknowledged again.
func BenchmarkFailover(b *testing.B) {
	h := testcluster.Start(b, binDir, 3, nil)
	c := h.Client()
	var times []time.Duration
	for i := 0; i < b.N; i++ {
		leader := h.Leader()
		killed := time.Now()
		h.Kill(leader, syscall.SIGKILL)
		d := firstWrite(b, c, fmt.Sprintf("f%d", i), killed)
		times = append(times, d)
		h.Restart(leader)
		h.WaitConverged()
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	med := times[len(times)/2]
	b.ReportMetric(float64(med.Milliseconds()), "median-ms")
	b.Logf("failover over %d runs (leader kill -9 -> first acknowledged write): min %s median %s max %s (stated goal, not a measurement: median under 3s)",
		len(times), times[0].Round(time.Millisecond), med.Round(time.Millisecond), times[len(times)-1].Round(time.Millisecond))
}

func firstWrite(b *testing.B, c *client.Client, reqID string, since time.Time) time.Duration {
	for {
		ctx, cancel := context.WithTimeout(c.Context(context.Background()), 2*time.Second)
		_, err := c.Jobs.Submit(ctx, &pb.SubmitRequest{NumNodes: 1, TimeLimit: durationpb.New(time.Hour), Interactive: true, RequestId: reqID})
		cancel()
		if err == nil {
			return time.Since(since)
		}
		if time.Since(since) > time.Minute {
			b.Fatalf("no write acknowledged a minute after the leader died: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
