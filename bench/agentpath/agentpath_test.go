// Package agentpath measures what a job costs on its way through a node
// agent, against the local runner it replaced, in the same run: one real
// `ibexd --simulate --bootstrap` process per mode on the same 64-node
// simulated fat tree, the real gRPC API, and jobs that run `true`.
//
//	make bench-agents
//	go test ./bench/agentpath -run '^$' -bench . -benchtime 1x -timeout 30m -args -rounds 2 -jobs 2000
//
// Before and after a change, in one run: build the earlier ibexd and add
//
//	-args -base-ibexd /tmp/ibexd-before -modes agents,base-agents,local,base-local
//
// -sim-root-in /dev/shm keeps the simulated nodes' own files (their
// agents' journals, sysfs trees, job directories) on tmpfs rather than on
// the disk of ibexd's raft log: on a real cluster no node's file writes
// land on the leader's disk. On this machine's ext4 a file create+rename
// cost ~0.2-0.4 ms against ~0.01-0.02 ms on tmpfs, and the agents' were a
// quarter of ibexd's CPU. Every agents mode gets the same directory kind,
// so before/after stays a like-for-like comparison.
//
// The modes, taken in turn round by round (agents, local, agents, ...) so
// a slow spell of a shared machine hits both alike:
//
//   - agents: --sim-agents, one real node agent per simulated node in the
//     ibexd process; every launch, status and cleaning goes over the
//     agents' mutual-TLS task streams, jobs run in the agents' cgroups (as
//     nobody when run as root), and a node is ready again only after the
//     agent's hygiene steps (erase, firmware, image) are in the ledger.
//   - local: --sim-agents=false, the older agentless simulation: ibexd
//     runs the jobs itself (nodeagent/localexec) and cleans by scanning
//     its own processes.
//
// Two figures per mode:
//
//   - latency: submit -> running of -latency-jobs one-node batch jobs, one
//     at a time on an otherwise idle cluster (each submitted once the last
//     one ended), from the job record's submit_time and start_time, both
//     stamped by the leader: the client's round trip is not in it.
//   - throughput: -jobs one-node `true` jobs submitted by 64 concurrent
//     clients, from the first submit until the last job ended (the client
//     polls every 10 ms), in jobs/s; every job must complete.
//
// Each round's line also gives the benchmark's own CPU per job (its
// clients; the agents live in ibexd), raft entries per job (the applied
// index; a group-committed or Batch entry counts once) and the load
// average. -window-profile-dir DIR writes a CPU profile and an execution
// trace of only the throughput run of this tree's ibexd (--debug-listen),
// without the start-up and enrolment that --cpuprofile-dir takes in.
//
// Nothing here is asserted against a time: the table compares.
package agentpath

