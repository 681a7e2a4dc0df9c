// Package vsslurm runs the same tiny-job workloads through ibex and
// through Slurm 22.05 on this machine, in the same run, and prints both
// rates and their ratio (issue #17.4): `make bench-vs-slurm`.
//
//	go test ./bench/vsslurm -run '^$' -bench . -benchtime 1x -timeout 60m -args -rounds 2
//
// Both clusters have the same node count and topology (-leaves x
// -nodes-per-leaf, 64 nodes by default): Slurm as one slurmctld, one
// `slurmd -N nXXX` per emulated node on its own port (select/linear,
// topology/tree, exclusive nodes) and munged; ibex as one `ibexd --dev`
// with its simulated node agents. Both stay up for the whole run; the
// workloads are taken in turn, and the order flips every round, so a slow
// spell of the shared machine hits both alike:
//
//   - e2e: -jobs one-node jobs of `true`, submitted by -loops concurrent
//     shell-like loops of one CLI process per job (sbatch --wrap true vs
//     ibex submit -- true), from the first submit until no job is pending,
//     running or completing, in jobs/s.
//   - array: the same as one array of -array-jobs tasks (sbatch --array vs
//     ibex submit --array).
//   - cli: -submits submissions from one loop, one process each, in
//     submits/s (the jobs run meanwhile; the queue is drained, untimed,
//     before the next workload).
//   - held: the same from one loop, but every job submitted held (sbatch -H
//     vs ibex submit -H), then cancelled: the submission's own cost, with
//     no job starting meanwhile.
//   - start-up: hyperfine of `ibex --help`, `ibex --version`,
//     `sbatch --version` and an empty Go program.
//
// With -base-bin DIR (make bench-vs-slurm BASE_BIN=DIR), the ibex CLI in
// DIR, an earlier build, also runs the cli and held workloads against the
// same ibexd, in turn with the others, and start-up: the table then says
// how this CLI compares with it.
//
// Nothing is asserted against a time: the table compares, and the goals
// of issue #17 are printed as goals. Without Slurm (apt-get install
// slurm-wlm munge) the benchmark skips and says so.
package vsslurm

import (
	"context"
	"crypto/x509"
	"encoding/json"
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

	"github.com/ibex-hpc/ibex/client"
	"github.com/ibex-hpc/ibex/internal/catrust"
	"github.com/ibex-hpc/ibex/internal/execrun"
	"github.com/ibex-hpc/ibex/internal/testcluster"
	"github.com/ibex-hpc/ibex/internal/testutil"
	"github.com/ibex-hpc/ibex/nodeagent/simnode"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

var (
	rounds      = flag.Int("rounds", 1, "rounds; each runs every workload on both, in turn")
	leaves      = flag.Int("leaves", 4, "leaf switches of both clusters")
	perLeaf     = flag.Int("nodes-per-leaf", 16, "nodes per leaf (64 nodes by default)")
	jobs        = flag.Int("jobs", 400, "e2e: one-node `true` jobs per system per round, one CLI process each")
	loops       = flag.Int("loops", 4, "e2e: concurrent submitting loops")
	arrayJobs   = flag.Int("array-jobs", 1000, "array: tasks of the one array per system per round (0 skips)")
	submits     = flag.Int("submits", 200, "cli: submissions from one loop, one process each")
	hfRuns      = flag.Int("hyperfine-runs", 200, "start-up: hyperfine runs per command")
	schedParams = flag.String("slurm-sched-params", "default_queue_depth=1000", "Slurm SchedulerParameters; add ,batch_sched_delay=0 for Slurm's tuned batch start")
	baseBin     = flag.String("base-bin", "", "directory with an earlier build of the ibex CLI: the cli and held workloads and start-up also run it, against the same ibexd, in turn (ibex-base)")
)

var binDir string

// cliBin and baseCLIBin are the ibex CLIs timed: copies (timedCopy) of the
// one built here and of -base-bin's.
var cliBin, baseCLIBin string

// timedCopy writes a copy of the program src as binDir/timed/name, in one
// write, and returns its path. Every program timed here is such a copy, so
// they start from the same page-cache state: the same binary ran 0.3-0.4 ms
// slower per start when its pages came from the linker's writes or from
// faults than when they came from one large write (ext4, this VM), which
// would favour whichever program was last copied rather than built.
func timedCopy(b *testing.B, src, name string) string {
	data, err := os.ReadFile(src)
	if err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(binDir, "timed")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	dst := filepath.Join(dir, name)
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		b.Fatal(err)
	}
	return dst
}

