package cluster

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ibex-hpc/ibex/client"
	"github.com/ibex-hpc/ibex/internal/testcluster"
	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	raftcluster "github.com/ibex-hpc/ibex/raft/cluster"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

var (
	compareModes = flag.String("modes", "group,stream,many,nogroup,raft-group,raft-nogroup,spawn",
		"BenchmarkSubmitCompare: what to measure, in turn each round: group (ibexd as built, unary Submit calls), stream (ibexd as built, each client's Submit calls through the client library, which shares one SubmitStream), nogroup (--group-commit=false: one raft entry per write, the hot path before group commit), plaintext (group with --plaintext: no TLS on the API and raft), "+
			"many (group, each client sending -per-call submissions per SubmitMany call), base (the ibexd in -base-bin), raft-group and raft-nogroup (raw raft applies of the same command, in this process, 3 servers on the same disk, no API), spawn (fork+exec of `true`)")
	baseBin  = flag.String("base-bin", "", "BenchmarkSubmitCompare: a directory holding an ibexd built from an earlier commit, for mode base")
	perCall  = flag.Int("per-call", 4, "BenchmarkSubmitCompare: submissions per SubmitMany call in mode many")
	moreBins = flag.String("bins", "", "BenchmarkSubmitCompare: more ibexd binaries as LABEL=DIR,...; each LABEL is a mode (e.g. one binary per change, to tell what each bought); a LABEL starting with many submits as mode many does")
	spawns   = flag.Int("spawns", 2000, "BenchmarkSubmitCompare: how many times mode spawn runs `true`")
	profDir  = flag.String("cpuprofile-dir", "", "BenchmarkSubmitCompare: write each ibexd's CPU profile to DIR/MODE-ROUND-SERVER.pprof")
)

