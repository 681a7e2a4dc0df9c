// Package provision measures the orchestration throughput of provisioning
// cycles through the real path (issue #14.8): one ibex server in this
// process with raft on disk, its gRPC API, and N simulated nodes (512 by
// default: 16 leaves of 32) whose power is a Redfish BMC (redfishmock over
// HTTP, driven by the leader through gofish) and whose operating system is
// the real node agent on mutual TLS (nodeagent/simnode with Config.Power).
// One cycle is one node's deployment of a job's image through its BMC
// (one-time PXE boot and power cycle into the ramdisk, the agent writes
// and verifies the image, boot to disk, check-in with the image's digest),
// the job (`true`), and its cleaning (stop, erase, firmware) back to
// available. Each round submits one one-node job per node, every job with
// an image the nodes do not carry, so every cycle rewrites.
//
//	make bench-provision
//	go test ./bench/provision -run '^$' -bench . -benchtime 1x -timeout 30m -args -rounds 3
//
// The simulated hardware takes (almost) no time: a 256 KiB disk, a 64 KiB
// image from a local file, power switched at once. What it does take is
// measured and taken out: from every node's ledger, the BMC calls of each
// step (their evidence says how long they took; they include stopping and
// starting the node's in-process agent), each boot (the power cycle's
// commit to the agent's check-in, when later), each agent task (the
// Started/Finished of its evidence) and the job's run. The rest of a
// cycle's time, from the job's submission to its node's cleaned entry, is
// ibex itself: raft commits, the loops' pacing, scheduling, dispatch, and,
// in a round where every node cycles at once, its queues (at most 64 BMC
// operations in flight, one raft log) and the CPU it shares with the
// simulation. -latency-cycles cycles run one at a time afterwards give a
// cycle's own wait on ibex without the queues.
//
// The BMC calls are the real Redfish client (gofish) against the mock,
// both in this process, so their time is the hardware's only in part.
//
// Nothing is asserted against a time; the printed table is the baseline.
package provision

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ibex-hpc/ibex/client"
	"github.com/ibex-hpc/ibex/fabric/ibsim"
	"github.com/ibex-hpc/ibex/fabric/sm"
	"github.com/ibex-hpc/ibex/fabric/sm/simsm"
	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/internal/testcluster"
	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/nodeagent/simnode"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/server"
	"github.com/ibex-hpc/ibex/server/control"
	"github.com/ibex-hpc/ibex/server/fabricview"
)

var (
	rounds  = flag.Int("rounds", 2, "rounds: one cycle on every node each")
	leaves  = flag.Int("leaves", 16, "simulated fabric: leaf switches")
	perLeaf = flag.Int("nodes-per-leaf", 32, "simulated fabric: nodes per leaf (512 nodes by default)")
	verbose = flag.Bool("log", false, "the server's and agents' warnings on stderr")
	single  = flag.Int("latency-cycles", 5, "after the rounds, cycles run one at a time on the otherwise idle cluster: a cycle's own wait on ibex, without the queue of a full round")
)

// seedCyclesPerSecond is the seed's reference provider: 60,000
// provisioning cycles a month (30 days).
const seedCyclesPerSecond = 60000.0 / (30 * 24 * 3600)

const (
	diskSize  = 256 << 10
	imageSize = 64 << 10
	clients   = 32
)

type bench struct {
	srv   *server.Server
	fleet *simnode.Fleet
	cl    *client.Client
	ctx   context.Context
	stop  func()
}