func TestMain(m *testing.M) {
	flag.Parse()
	testutil.RunWithBinaries(m, &binDir, "../../cmd/ibexd", "../../cmd/ibex")
}

// cannotRun says why this machine cannot run the comparison, or "".
func cannotRun() string {
	if os.Geteuid() != 0 {
		return "bench-vs-slurm runs slurmd as root (SlurmdUser=root, like the recipe in shared/tools/slurm-peer): run it as root"
	}
	if miss := missingSlurm(); len(miss) > 0 {
		return fmt.Sprintf("Slurm is not installed (missing %s): apt-get install -y slurm-wlm munge, then run make bench-vs-slurm again", strings.Join(miss, ", "))
	}
	if _, err := exec.LookPath("hyperfine"); err != nil {
		return "hyperfine is not installed: apt-get install -y hyperfine"
	}
	return ""
}

// system is one side of the comparison.
type system interface {
	name() string
	submitCmd(array int, held bool) *exec.Cmd // one `true` job on one node, or an array of that many
	drained() bool
	cancelAll()     // every queued job, by the admin
	completed() int // jobs (array tasks) that ended successfully so far
}

func BenchmarkVsSlurm(b *testing.B) {
	if why := cannotRun(); why != "" {
		fmt.Println("bench-vs-slurm: SKIP:", why) // b.Skip is silent without -v
		b.Skip(why)
	}
	cliBin = timedCopy(b, filepath.Join(binDir, "ibex"), "ibex")
	if *baseBin != "" {
		baseCLIBin = timedCopy(b, filepath.Join(*baseBin, "ibex"), "ibex-base")
	}
	sl := startSlurm(b, *leaves, *perLeaf, *schedParams)
	defer sl.stop()
	ib := startIbexd(b)
	defer ib.stop()
	systems := []system{&slurmSide{sl}, ib}
	if *baseBin != "" {
		systems = append(systems, &baseCLI{ib, baseCLIBin})
	}

	type key struct{ workload, system string }
	res := map[key][]float64{}
	for round := 1; round <= *rounds; round++ {
		order := systems
		if round%2 == 0 {
			order = slices.Clone(systems)
			slices.Reverse(order)
		}
		for _, w := range []string{"e2e", "array", "cli", "held"} {
			if w == "array" && *arrayJobs == 0 {
				continue
			}
			for _, s := range order {
				if _, base := s.(*baseCLI); base && w != "cli" && w != "held" {
					continue // the same server: only the CLI differs
				}
				rate, n, d := runWorkload(b, s, w)
				res[key{w, s.name()}] = append(res[key{w, s.name()}], rate)
				fmt.Printf("round %d  %-5s  %-9s  %7.1f /s  (%d in %s)  load %s\n", round, w, s.name(), rate, n, d.Round(time.Millisecond), loadAvg())
			}
		}
	}
	startup := hyperfine(b, ib, sl)

	var t strings.Builder
	fmt.Fprintf(&t, "\nibex vs Slurm 22.05, %d nodes (%d leaves x %d) each, both up for the whole run, %d round(s), workloads in turn\n",
		*leaves**perLeaf, *leaves, *perLeaf, *rounds)
	fmt.Fprintf(&t, "Slurm: select/linear, topology/tree, SchedulerParameters=%s\n", *schedParams)
	fmt.Fprintf(&t, "%-48s | %22s | %22s | %12s | %s\n", "workload", "ibex (median, range)", "Slurm (median, range)", "ibex/Slurm", "goal (#17)")
	rows := []struct{ w, label, goal string }{
		{"e2e", fmt.Sprintf("end-to-end tiny jobs/s, %d CLI submits, %d loops", *jobs, *loops), "≥ 1,000 jobs/s"},
		{"array", fmt.Sprintf("end-to-end tiny jobs/s, one array of %d", *arrayJobs), "≥ 1,000 jobs/s"},
		{"cli", "CLI submits/s, one process each, 1 loop", "≥ 1.5× sbatch"},
		{"held", "CLI submits/s, as above, jobs held (-H)", "≥ 1.5× sbatch"},
	}
	for _, r := range rows {
		i, s := res[key{r.w, "ibex"}], res[key{r.w, "slurm"}]
		if len(i) == 0 || len(s) == 0 {
			continue
		}
		fmt.Fprintf(&t, "%-48s | %s | %s | %11.2f× | %s\n", r.label, medRange(i), medRange(s), median(i)/median(s), r.goal)
		b.ReportMetric(median(i), r.w+"-ibex/s")
		b.ReportMetric(median(s), r.w+"-slurm/s")
		if old := res[key{r.w, "ibex-base"}]; len(old) > 0 {
			fmt.Fprintf(&t, "%-48s | %s | %22s | %11.2f× | this CLI %.2f× the earlier one\n", "  the same, earlier CLI (-base-bin)", medRange(old), "", median(old)/median(s), median(i)/median(old))
			b.ReportMetric(median(old), r.w+"-ibex-base/s")
		}
	}
	fmt.Fprintf(&t, "start-up (hyperfine, %d runs, median; mean ± σ), load %s:", *hfRuns, loadAvg())
	for _, c := range startup {
		fmt.Fprintf(&t, "\n  %-24s %5.2f ms  (%.2f ± %.2f)", c.name, c.median, c.mean, c.sd)
	}
	if len(startup) >= 4 {
		fmt.Fprintf(&t, "\n  ibex --help / empty Go program %.2f×, --version %.2f× (goal ≤ 2×); ibex --help / sbatch --version %.2f× (medians)",
			startup[0].median/startup[3].median, startup[1].median/startup[3].median, startup[0].median/startup[2].median)
	}
	if len(startup) == 6 {
		fmt.Fprintf(&t, "\n  earlier CLI: ibex --help / empty Go program %.2f×; this CLI's --help / the earlier one's %.2f×, --version %.2f× (medians)",
			startup[4].median/startup[3].median, startup[0].median/startup[4].median, startup[1].median/startup[5].median)
	}
	t.WriteString("\n(goals are goals, not assertions)\n")
	fmt.Print(t.String())
}