// BenchmarkSubmitCompare measures 3-server submissions/s and p50/p99 with
// 64 clients for each mode, and the baselines of the same machine in the
// same run, taking the modes in turn round by round (A, B, C, A, B, C...)
// so that a slow spell of the shared machine hits them alike:
//
//	go test ./bench/cluster -run '^$' -bench SubmitCompare -benchtime 1x -timeout 30m -args -rounds 3 -submissions 20000
//
// It ignores b.N. Nothing is asserted against a time: the table compares,
// and the goal is printed as a goal.
func BenchmarkSubmitCompare(b *testing.B) {
	modes := strings.Split(*compareModes, ",")
	bins, err := parseBins(*moreBins)
	if err != nil {
		b.Fatal(err)
	}
	for _, m := range modes {
		if bins[m] != "" {
			continue
		}
		switch m {
		case "many", "stream", "group", "nogroup", "plaintext", "raft-group", "raft-nogroup", "spawn":
		case "base":
			if *baseBin == "" {
				b.Fatal("-modes base needs -base-bin DIR (a directory holding an earlier ibexd)")
			}
		default:
			b.Fatalf("-modes: unknown mode %q", m)
		}
	}
	res := map[string][]load{}
	for round := 1; round <= *rounds; round++ {
		for _, mode := range modes {
			r := compareMode(b, mode, round)
			res[mode] = append(res[mode], r)
			if mode == "spawn" {
				fmt.Printf("round %d  %-12s %6.0f spawns/s (%d sequential fork+exec of true)\n", round, mode, r.rate, *spawns)
				continue
			}
			fmt.Printf("round %d  %-12s %6.0f /s  p50 %7.2f ms  p99 %7.2f ms\n", round, mode, r.rate, ms(r.p50), ms(r.p99))
		}
	}

	var t strings.Builder
	fmt.Fprintf(&t, "\nsubmissions, 3 servers, %d clients, %d per mode per round, %d rounds taken in turn\n", *clients, *submissions, *rounds)
	fmt.Fprintf(&t, "%-12s | %-*s | %22s | %22s | %22s\n", "mode", 8**rounds, "/s per round", "/s (median, range)", "p50 ms (median, range)", "p99 ms (median, range)")
	medians := map[string]float64{}
	for _, mode := range modes {
		var per []string
		var rates, p50s, p99s []float64
		for _, r := range res[mode] {
			per = append(per, fmt.Sprintf("%7.0f", r.rate))
			rates, p50s, p99s = append(rates, r.rate), append(p50s, ms(r.p50)), append(p99s, ms(r.p99))
		}
		medians[mode] = median(rates)
		if mode == "spawn" {
			fmt.Fprintf(&t, "%-12s | %-*s | %7.0f (%6.0f-%6.0f) | %22s | %22s\n", mode, 8**rounds, strings.Join(per, " "), medians[mode], slices.Min(rates), slices.Max(rates), "-", "-")
		} else {
			fmt.Fprintf(&t, "%-12s | %-*s | %7.0f (%6.0f-%6.0f) | %6.2f (%6.2f-%6.2f) | %6.2f (%6.2f-%6.2f)\n", mode, 8**rounds, strings.Join(per, " "),
				medians[mode], slices.Min(rates), slices.Max(rates), median(p50s), slices.Min(p50s), slices.Max(p50s), median(p99s), slices.Min(p99s), slices.Max(p99s))
		}
		b.ReportMetric(medians[mode], mode+"/s")
	}
	fmt.Fprintf(&t, "CPU µs per submission (median of rounds; /proc utime+stime, 10 ms ticks): %-9s | %6s | %9s | %7s\n", "", "leader", "followers", "clients")
	for _, mode := range modes {
		var l, f, c []float64
		for _, r := range res[mode] {
			if r.cpu != (cpuUse{}) {
				l, f, c = append(l, r.cpu.leader), append(f, r.cpu.followers), append(c, r.cpu.client)
			}
		}
		if len(l) > 0 {
			fmt.Fprintf(&t, "  %-12s | %6.0f | %9.0f | %7.0f\n", mode, median(l), median(f), median(c))
		}
	}
	if l, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Fprintf(&t, "load average at the end: %s", l)
	}
	for _, pair := range [][2]string{{"stream", "group"}, {"stream", "many"}, {"group", "nogroup"}, {"group", "base"}, {"many", "group"}, {"plaintext", "group"}, {"raft-group", "raft-nogroup"}, {"group", "raft-group"}, {"nogroup", "raft-nogroup"}} {
		a, ok1 := medians[pair[0]]
		c, ok2 := medians[pair[1]]
		if ok1 && ok2 {
			fmt.Fprintf(&t, "%s / %s: %.2f× median rate\n", pair[0], pair[1], a/c)
		}
	}
	fmt.Fprintf(&t, "(modes: group = ibexd as built, unary Submit calls; stream = ibexd as built, each client submitting one job at a time and waiting for its ack through the client library, which carries concurrent Submit calls on one SubmitStream; many = ibexd as built, SubmitMany calls of -per-call submissions each (a submission's latency is its call's); nogroup = --group-commit=false; plaintext = group without TLS; base = -base-bin; raft-* = raw raft applies of SubmitJob in this process, no gRPC/TLS/auth; spawn = fork+exec of `true`, what every tiny job costs at least once)\n")
	fmt.Fprintf(&t, "(stated goal from issue #17, not measured: %d submissions/s on 3 servers, p99 under 50 ms)\n", goalJobsPerSec)
	fmt.Print(t.String())
}