import (
	"context"
	"crypto/x509"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ibex-hpc/ibex/client"
	"github.com/ibex-hpc/ibex/internal/catrust"
	"github.com/ibex-hpc/ibex/internal/execrun"
	"github.com/ibex-hpc/ibex/internal/testcluster"
	"github.com/ibex-hpc/ibex/internal/testutil"
	"github.com/ibex-hpc/ibex/nodeagent/simnode"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

var (
	rounds      = flag.Int("rounds", 1, "rounds; each round runs every mode once, in turn")
	jobs        = flag.Int("jobs", 2000, "throughput: one-node `true` jobs per mode per round")
	latencyJobs = flag.Int("latency-jobs", 50, "latency: jobs submitted one at a time per mode per round")
	leaves      = flag.Int("leaves", 8, "simulated fabric: leaf switches")
	perLeaf     = flag.Int("nodes-per-leaf", 8, "simulated fabric: nodes per leaf (64 nodes by default)")
	modesFlag   = flag.String("modes", "agents,local", "modes to compare, in turn: agents (--sim-agents), local (--sim-agents=false), and with -base-ibexd base-agents and base-local (the same with that binary)")
	baseIbexd   = flag.String("base-ibexd", "", "an ibexd binary built from an earlier commit, for the base-agents and base-local modes: before/after in one run")
	readyWait   = flag.Duration("ready-timeout", 2*time.Minute, "how long a fresh ibexd may take until every simulated node is ready (enrolled and first cleaning done); 512 agents on a busy 2-core machine need more than the default")
	profileDir  = flag.String("cpuprofile-dir", "", "write ibexd's CPU profile of each mode and round to this directory (MODE-ROUND.pprof)")
	simRootIn   = flag.String("sim-root-in", "", "put the simulated nodes' files (ibexd --sim-root: agent journals, sysfs, job directories) in a fresh directory under this one, e.g. /dev/shm, for every mode alike; default: next to ibexd's data directory, on the same disk as its raft log")
)

const clients = 64

var binDir string

func TestMain(m *testing.M) {
	flag.Parse()
	testutil.RunWithBinaries(m, &binDir, "../../cmd/ibexd")
}

// result is one mode's figures in one round.
type result struct {
	p50, p99, max time.Duration // submit -> running
	rate          float64       // jobs/s end to end
	elapsed       time.Duration
	// cpuPerJob is ibexd's CPU time (user+system, its agents included)
	// during the throughput run per job: on a shared machine it moves
	// far less with the neighbours' load than the wall-clock rate.
	cpuPerJob time.Duration
	// benchCPUPerJob is this benchmark process's CPU (the clients) per
	// job; entriesPerJob the raft entries per job (perjob_test.go).
	benchCPUPerJob time.Duration
	entriesPerJob  float64
	load           string // the 1-minute load average after the run
}

// BenchmarkAgentPath prints the comparison table. It ignores b.N: run it
// with -benchtime 1x.
func BenchmarkAgentPath(b *testing.B) {
	modes := strings.Split(*modesFlag, ",")
	for _, m := range modes {
		switch m {
		case "agents", "local":
		case "base-agents", "base-local":
			if *baseIbexd == "" {
				b.Fatalf("-modes %s needs -base-ibexd", m)
			}
		default:
			b.Fatalf("-modes: %q is not agents, local, base-agents or base-local", m)
		}
	}
	res := map[string][]result{}
	for round := 1; round <= *rounds; round++ {
		for _, mode := range modes {
			r := runMode(b, mode, round)
			res[mode] = append(res[mode], r)
			fmt.Printf("round %d  %-11s  submit->running p50 %7.2f ms  p99 %7.2f ms  |  %6.1f jobs/s (%d jobs in %s)  |  ibexd CPU %.2f ms/job, bench %.2f ms/job  |  %.2f raft entries/job  |  load %s\n",
				round, mode, ms(r.p50), ms(r.p99), r.rate, *jobs, r.elapsed.Round(time.Millisecond), ms(r.cpuPerJob), ms(r.benchCPUPerJob), r.entriesPerJob, r.load)
		}
	}

	var t strings.Builder
	fmt.Fprintf(&t, "\nagent path vs local runner: %d simulated nodes, one real ibexd per mode, %d rounds taken in turn\n", *leaves**perLeaf, *rounds)
	if *simRootIn != "" {
		fmt.Fprintf(&t, "simulated nodes' files under %s (-sim-root-in), every agents mode alike\n", *simRootIn)
	}
	fmt.Fprintf(&t, "latency: %d one-node jobs one at a time (leader's submit_time -> start_time); throughput: %d one-node `true` jobs, %d clients\n", *latencyJobs, *jobs, clients)
	fmt.Fprintf(&t, "%-11s | %14s | %14s | %22s | %18s\n", "mode", "p50 ms (med)", "p99 ms (med)", "jobs/s (med, range)", "CPU ms/job (med)")
	med := map[string][3]float64{}
	for _, mode := range modes {
		var p50s, p99s, rates, cpus []float64
		for _, r := range res[mode] {
			p50s, p99s, rates = append(p50s, ms(r.p50)), append(p99s, ms(r.p99)), append(rates, r.rate)
			cpus = append(cpus, ms(r.cpuPerJob))
		}
		med[mode] = [3]float64{median(p50s), median(p99s), median(rates)}
		fmt.Fprintf(&t, "%-11s | %14.2f | %14.2f | %6.1f (%6.1f-%6.1f) | %18.2f\n", mode, med[mode][0], med[mode][1], med[mode][2], slices.Min(rates), slices.Max(rates), median(cpus))
		b.ReportMetric(med[mode][2], mode+"-jobs/s")
		b.ReportMetric(med[mode][0], mode+"-p50-ms")
	}
	for _, pair := range [][2]string{{"agents", "local"}, {"base-agents", "base-local"}, {"agents", "base-agents"}, {"local", "base-local"}} {
		a, ok1 := med[pair[0]]
		l, ok2 := med[pair[1]]
		if ok1 && ok2 {
			fmt.Fprintf(&t, "%s/%s: p50 latency %.2f×, p99 latency %.2f×, throughput %.2f×\n", pair[0], pair[1], a[0]/l[0], a[1]/l[1], a[2]/l[2])
		}
	}
	fmt.Fprintf(&t, "(stated goals from issue #17, not measured: ≥ 1,000 jobs/s end to end, p50 submit->running under 50 ms)\n")
	fmt.Print(t.String())
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// runMode starts a fresh ibexd in mode, measures, and stops it.
func runMode(b *testing.B, mode string, round int) result {
	d := startIbexd(b, mode, round)
	defer d.stop()
	c := d.client
	lat := latency(b, c, *latencyJobs, fmt.Sprintf("l%d-", round))
	from := time.Now()
	cpu0, self0, idx0 := procCPU(d.cmd.Process.Pid), selfCPU(), appliedIndex(c) // perjob_test.go
	waitProfiles := func() {}
	if d.debugAddr != "" {
		waitProfiles = startWindowProfiles(d.debugAddr, mode, round) // debugprof_test.go
	}
	rate, elapsed := throughput(b, c, *jobs, fmt.Sprintf("t%d-", round))
	cpu := procCPU(d.cmd.Process.Pid) - cpu0
	self := selfCPU() - self0
	entries := float64(appliedIndex(c)-idx0) / float64(*jobs)
	waitProfiles()
	fmt.Print(phases(c, from, fmt.Sprintf("round %d %s", round, mode)))
	return result{p50: lat[len(lat)/2], p99: lat[len(lat)*99/100], max: lat[len(lat)-1], rate: rate, elapsed: elapsed,
		cpuPerJob: cpu / time.Duration(*jobs), benchCPUPerJob: self / time.Duration(*jobs), entriesPerJob: entries,
		load: loadAvg()}
}

// latency submits n jobs one at a time, each once the previous one ended,
// and returns their submit -> running times, sorted.
func latency(b *testing.B, c *client.Client, n int, prefix string) []time.Duration {
	var out []time.Duration
	for i := 0; i < n; i++ {
		id := submit(b, c, fmt.Sprintf("%s%d", prefix, i))
		j := waitEnded(b, c, id)
		if j.State != "completed" {
			b.Fatalf("latency job %d ended %s: %s", id, j.State, j.Reason)
		}
		out = append(out, j.StartTime.AsTime().Sub(j.SubmitTime.AsTime()))
	}
	slices.Sort(out)
	return out
}

// throughput submits n jobs from 64 clients and waits until none is
// active; every job must have completed.
func throughput(b *testing.B, c *client.Client, n int, prefix string) (float64, time.Duration) {
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				if _, err := trySubmit(c, fmt.Sprintf("%s%d", prefix, i)); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		b.Fatalf("%d of %d submissions failed", failed.Load(), n)
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		r, err := c.Jobs.List(c.Context(context.Background()), &pb.ListJobsRequest{PageSize: 1})
		if err == nil && len(r.Jobs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("jobs still active after 10 minutes (err %v)", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	elapsed := time.Since(start)
	if done := countCompleted(b, c); done < n {
		b.Fatalf("only %d of %d throughput jobs completed; the others:\n%s", done, n, notCompleted(c))
	}
	return float64(n) / elapsed.Seconds(), elapsed
}

// notCompleted lists the ended jobs that did not complete, with why.
func notCompleted(c *client.Client) string {
	var out strings.Builder
	r, err := c.Jobs.List(c.Context(context.Background()), &pb.ListJobsRequest{States: []string{"failed", "cancelled", "timeout"}, PageSize: 50})
	if err != nil {
		return err.Error()
	}
	for _, j := range r.Jobs {
		fmt.Fprintf(&out, "  job %d %s on %v: %s\n", j.Id, j.State, j.Nodes, j.Reason)
	}
	return out.String()
}

// countCompleted counts the completed jobs of every round so far.
func countCompleted(b *testing.B, c *client.Client) int {
	done := 0
	var after uint64
	for {
		r, err := c.Jobs.List(c.Context(context.Background()), &pb.ListJobsRequest{States: []string{"completed"}, PageSize: 5000, AfterId: after})
		if err != nil {
			b.Fatal(err)
		}
		done += len(r.Jobs)
		if r.NextAfterId == 0 {
			break
		}
		after = r.NextAfterId
	}
	return done - *latencyJobs
}

func trySubmit(c *client.Client, reqID string) (uint64, error) {
	ctx, cancel := context.WithTimeout(c.Context(context.Background()), 30*time.Second)
	defer cancel()
	r, err := c.Jobs.Submit(ctx, &pb.SubmitRequest{NumNodes: 1, TimeLimit: durationpb.New(time.Hour),
		Argv: []string{"true"}, RequestId: reqID})
	if err != nil {
		return 0, err
	}
	return r.JobId, nil
}

func submit(b *testing.B, c *client.Client, reqID string) uint64 {
	id, err := trySubmit(c, reqID)
	if err != nil {
		b.Fatal(err)
	}
	return id
}

func waitEnded(b *testing.B, c *client.Client, id uint64) *pb.Job {
	deadline := time.Now().Add(time.Minute)
	for {
		j, err := c.Jobs.Get(c.Context(context.Background()), &pb.GetJobRequest{JobId: id})
		if err == nil && j.EndTime != nil && j.EndTime.IsValid() && j.EndTime.AsTime().After(j.SubmitTime.AsTime()) {
			return j
		}
		if time.Now().After(deadline) {
			b.Fatalf("job %d did not end within a minute (err %v)", id, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// ibexd is one server under measurement.
type ibexd struct {
	b       *testing.B
	dir     string
	simRoot string // --sim-root, under -sim-root-in; "" for ibexd's default
	// debugAddr is ibexd's --debug-listen with -window-profile-dir.
	debugAddr string
	cmd       *exec.Cmd
	log       *execrun.Buffer
	client    *client.Client
}

func startIbexd(b *testing.B, mode string, round int) *ibexd {
	dir, err := os.MkdirTemp("", "ibex-agentpath-")
	if err != nil {
		b.Fatal(err)
	}
	token := fmt.Sprintf("ibex_bench_admin_%d", time.Now().UnixNano())
	if err := os.WriteFile(filepath.Join(dir, "admin.token"), []byte(token+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	api, raftAddr := testcluster.FreeAddr(b), testcluster.FreeAddr(b)
	// A one-server --peers list makes ibexd write its cluster CA next to
	// the admin token, where the client takes its pin from (a lone
	// --bootstrap keeps the CA in the replicated state only).
	args := []string{"--simulate", "--bootstrap", "--node-id", "s1", "--data-dir", filepath.Join(dir, "data"),
		"--peers", "s1=" + raftAddr + "=" + api,
		"--listen", api, "--raft-addr", raftAddr, "--http", "",
		"--admin-token-file", filepath.Join(dir, "admin.token"),
		"--leaves", fmt.Sprint(*leaves), "--nodes-per-leaf", fmt.Sprint(*perLeaf), "--log-level", "warn",
		"--sim-agents=" + fmt.Sprint(strings.HasSuffix(mode, "agents"))}
	d := &ibexd{b: b, dir: dir, log: &execrun.Buffer{}}
	if strings.HasSuffix(mode, "agents") {
		args = append(args, "--agent-listen", testcluster.FreeAddr(b), "--gossip-bind", testcluster.FreeAddr(b))
		if *simRootIn != "" {
			if d.simRoot, err = os.MkdirTemp(*simRootIn, "ibex-agentpath-nodes-"); err != nil {
				b.Fatal(err)
			}
			args = append(args, "--sim-root", d.simRoot)
		}
	}
	if *profileDir != "" {
		args = append(args, "--cpuprofile", filepath.Join(*profileDir, fmt.Sprintf("%s-%d.pprof", mode, round)))
	}
	if windowProfiling(mode) {
		d.debugAddr = testcluster.FreeAddr(b)
		args = append(args, "--debug-listen", d.debugAddr)
	}
	bin := filepath.Join(binDir, "ibexd")
	if strings.HasPrefix(mode, "base-") {
		bin = *baseIbexd
	}
	d.cmd = exec.Command(bin, args...)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	pin, err := caPin(filepath.Join(dir, "cluster-ca.pem"))
	if err != nil {
		d.stop()
		b.Fatalf("%v\n%s", err, d.log)
	}
	d.client, err = client.New(api, token, client.WithCAPin(pin))
	if err != nil {
		d.stop()
		b.Fatal(err)
	}
	d.waitReady(strings.HasSuffix(mode, "agents"))
	return d
}

// caPin waits for ibexd to write its cluster CA and returns its pin.
func caPin(file string) (string, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(file)
		if err == nil {
			var cas []*x509.Certificate
			if cas, err = catrust.ParseCAs(b); err == nil {
				return catrust.PinOf(cas[0].Raw).String(), nil
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no cluster CA in %s after 30 s: %v", file, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitReady waits until every node is ready (agents enrolled and their
// first cleaning done). With agents, a node counts once its agent is
// enrolled too: a simulated node is "ready" for a moment before its agent
// enrolls and sends it to its first cleaning.
func (d *ibexd) waitReady(agents bool) {
	want := *leaves * *perLeaf
	start := time.Now()
	deadline := start.Add(*readyWait)
	for {
		r, err := d.client.Nodes.List(d.client.Context(context.Background()), &pb.ListNodesRequest{})
		ready := 0
		if err == nil {
			for _, n := range r.Nodes {
				if n.State == "ready" {
					ready++
				}
			}
		}
		if ready == want && agents && !d.allEnrolled() {
			ready = -1 // not yet
		}
		if ready == want {
			fmt.Printf("%d nodes ready %s after start\n", want, time.Since(start).Round(time.Second))
			return
		}
		if time.Now().After(deadline) {
			d.stop()
			d.b.Fatalf("%d of %d nodes ready after %s (err %v):\n%s", ready, want, *readyWait, err, d.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop ends ibexd with SIGTERM (so a CPU profile is written) and removes
// its files, including what simulated jobs left under /var/tmp and in
// cgroups when run as root.
func (d *ibexd) stop() {
	if d.client != nil {
		d.client.Close()
	}
	if d.cmd != nil {
		execrun.Stop(d.cmd, syscall.SIGTERM, 30*time.Second)
		d.cmd = nil
	}
	simnode.RemoveIsolation(filepath.Join(d.dir, "data-nodes"))
	if d.simRoot != "" {
		simnode.RemoveIsolation(d.simRoot)
		os.RemoveAll(d.simRoot)
	}
	os.RemoveAll(d.dir)
}

// allEnrolled reports whether every node's detail names its agent.
func (d *ibexd) allEnrolled() bool {
	ctx := d.client.Context(context.Background())
	r, err := d.client.Nodes.List(ctx, &pb.ListNodesRequest{})
	if err != nil {
		return false
	}
	for _, n := range r.Nodes {
		det, err := d.client.Fleet.NodeDetail(ctx, &pb.NodeDetailRequest{Node: n.Name})
		if err != nil || det.Agent == "" || det.Node.GetState() != "ready" {
			return false
		}
	}
	return true
}

// procCPU is process pid's user+system CPU time so far (0 when /proc
// cannot tell).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces: count from after it.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	var utime, stime int64
	fmt.Sscan(f[11], &utime)
	fmt.Sscan(f[12], &stime)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}