// runWorkload runs workload w on s and returns its rate, the count behind
// it and the time taken.
func runWorkload(b *testing.B, s system, w string) (float64, int, time.Duration) {
	waitDrained(b, s)
	before := s.completed()
	var n int
	start := time.Now()
	var d time.Duration
	switch w {
	case "e2e":
		n = *jobs
		submitLoops(b, s, n, *loops, false)
		waitDrained(b, s)
		d = time.Since(start)
	case "array":
		n = *arrayJobs
		run(b, s.submitCmd(n, false))
		waitDrained(b, s)
		d = time.Since(start)
	case "cli":
		n = *submits
		submitLoops(b, s, n, 1, false)
		d = time.Since(start)
		waitDrained(b, s)
	case "held":
		n = *submits
		submitLoops(b, s, n, 1, true)
		d = time.Since(start)
		s.cancelAll()
		waitDrained(b, s)
		return float64(n) / d.Seconds(), n, d
	}
	if got := s.completed() - before; got != n {
		b.Logf("%s %s: %d of %d jobs completed successfully (the rate counts all %d)", s.name(), w, got, n, n)
	}
	return float64(n) / d.Seconds(), n, d
}

// submitLoops runs n submit processes from k concurrent loops.
func submitLoops(b *testing.B, s system, n, k int, held bool) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if out, err := s.submitCmd(0, held).CombinedOutput(); err != nil {
					failed.Store(fmt.Sprintf("%s submit: %v: %s", s.name(), err, out))
					return
				}
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f != nil {
		b.Fatal(f)
	}
}

func run(b *testing.B, cmd *exec.Cmd) {
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("%s: %v: %s", strings.Join(cmd.Args, " "), err, out)
	}
}