func compareMode(b *testing.B, mode string, round int) load {
	prefix := fmt.Sprintf("r%d-", round)
	switch mode {
	case "spawn":
		return spawnTrue(b, *spawns)
	case "raft-group", "raft-nogroup":
		return rawRaft(b, mode == "raft-nogroup", *submissions)
	}
	bin, extra := binDir, []string(nil)
	switch mode {
	case "nogroup":
		extra = []string{"--group-commit=false"}
	case "plaintext":
		extra = []string{"--plaintext"}
	case "base":
		bin = *baseBin
	default:
		bins, _ := parseBins(*moreBins)
		if d := bins[mode]; d != "" {
			bin = d
		}
	}
	var each func(int) []string
	sig := syscall.SIGKILL
	if *profDir != "" {
		each = func(i int) []string {
			return []string{"--cpuprofile", filepath.Join(*profDir, fmt.Sprintf("%s-%d-s%d.pprof", mode, round, i+1))}
		}
		sig = syscall.SIGTERM // ibexd writes its profile when it stops
	}
	h := testcluster.StartOn(b, bin, 3, "127.0.0.1", 8, each, extra...)
	leader := h.Leader()
	before, err := h.Local(leader)
	if err != nil {
		b.Fatal(err)
	}
	cpu0 := map[int]time.Duration{}
	for _, s := range h.Servers {
		cpu0[s.PID()] = procCPU(s.PID())
	}
	self0 := selfCPU()
	var r load
	switch {
	case strings.HasPrefix(mode, "many"): // many, or a -bins label many-...
		r = submitMany(b, h.Client(), *submissions, prefix, *perCall)
	case strings.HasPrefix(mode, "stream"): // stream, or a -bins label stream-...
		c := h.Client()
		r = submitWith(b, c, c.Jobs, *submissions, prefix)
	default:
		r = submit(b, h.Client(), *submissions, prefix)
	}
	self1 := selfCPU()
	for _, s := range h.Servers {
		d := float64((procCPU(s.PID()) - cpu0[s.PID()]).Microseconds()) / float64(*submissions)
		if s == leader {
			r.cpu.leader += d
		} else {
			r.cpu.followers += d
		}
	}
	r.cpu.client = float64((self1 - self0).Microseconds()) / float64(*submissions)
	fmt.Printf("round %d  %-12s %s\n", round, mode, r.cpu)
	// The leader's applied index counts raft entries, the controller's
	// (pending reasons, schedule passes) included.
	if after, err := h.Local(leader); err == nil && after.AppliedIndex > before.AppliedIndex {
		n := after.AppliedIndex - before.AppliedIndex
		fmt.Printf("round %d  %-12s %d submissions in %d raft entries (%.1f per entry; the controller's entries included), leader %s\n",
			round, mode, *submissions, n, float64(*submissions)/float64(n), leader.ID)
	}
	for _, s := range h.Servers {
		h.Kill(s, sig)
	}
	os.RemoveAll(h.Dir)
	return r
}

// spawnTrue runs `true` n times, one after another: the floor under the
// cost of a tiny job, whatever runs it.
func spawnTrue(b *testing.B, n int) load {
	path, err := exec.LookPath("true")
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for range n {
		if err := exec.Command(path).Run(); err != nil {
			b.Fatal(err)
		}
	}
	el := time.Since(start)
	return load{rate: float64(n) / el.Seconds(), elapsed: el}
}