func start(b *testing.B, dir string) *bench {
	b.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if *verbose {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	// No gossip: liveness is not on a provisioning cycle's path, and 512
	// encrypted memberlist members in one process (ibexd --dev's timings)
	// thrash a shared 2-core machine into agents flapping down and up.
	// Without it a simulated power-off is instant (an agent otherwise
	// leaves the pool first, 1-2 s).
	cfg := server.Config{DataDir: filepath.Join(dir, "data"), Bootstrap: true, Simulate: true,
		Listen: testcluster.FreeAddr(b), RaftAddr: testcluster.FreeAddr(b),
		AgentListen: testcluster.FreeAddr(b),
		Fabric:      topology.FatTree{Spines: 2, Leaves: *leaves, NodesPerLeaf: *perLeaf}, Logger: log}
	var specs []simnode.Spec
	var guids []sm.GUID
	for i, h := range cfg.Fabric.Hosts() {
		g := sm.GUID(ibsim.HostPortGUID(i + 1))
		cfg.Hosts = append(cfg.Hosts, fabricview.Host{Host: h, Ports: []sm.GUID{g}})
		specs = append(specs, simnode.Spec{Name: h.Name, Ports: []sm.GUID{g}})
		guids = append(guids, g)
	}
	fleet, err := simnode.NewFleet(simnode.Config{Root: filepath.Join(dir, "nodes"), Servers: []string{cfg.AgentListen},
		DiskSize: diskSize, Power: true, Logger: log}, specs)
	if err != nil {
		b.Fatal(err)
	}
	cfg.SM = &simnode.Mirror{Driver: simsm.New(guids, sm.TenantIsolation), Nodes: fleet, Ports: fleet.Ports(), Log: log}
	pin := simnode.Pin()
	cfg.FirmwarePins = []control.FirmwarePin{{PSID: pin.PSID, Version: pin.Version, SHA256: pin.SHA256, File: pin.File}}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.Start(ctx, cfg)
	if err != nil {
		cancel()
		b.Fatal(err)
	}
	cl, err := client.New(srv.Addr(), srv.AdminToken, client.WithCAPin(srv.CAPin()))
	if err != nil {
		b.Fatal(err)
	}
	fleet.Start(ctx, simnode.AdminAPI{Client: cl})
	done := make(chan struct{})
	go func() { defer close(done); srv.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			<-done
			fleet.Wait()
			cl.Close()
			srv.Stop()
		})
	}
	b.Cleanup(stop)
	t0 := time.Now()
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Minute)
	defer wcancel()
	if err := fleet.WaitEnrolled(wctx); err != nil {
		b.Fatal(err)
	}
	bmcs, err := fleet.ServeBMCs(ctx, func(int, *simnode.Node) string { return "127.0.0.1:0" })
	if err != nil {
		b.Fatal(err)
	}
	actx := cl.Context(context.Background())
	for _, m := range bmcs {
		pass, err := simnode.BMCPassword(filepath.Join(dir, "nodes"), m.Node.Name)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := cl.Nodes.SetBMC(actx, &pb.SetBMCRequest{Node: m.Node.Name, Endpoint: m.Endpoint, Username: simnode.BMCUser, Password: pass}); err != nil {
			b.Fatal(err)
		}
	}
	bn := &bench{srv: srv, fleet: fleet, cl: cl, ctx: actx, stop: stop}
	bn.waitAvailable(b, 10*time.Minute)
	fmt.Fprintf(os.Stderr, "%d nodes enrolled, BMCs registered, inspected and cleaned in %s\n", len(fleet.Nodes), time.Since(t0).Round(time.Millisecond))
	return bn
}