func waitDrained(b *testing.B, s system) {
	deadline := time.Now().Add(10 * time.Minute)
	for !s.drained() {
		if time.Now().After(deadline) {
			b.Fatalf("%s: jobs still queued after 10 minutes", s.name())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// --- Slurm side ---

type slurmSide struct{ s *slurm }

func (*slurmSide) name() string { return "slurm" }

func (x *slurmSide) submitCmd(array int, held bool) *exec.Cmd {
	args := []string{"--parsable", "-o", "/dev/null", "-e", "/dev/null", "--exclusive", "-N", "1"}
	if held {
		args = append(args, "-H")
	}
	if array > 0 {
		args = append(args, fmt.Sprintf("--array=1-%d", array))
	}
	cmd := exec.Command(x.s.bin("sbatch"), append(args, "--wrap", "true")...)
	cmd.Env = x.s.env
	cmd.Dir = filepath.Join(x.s.base, "work")
	return cmd
}

func (x *slurmSide) drained() bool { return x.s.drained() }

func (x *slurmSide) cancelAll() {
	if err := x.s.run("scancel", "-Q", "--user=root"); err != nil {
		x.s.b.Fatal(err)
	}
}

// completed counts slurmctld's "WEXITSTATUS 0" lines: without accounting
// storage, its log is where a successful end is recorded.
func (x *slurmSide) completed() int {
	log, _ := os.ReadFile(filepath.Join(x.s.base, "log", "slurmctld.log"))
	return strings.Count(string(log), "WEXITSTATUS 0\n")
}

// --- ibex side ---

// ibexd is one `ibexd --dev` with its simulated agents, and the
// environment the ibex CLI needs to reach it.
type ibexd struct {
	b      *testing.B
	dir    string
	cmd    *exec.Cmd
	log    *execrun.Buffer
	client *client.Client
	env    []string
}

func (*ibexd) name() string { return "ibex" }

func (d *ibexd) submitCmd(array int, held bool) *exec.Cmd {
	args := []string{"submit", "-N", "1"}
	if held {
		args = append(args, "-H")
	}
	if array > 0 {
		args = append(args, "--array", fmt.Sprintf("1-%d", array))
	}
	cmd := exec.Command(cliBin, append(args, "--", "true")...)
	cmd.Env = d.env
	cmd.Dir = filepath.Join(d.dir, "work")
	return cmd
}

func (d *ibexd) drained() bool {
	r, err := d.client.Jobs.List(d.client.Context(context.Background()), &pb.ListJobsRequest{PageSize: 1})
	return err == nil && len(r.Jobs) == 0
}

func (d *ibexd) cancelAll() {
	ctx := d.client.Context(context.Background())
	var after uint64
	for {
		r, err := d.client.Jobs.List(ctx, &pb.ListJobsRequest{PageSize: 5000, AfterId: after})
		if err != nil {
			d.b.Fatal(err)
		}
		for _, j := range r.Jobs {
			if _, err := d.client.Jobs.Cancel(ctx, &pb.CancelRequest{JobId: j.Id}); err != nil {
				d.b.Fatalf("cancel job %d: %v", j.Id, err)
			}
		}
		if r.NextAfterId == 0 {
			return
		}
		after = r.NextAfterId
	}
}

func (d *ibexd) completed() int {
	done := 0
	var after uint64
	for {
		r, err := d.client.Jobs.List(d.client.Context(context.Background()), &pb.ListJobsRequest{States: []string{"completed"}, PageSize: 5000, AfterId: after})
		if err != nil {
			d.b.Fatal(err)
		}
		done += len(r.Jobs)
		if r.NextAfterId == 0 {
			return done
		}
		after = r.NextAfterId
	}
}

func startIbexd(b *testing.B) *ibexd {
	dir, err := os.MkdirTemp("", "ibex-vsslurm-ibexd-")
	if err != nil {
		b.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	if err := os.Mkdir(filepath.Join(dir, "work"), 0o777); err != nil {
		b.Fatal(err)
	}
	os.Chmod(filepath.Join(dir, "work"), 0o777)
	token := fmt.Sprintf("ibex_bench_admin_%d", time.Now().UnixNano())
	if err := os.WriteFile(filepath.Join(dir, "admin.token"), []byte(token+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	api, raftAddr := testcluster.FreeAddr(b), testcluster.FreeAddr(b)
	// A one-server --peers list makes ibexd write its cluster CA next to
	// the admin token, where the CLI takes its pin from.
	args := []string{"--dev", "--node-id", "s1", "--data-dir", filepath.Join(dir, "data"),
		"--peers", "s1=" + raftAddr + "=" + api,
		"--listen", api, "--raft-addr", raftAddr, "--http", "",
		"--admin-token-file", filepath.Join(dir, "admin.token"),
		// --dev writes a CLI config; in our directory, not the user's.
		"--cli-config", filepath.Join(dir, "cli-config.json"),
		"--leaves", fmt.Sprint(*leaves), "--nodes-per-leaf", fmt.Sprint(*perLeaf), "--log-level", "warn",
		"--agent-listen", testcluster.FreeAddr(b), "--gossip-bind", testcluster.FreeAddr(b)}
	d := &ibexd{b: b, dir: dir, log: &execrun.Buffer{}}
	d.cmd = exec.Command(filepath.Join(binDir, "ibexd"), args...)
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
	d.env = append(os.Environ(), "IBEX_ADDR="+api, "IBEX_TOKEN="+token, "IBEX_CA_PIN="+pin,
		"IBEX_CONFIG="+filepath.Join(dir, "no-config.yaml"))
	d.waitReady()
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

// waitReady waits until every simulated node is ready.
func (d *ibexd) waitReady() {
	want := *leaves * *perLeaf
	start := time.Now()
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
		if ready == want {
			fmt.Printf("ibex: %d nodes ready %s after start (%s)\n", want, time.Since(start).Round(100*time.Millisecond), d.dir)
			return
		}
		if time.Since(start) > 3*time.Minute {
			d.stop()
			d.b.Fatalf("ibex: %d of %d nodes ready after 3 minutes (err %v):\n%s", ready, want, err, d.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop ends ibexd by its PID and removes its files, including what the
// simulated jobs left under /var/tmp and in cgroups.
func (d *ibexd) stop() {
	if d.client != nil {
		d.client.Close()
	}
	if d.cmd != nil {
		execrun.Stop(d.cmd, syscall.SIGTERM, 30*time.Second)
		d.cmd = nil
	}
	simnode.RemoveIsolation(filepath.Join(d.dir, "data-nodes"))
	os.RemoveAll(d.dir)
}

// baseCLI is the same ibexd driven by an earlier build of the CLI
// (-base-bin), to compare CLIs in the same run.
type baseCLI struct {
	*ibexd
	bin string
}

func (*baseCLI) name() string { return "ibex-base" }

func (x *baseCLI) submitCmd(array int, held bool) *exec.Cmd {
	cmd := x.ibexd.submitCmd(array, held)
	cmd.Path, cmd.Args[0] = x.bin, x.bin
	return cmd
}

// --- start-up ---

type startupResult struct {
	name             string
	median, mean, sd float64 // ms
	command          string
}

// hyperfine times the start-up of the CLIs and of an empty Go program
// built here, without a shell (-N), after warm-up runs.
func hyperfine(b *testing.B, d *ibexd, sl *slurm) []startupResult {
	empty := filepath.Join(binDir, "empty")
	src := filepath.Join(binDir, "empty.go")
	if err := os.WriteFile(src, []byte("package main\n\nfunc main() {}\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	run(b, exec.Command("go", "build", "-o", empty, src))
	empty = timedCopy(b, empty, "empty")
	sbatch, _ := lookPath("sbatch")
	ibex := cliBin
	cmds := []startupResult{
		{name: "ibex --help", command: ibex + " --help"},
		{name: "ibex --version", command: ibex + " --version"},
		{name: "sbatch --version", command: sbatch + " --version"},
		{name: "empty Go program", command: empty},
	}
	if *baseBin != "" {
		base := baseCLIBin
		cmds = append(cmds, startupResult{name: "earlier ibex --help", command: base + " --help"},
			startupResult{name: "earlier ibex --version", command: base + " --version"})
	}
	out := filepath.Join(binDir, "hyperfine.json")
	args := []string{"-N", "--warmup", "20", "--runs", fmt.Sprint(*hfRuns), "--export-json", out}
	for _, c := range cmds {
		args = append(args, c.command)
	}
	cmd := exec.Command("hyperfine", args...)
	cmd.Env = append(d.env, "SLURM_CONF="+sl.conf) // sbatch reads slurm.conf even for --version
	run(b, cmd)
	raw, err := os.ReadFile(out)
	if err != nil {
		b.Fatal(err)
	}
	var r struct {
		Results []struct {
			Median float64 `json:"median"`
			Mean   float64 `json:"mean"`
			Stddev float64 `json:"stddev"`
		} `json:"results"`
	}
	if err := json.Unmarshal(raw, &r); err != nil || len(r.Results) != len(cmds) {
		b.Fatalf("hyperfine's JSON: %v (%d results)", err, len(r.Results))
	}
	for i := range cmds {
		cmds[i].median, cmds[i].mean, cmds[i].sd = r.Results[i].Median*1000, r.Results[i].Mean*1000, r.Results[i].Stddev*1000
	}
	return cmds
}

// loadAvg is the machine's 1, 5 and 15 minute load averages, or "?".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

func medRange(xs []float64) string {
	return fmt.Sprintf("%7.1f (%6.1f-%6.1f)", median(xs), slices.Min(xs), slices.Max(xs))
}

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
