// Command ibex-trace replays Standard Workload Format traces through ibex's
// scheduler in virtual time and compares policies: utilization, waits,
// bounded slowdown, makespan and leaf switches spanned per job.
//
//	ibex-trace testdata/swf/KTH-SP2-1996-2.1-cln.swf.gz testdata/swf/lublin_256.swf
//	ibex-trace --json --policies easy,ibex --leaf-size 8 trace.swf
//	ibex-trace --why --stream 20      # 20 synthetic streams, pooled, with the misses by job size
//	ibex-trace --fabric ibnetdiscover.out trace.swf   # on a real topology's compute hosts
//	ibex-trace --isolation links trace.swf    # every policy with and without link isolation
//	ibex-trace --policies easy,ibex --sweep backfill-wait-factor=0.5,1,2 --stream 20   # a trade-off curve
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/ibex-hpc/ibex/bench/trace"
	"github.com/ibex-hpc/ibex/internal/version"
	"github.com/ibex-hpc/ibex/scheduler"
)

func main() {
	var (
		opt      trace.Options
		policies = flag.String("policies", "firstfit,fcfs,easy,ibex-spread,ibex,ibex-aligned,ibex-sized,ibex-slowdown", "comma-separated policies: firstfit, fcfs, easy, ibex-spread, ibex, ibex-aligned, ibex-sized, ibex-slowdown")
		asJSON   = flag.Bool("json", false, "print JSON (one object per trace, in an array) instead of tables")
		showVer  = flag.Bool("version", false, "print the version and exit")
		stream   = flag.Int("stream", 0, "also replay synthetic streams with these seeds 1..N (200 jobs of 1-32 nodes on 4x16 nodes at 90% load, 20% with --switches=LB@30s)")
		why      = flag.Bool("why", false, "also print, per policy and job size, the misses of the leaf lower bound and their reasons")
		fabric   = flag.String("fabric", "", "replay on this ibnetdiscover dump's compute hosts (classified as `ibex fabric import` does) instead of a synthetic tree; excludes --nodes, --leaf-size and --pod-leaves; synthetic --stream runs keep their own tree")
	)
	flag.IntVar(&opt.Nodes, "nodes", 0, "cluster nodes (0: the trace header's MaxNodes/MaxProcs)")
	flag.IntVar(&opt.LeafSize, "leaf-size", 16, "nodes per leaf switch")
	flag.IntVar(&opt.LeavesPerPod, "pod-leaves", 0, "leaves per pod for a three-level fat tree (0: leaf/spine)")
	flag.IntVar(&opt.ProcsPerNode, "procs-per-node", 1, "SWF processors per node: a job of P processors gets ceil(P/this) nodes")
	isolation := flag.String("isolation", "none", "links: also replay every policy with every multi-node job link-isolated (POLICY+links rows)")
	var sweeps sweepFlag
	flag.Var(&sweeps, "sweep", "KNOB=V1,V2,...: also replay the last of --policies with KNOB at each value (repeat for a grid), for a trade-off curve; KNOB: "+knobList())
	flag.DurationVar(&opt.SwitchWait, "switch-wait", 0, "give multi-node jobs --switches=ceil(N/leaf)@this (0: no switch limit)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: ibex-trace [flags] trace.swf[.gz]...\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *showVer {
		fmt.Println("ibex-trace version", version.String())
		return
	}
	if flag.NArg() == 0 && *stream <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	iso, err := scheduler.ParseIsolation(*isolation)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ibex-trace:", err)
		os.Exit(2)
	}
	opt.Isolation = iso
	if *fabric != "" {
		for _, name := range []string{"nodes", "leaf-size", "pod-leaves"} {
			if flagSet(name) {
				fmt.Fprintf(os.Stderr, "ibex-trace: --%s does not apply with --fabric: the fabric has its own hosts, leaves and pods\n", name)
				os.Exit(2)
			}
		}
		f, err := trace.LoadFabric(*fabric)
		if err != nil {
			fmt.Fprintln(os.Stderr, "ibex-trace:", err)
			os.Exit(1)
		}
		for _, w := range f.Warnings {
			fmt.Fprintf(os.Stderr, "ibex-trace: %s: warning: %s\n", *fabric, w)
		}
		opt.Fabric, opt.LeafSize = f, 0
	}
	for _, name := range strings.Split(*policies, ",") {
		p, err := scheduler.PolicyByName(strings.TrimSpace(name))
		if err != nil {
			fmt.Fprintln(os.Stderr, "ibex-trace:", err)
			os.Exit(2)
		}
		opt.Policies = append(opt.Policies, p)
	}
	if len(sweeps) > 0 {
		extra, err := trace.SweepPolicies(opt.Policies[len(opt.Policies)-1], sweeps)
		if err != nil {
			fmt.Fprintln(os.Stderr, "ibex-trace:", err)
			os.Exit(2)
		}
		opt.Policies = append(opt.Policies, extra...)
	}
	var reps []*trace.Report
	print := func(rep *trace.Report) {
		if *asJSON {
			reps = append(reps, rep)
			return
		}
		if len(reps) > 0 {
			fmt.Println()
		}
		reps = append(reps, rep)
		err := trace.WriteTable(os.Stdout, rep)
		if err == nil && *why {
			err = trace.WriteMisses(os.Stdout, rep)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "ibex-trace:", err)
			os.Exit(1)
		}
	}
	for _, path := range flag.Args() {
		rep, err := trace.RunFile(path, opt)
		if err != nil {
			fmt.Fprintln(os.Stderr, "ibex-trace:", err)
			os.Exit(1)
		}
		print(rep)
	}
	if *stream > 0 {
		var streams []*trace.Report
		for seed := 1; seed <= *stream; seed++ {
			rep, err := trace.RunStream(trace.DefaultStream(uint64(seed)), opt)
			if err != nil {
				fmt.Fprintln(os.Stderr, "ibex-trace:", err)
				os.Exit(1)
			}
			streams = append(streams, rep)
		}
		if *stream == 1 {
			print(streams[0])
		} else {
			print(trace.Pool(streams))
		}
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(reps); err != nil {
			fmt.Fprintln(os.Stderr, "ibex-trace:", err)
			os.Exit(1)
		}
	}
}

// flagSet says whether the named flag was given on the command line.
func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// sweepFlag collects --sweep flags.
type sweepFlag []trace.Sweep

func (s *sweepFlag) String() string { return fmt.Sprint(len(*s), " sweeps") }

func (s *sweepFlag) Set(v string) error {
	sw, err := trace.ParseSweep(v)
	if err != nil {
		return err
	}
	*s = append(*s, sw)
	return nil
}

func knobList() string {
	var out []string
	for _, k := range trace.Knobs {
		out = append(out, k.Name+" ("+k.Doc+")")
	}
	return strings.Join(out, "; ")
}