// waitAvailable waits until every node is available with its agent connected.
func (bn *bench) waitAvailable(b *testing.B, d time.Duration) {
	b.Helper()
	deadline := time.Now().Add(d)
	for {
		r, err := bn.cl.Nodes.List(bn.ctx, &pb.ListNodesRequest{})
		if err == nil {
			busy := map[string]int{}
			for _, n := range r.Nodes {
				if n.Provision != "available" {
					busy[n.Provision]++
				}
			}
			if len(busy) == 0 {
				return
			}
			if time.Now().After(deadline) {
				b.Fatalf("nodes not available after %s: %v", d, busy)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// addImage writes a random image and adds it to the catalog.
func (bn *bench) addImage(b *testing.B, dir, name string) {
	b.Helper()
	data := make([]byte, imageSize)
	for i := range data {
		data[i] = byte(i*7 + len(name))
	}
	copy(data, name)
	path := filepath.Join(dir, name+".img")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256(data)
	_, _, bs, blocks, err := model.HashImage(bytes.NewReader(data), imageSize, imageSize)
	if err != nil {
		b.Fatal(err)
	}
	n, v, _ := strings.Cut(name, ":")
	if _, err := bn.cl.Fleet.AddImage(bn.ctx, &pb.Image{Name: n, Version: v, Size: imageSize, Sha256: hex.EncodeToString(sum[:]), SourceUrl: "file://" + path,
		BlockSize: uint64(bs), BlockSha256: blocks}); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkProvisionCycles runs -rounds rounds of one cycle per node and
// prints cycles/s against the seed's 60,000 a month, and where a cycle's
// time goes.
func BenchmarkProvisionCycles(b *testing.B) {
	dir := b.TempDir()
	bn := start(b, dir)
	images := []string{"alma:8", "rocky:9"}
	for _, img := range images {
		bn.addImage(b, dir, img)
	}
	b.ResetTimer()
	var all []cycle
	var rates []float64
	for range b.N {
		for r := range *rounds {
			img := images[r%len(images)]
			t0 := time.Now()
			ids := bn.submitAll(b, img, len(bn.fleet.Nodes))
			bn.waitDone(b, ids)
			bn.waitAvailable(b, 10*time.Minute)
			el := time.Since(t0)
			rate := float64(len(ids)) / el.Seconds()
			rates = append(rates, rate)
			cs := bn.cycles(b, ids)
			all = append(all, cs...)
			fmt.Fprintf(os.Stderr, "round %d (%s): %d cycles in %s: %.1f cycles/s\n", r+1, img, len(ids), el.Round(time.Millisecond), rate)
		}
	}
	b.StopTimer()
	var alone []cycle
	for i := range *single {
		ids := bn.submitAll(b, images[i%len(images)], 1)
		bn.waitDone(b, ids)
		bn.waitAvailable(b, time.Minute)
		alone = append(alone, bn.cycles(b, ids)...)
	}
	sort.Float64s(rates)
	med := rates[(len(rates)-1)/2] // the lower median: a slow spell of the shared machine is not hidden
	b.ReportMetric(med, "cycles/s")
	b.ReportMetric(med/seedCyclesPerSecond, "x-seed")
	if len(alone) > 0 {
		var ibex time.Duration
		for _, c := range alone {
			ibex += c.wall - c.hardware()
		}
		b.ReportMetric(float64((ibex / time.Duration(len(alone))).Milliseconds()), "ibex-ms/cycle-alone")
	}
	b.ReportMetric(0, "ns/op")
	report(b, all, rates, "all nodes at once")
	if len(alone) > 0 {
		report(b, alone, nil, "one cycle at a time")
	}
}

// submitAll submits n one-node jobs running `true` on image img, from
// clients concurrent clients.
func (bn *bench) submitAll(b *testing.B, img string, n int) []uint64 {
	b.Helper()
	ids := make([]uint64, n)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; i < n; i += clients {
				r, err := bn.cl.Jobs.Submit(bn.ctx, &pb.SubmitRequest{NumNodes: 1, TimeLimit: durationpb.New(10 * time.Minute),
					Argv: []string{"true"}, Name: "cycle", Image: img})
				if err != nil {
					errs <- err
					return
				}
				ids[i] = r.JobId
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	return ids
}

// waitDone waits until every job ended; each must have completed.
func (bn *bench) waitDone(b *testing.B, ids []uint64) {
	b.Helper()
	deadline := time.Now().Add(20 * time.Minute)
	for _, id := range ids {
		for {
			j, err := bn.cl.Jobs.Get(bn.ctx, &pb.GetJobRequest{JobId: id})
			if err == nil && j.State == "completed" {
				break
			}
			if err == nil && (j.State == "failed" || j.State == "cancelled" || j.State == "timeout") {
				b.Fatalf("job %d %s: %s", id, j.State, j.Reason)
			}
			if time.Now().After(deadline) {
				b.Fatalf("job %d not done: %v %v", id, j.GetState(), err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// cycle is where one node's cycle spent its time.
type cycle struct {
	wall                     time.Duration // submission to cleaned
	schedule, deploy, run    time.Duration // submit→deploy, deploy→deployed, deployed→stop
	clean                    time.Duration // stop→cleaned
	bmc, boot, tasks, jobRun time.Duration // the hardware's share
	powerCycles              int
}

func (c cycle) hardware() time.Duration { return c.bmc + c.boot + c.tasks + c.jobRun }

var (
	tookRe    = regexp.MustCompile(`BMC calls took ([0-9.]+[a-zµ]+)`)
	checkInRe = regexp.MustCompile(`checked in at (\S+)`)
)

// cycles reads the jobs and their nodes' ledgers.
func (bn *bench) cycles(b *testing.B, ids []uint64) []cycle {
	b.Helper()
	var out []cycle
	ledgers := map[string][]*pb.LedgerEntry{}
	for _, id := range ids {
		j, err := bn.cl.Jobs.Get(bn.ctx, &pb.GetJobRequest{JobId: id})
		if err != nil || len(j.Nodes) != 1 {
			b.Fatalf("job %d: %v %v", id, j.GetNodes(), err)
		}
		node := j.Nodes[0]
		l, ok := ledgers[node]
		if !ok {
			d, err := bn.cl.Fleet.NodeDetail(bn.ctx, &pb.NodeDetailRequest{Node: node})
			if err != nil {
				b.Fatal(err)
			}
			l = d.Ledger
			ledgers[node] = l
		}
		c, err := cycleOf(j, l)
		if err != nil {
			b.Fatalf("job %d on %s: %v", id, node, err)
		}
		out = append(out, c)
	}
	return out
}

// cycleOf finds job j's cycle in its node's ledger l.
func cycleOf(j *pb.Job, l []*pb.LedgerEntry) (cycle, error) {
	var c cycle
	first, last := -1, -1
	for i, e := range l {
		if e.JobId != j.Id {
			continue
		}
		if first < 0 {
			first = i
		}
		last = i
	}
	if first < 0 || l[last].Step != "cleaned" {
		return c, fmt.Errorf("no cleaned entry for the job")
	}
	at := func(step string) time.Time {
		for _, e := range l[first : last+1] {
			if e.Step == step && (e.JobId == j.Id || e.JobId == 0) {
				return e.Time.AsTime()
			}
		}
		return time.Time{}
	}
	submit, deploy, deployed, stop, cleaned := j.SubmitTime.AsTime(), at("provision:deploy"), at("provision:deployed"), at("stop"), l[last].Time.AsTime()
	if deploy.IsZero() || deployed.IsZero() || stop.IsZero() {
		return c, fmt.Errorf("cycle entries missing (deploy %v, deployed %v, stop %v)", deploy, deployed, stop)
	}
	c.wall, c.schedule, c.deploy, c.run, c.clean = cleaned.Sub(submit), deploy.Sub(submit), deployed.Sub(deploy), stop.Sub(deployed), cleaned.Sub(stop)
	c.jobRun = j.EndTime.AsTime().Sub(j.StartTime.AsTime())
	for i := first; i <= last; i++ {
		e := l[i]
		if m := tookRe.FindStringSubmatch(e.Evidence); m != nil {
			if d, err := time.ParseDuration(m[1]); err == nil {
				c.bmc += d
			}
			if strings.Contains(e.Evidence, "one-time boot") {
				c.powerCycles++
			}
		}
		if m := checkInRe.FindStringSubmatch(e.Evidence); m != nil && i > first {
			if t, err := time.Parse(time.RFC3339Nano, m[1]); err == nil {
				if d := t.Sub(l[i-1].Time.AsTime()); d > 0 {
					c.boot += d
				}
			}
		}
		if e.Actor != "ibexd" && strings.HasPrefix(e.Evidence, "{") {
			var ev struct{ Started, Finished time.Time }
			if json.Unmarshal([]byte(e.Evidence), &ev) == nil && !ev.Started.IsZero() && ev.Finished.After(ev.Started) {
				c.tasks += ev.Finished.Sub(ev.Started)
			}
		}
	}
	return c, nil
}

func report(b *testing.B, cs []cycle, rates []float64, how string) {
	if len(cs) == 0 {
		return
	}
	mean := func(f func(cycle) time.Duration) time.Duration {
		var s time.Duration
		for _, c := range cs {
			s += f(c)
		}
		return s / time.Duration(len(cs))
	}
	p := func(q float64, f func(cycle) time.Duration) time.Duration {
		v := make([]time.Duration, len(cs))
		for i, c := range cs {
			v[i] = f(c)
		}
		slices.Sort(v)
		return v[int(q*float64(len(v)-1))]
	}
	ibex := func(c cycle) time.Duration { return c.wall - c.hardware() }
	wall, hw := mean(func(c cycle) time.Duration { return c.wall }), mean(cycle.hardware)
	var w strings.Builder
	fmt.Fprintf(&w, "\nprovisioning cycles through BMCs, agents and raft, %s: %d nodes, %d cycles, %d power cycles per cycle\n",
		how, *leaves**perLeaf, len(cs), cs[0].powerCycles)
	if len(rates) > 0 {
		fmt.Fprintf(&w, "  throughput per round (cycles/s):  %s   (seed: %.3f/s = 60,000 a month; median %.0fx)\n",
			fmtRates(rates), seedCyclesPerSecond, rates[(len(rates)-1)/2]/seedCyclesPerSecond)
	}
	fmt.Fprintf(&w, "  one cycle, submission to cleaned: mean %s, p50 %s, p99 %s\n",
		wall.Round(time.Millisecond), p(.5, func(c cycle) time.Duration { return c.wall }).Round(time.Millisecond), p(.99, func(c cycle) time.Duration { return c.wall }).Round(time.Millisecond))
	fmt.Fprintf(&w, "    schedule %s, deploy %s, run %s, clean %s (means)\n",
		mean(func(c cycle) time.Duration { return c.schedule }).Round(time.Millisecond), mean(func(c cycle) time.Duration { return c.deploy }).Round(time.Millisecond),
		mean(func(c cycle) time.Duration { return c.run }).Round(time.Millisecond), mean(func(c cycle) time.Duration { return c.clean }).Round(time.Millisecond))
	fmt.Fprintf(&w, "  waiting on the simulated hardware: mean %s (BMC calls %s, boots %s, agent tasks %s, the job %s)\n",
		hw.Round(time.Millisecond), mean(func(c cycle) time.Duration { return c.bmc }).Round(time.Millisecond), mean(func(c cycle) time.Duration { return c.boot }).Round(time.Millisecond),
		mean(func(c cycle) time.Duration { return c.tasks }).Round(time.Millisecond), mean(func(c cycle) time.Duration { return c.jobRun }).Round(time.Millisecond))
	fmt.Fprintf(&w, "  waiting on ibex itself (raft, loop pacing, scheduling, dispatch, and its queues): mean %s (%.0f%% of the cycle), p50 %s, p99 %s\n",
		mean(ibex).Round(time.Millisecond), 100*float64(mean(ibex))/float64(wall), p(.5, ibex).Round(time.Millisecond), p(.99, ibex).Round(time.Millisecond))
	b.Log(w.String())
	fmt.Fprint(os.Stdout, w.String())
}

func fmtRates(rs []float64) string {
	var s []string
	for _, r := range rs {
		s = append(s, fmt.Sprintf("%.1f", r))
	}
	return strings.Join(s, ", ")
}