// rawRaft commits n SubmitJob commands (what an API submission commits)
// from 64 goroutines through three raft/cluster servers in this process,
// their logs in a temporary directory of the same disk the ibexd modes
// use: the replicated log's rate without gRPC, TLS, authentication and
// request handling.
func rawRaft(b *testing.B, noGroup bool, n int) load {
	dir, err := os.MkdirTemp("", "ibex-rawraft-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	addrs := make([]string, 3)
	for i := range addrs {
		addrs[i] = testcluster.FreeAddr(b)
	}
	var peers []raftcluster.Peer
	for i, a := range addrs {
		peers = append(peers, raftcluster.Peer{ID: fmt.Sprintf("s%d", i+1), Addr: a})
	}
	var cs []*raftcluster.Cluster
	for i, p := range peers {
		c, err := raftcluster.Open(raftcluster.Config{NodeID: p.ID, DataDir: filepath.Join(dir, p.ID), BindAddr: addrs[i], Bootstrap: true, Peers: peers,
			NoGroupCommit: noGroup, Logger: hclog.NewNullLogger()}, fsm.New())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Shutdown()
		cs = append(cs, c)
	}
	var leader *raftcluster.Cluster
	for deadline := time.Now().Add(30 * time.Second); leader == nil; {
		for _, c := range cs {
			if c.IsLeader() {
				leader = c
			}
		}
		if time.Now().After(deadline) {
			b.Fatal("raw raft: no leader")
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx := context.Background()
	if _, err := leader.Apply(ctx, &fsm.RegisterNodes{Nodes: []fsm.NodeSpec{{Name: "n1", Leaf: "leaf01"}}}); err != nil {
		b.Fatal(err)
	}
	if _, err := leader.Apply(ctx, &fsm.CreateTenant{Tenant: model.Tenant{Name: "alice", TokenHash: "h"}}); err != nil {
		b.Fatal(err)
	}
	first, _ := strconv.ParseUint(leader.Stats()["last_log_index"], 10, 64)
	lat := make([]time.Duration, n)
	var next, failed atomic.Int64
	var cur atomic.Pointer[raftcluster.Cluster]
	cur.Store(leader)
	var wg sync.WaitGroup
	start := time.Now()
	for range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				t0 := time.Now()
				cmd := &fsm.SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Hour, Interactive: true,
					RequestID: fmt.Sprintf("raw%d", i)}, Time: t0.UTC()}
				_, err := cur.Load().Apply(ctx, cmd)
				// On a busy machine the leader can lose its lease: retry
				// (the request id makes it safe) on whichever server
				// leads, as a client would, for up to 10 s.
				for try := 0; err != nil && try < 100; try++ {
					time.Sleep(100 * time.Millisecond)
					for _, c := range cs {
						if c.IsLeader() {
							cur.Store(c)
						}
					}
					_, err = cur.Load().Apply(ctx, cmd)
				}
				lat[i] = time.Since(t0)
				if err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	if failed.Load() > 0 {
		b.Fatalf("raw raft: %d of %d applies failed", failed.Load(), n)
	}
	if cur.Load() != leader {
		fmt.Printf("raw raft: the leader changed during the run (machine too busy for its lease); the rate includes the election\n")
	}
	if last, err := strconv.ParseUint(leader.Stats()["last_log_index"], 10, 64); err == nil && last > first {
		fmt.Printf("raw raft: %d commands in %d raft entries (%.1f per entry)\n", n, last-first, float64(n)/float64(last-first))
	}
	return loadOf(lat, el)
}

// parseBins reads -bins: LABEL=DIR pairs, comma-separated.
func parseBins(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		label, dir, ok := strings.Cut(p, "=")
		if !ok || label == "" || dir == "" {
			return nil, fmt.Errorf("-bins %q: want LABEL=DIR,... (a directory holding an ibexd)", p)
		}
		if _, err := os.Stat(filepath.Join(dir, "ibexd")); err != nil {
			return nil, fmt.Errorf("-bins %s: %w", label, err)
		}
		out[label] = dir
	}
	return out, nil
}

// submitMany is submit with SubmitMany calls of perCall submissions: each
// client has one call in flight, so clients*perCall submissions are.
func submitMany(b *testing.B, c *client.Client, n int, prefix string, perCall int) load {
	lat := make([]time.Duration, n)
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range *clients {
		wg.Go(func() {
			for {
				first := next.Add(int64(perCall)) - int64(perCall)
				if first >= int64(n) {
					return
				}
				last := min(first+int64(perCall), int64(n))
				req := &pb.SubmitManyRequest{}
				for i := first; i < last; i++ {
					req.Jobs = append(req.Jobs, &pb.SubmitRequest{NumNodes: 1, TimeLimit: durationpb.New(time.Hour),
						Interactive: true, RequestId: fmt.Sprintf("%s%d", prefix, i)})
				}
				t0 := time.Now()
				ctx, cancel := context.WithTimeout(c.Context(context.Background()), 30*time.Second)
				resp, err := c.Jobs.SubmitMany(ctx, req)
				cancel()
				d := time.Since(t0)
				for i := first; i < last; i++ {
					lat[i] = d
				}
				if err != nil {
					failed.Add(last - first)
					continue
				}
				for _, r := range resp.Results {
					if r.JobId == 0 {
						failed.Add(1)
					}
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if failed.Load() > 0 {
		b.Fatalf("%d of %d submissions failed", failed.Load(), n)
	}
	return loadOf(lat, elapsed)
}
