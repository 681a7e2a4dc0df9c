// Package partition benchmarks the time from "allocation committed" (the
// desired partition set changed) to "partition verified on the fabric"
// with the real OpenSM driver against ibsim + OpenSM, and counts the
// subnet-manager reconfigurations a burst of allocations costs.
//
//	go test ./bench/partition -run '^$' -bench . -benchtime 3x -timeout 30m
//
// Every size also measures its own baseline in the same run: the bare
// SIGHUP -> P_Keys written time of OpenSM (file written by hand, no
// render/validate/verify logic), so the printed lines say what ibex adds.
//
// The 4,096-host fabric (32x128x32) is not gated: on 2 shared cores it
// starts in 6-7 s and its part of the run above took ~77 s of the 90 s
// total (measured 2026-11-27), under the couple of minutes that would
// justify an opt-in. Use -bench 'hosts=(32|648)$' to leave it out.
package partition

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/ibsim"
	"github.com/ibex-hpc/ibex/fabric/sm"
	"github.com/ibex-hpc/ibex/fabric/sm/opensm"
)

// sizes are the fabrics benchmarked.
var sizes = []ibsim.Topology{
	{Spines: 2, Leaves: 4, HostsPerLeaf: 8},     // 32 hosts
	{Spines: 18, Leaves: 36, HostsPerLeaf: 18},  // 648 hosts
	{Spines: 32, Leaves: 128, HostsPerLeaf: 32}, // 4,096 hosts
}

// large fabrics get longer timeouts (start, sweeps).
func large(top ibsim.Topology) bool { return top.NumHosts() > 1000 }

// rig is one running fabric with its driver, shared by every benchmark
// (and every b.N round) of the same size: starting 648 hosts costs a
// second, 4,096 hosts about 7 s plus 5 baseline sweeps.
type rig struct {
	f        *ibsim.Fabric
	d        *opensm.Driver
	started  time.Duration
	baseline time.Duration // bare SIGHUP -> P_Keys written
	keySeq   int
}

var (
	rigsMu sync.Mutex
	rigs   = map[ibsim.Topology]*rig{}
)

func TestMain(m *testing.M) {
	code := m.Run()
	rigsMu.Lock()
	for _, r := range rigs {
		r.f.Stop()
	}
	rigsMu.Unlock()
	os.Exit(code)
}

// getRig starts (once) a fabric whose SM already runs ibex's default
// rules, and measures its baseline.
func getRig(b *testing.B, top ibsim.Topology) *rig {
	b.Helper()
	if err := ibsim.Available(); err != nil {
		b.Skipf("SKIP (no simulated fabric): %v", err)
	}
	rigsMu.Lock()
	defer rigsMu.Unlock()
	if r := rigs[top]; r != nil {
		return r
	}
	initial, err := opensm.Render(nil, sm.TenantIsolation)
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	f, err := ibsim.Start(context.Background(), ibsim.Config{Topology: top, Partitions: initial, Timeout: 20 * time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	r := &rig{f: f, started: time.Since(t0), keySeq: 0x100}
	r.d, err = opensm.New(opensm.Config{
		PartitionsFile: f.PartitionsFile,
		Rules:          sm.TenantIsolation,
		Reload:         func(context.Context) error { return f.ReloadSM() },
		Reader:         directReader(f),
		VerifyTimeout:  10 * time.Minute,
		ResignalAfter:  verifyResignal(top),
	})
	if err != nil {
		f.Stop()
		b.Fatal(err)
	}
	rigs[top] = r
	var base []time.Duration
	for i := 0; i < baselineRuns; i++ {
		d, err := r.measureBaseline(i)
		if err != nil {
			b.Fatal(err)
		}
		base = append(base, d)
	}
	slices.Sort(base)
	r.baseline = base[len(base)/2]
	fmt.Printf("fabric %d hosts (%dx%dx%d): started in %v; baseline SIGHUP -> P_Keys written on 8 ports: median %v of %v\n",
		top.NumHosts(), top.Spines, top.Leaves, top.HostsPerLeaf, r.started.Round(time.Millisecond), r.baseline.Round(time.Millisecond), base)
	return r
}

// baselineRuns: the baseline is a median, like the measurements it is
// compared with (one heavy sweep varies by tens of percent on 2 cores).
const baselineRuns = 5

// verifyResignal scales the driver's re-SIGHUP delay with the fabric: a
// heavy sweep of 4,096 hosts takes longer than the default 5 s, and a
// second SIGHUP would only queue another sweep.
func verifyResignal(top ibsim.Topology) time.Duration {
	if large(top) {
		return 2 * time.Minute
	}
	return 5 * time.Second
}

// directReader reads P_Key tables over ibsim's own client protocol
// (~0.1 ms per port), the same reader fabric/sm/opensm's tests build.
func directReader(f *ibsim.Fabric) opensm.PKeyReader { return opensm.ReaderFunc(f.Tables) }

// measureBaseline writes a partitions.conf with one new 8-host partition
// by hand, SIGHUPs opensm and polls the 8 ports (every 10 ms, like the
// driver) until they hold the key: what OpenSM itself needs, with none
// of the driver's work. The file is then what the driver would render
// for that set, so the driver continues from it.
func (r *rig) measureBaseline(slot int) (time.Duration, error) {
	p := r.alloc(slot)
	conf, err := opensm.Render([]sm.Partition{p}, sm.TenantIsolation)
	if err != nil {
		return 0, err
	}
	tmp := filepath.Join(filepath.Dir(r.f.PartitionsFile), ".baseline.tmp")
	if err := os.WriteFile(tmp, conf, 0o644); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp, r.f.PartitionsFile); err != nil {
		return 0, err
	}
	want := sm.MakeEntry(p.PKey, sm.Full)
	ports := make([]uint64, len(p.Members))
	for i, m := range p.Members {
		ports[i] = uint64(m.GUID)
	}
	t0 := time.Now()
	if err := r.f.ReloadSM(); err != nil {
		return 0, err
	}
	for time.Since(t0) < 10*time.Minute {
		tabs, _ := r.f.PKeyTables(context.Background(), ports)
		ok := len(tabs) == len(ports)
		for _, t := range tabs {
			ok = ok && sm.NewTable(t...).Has(want)
		}
		if ok {
			return time.Since(t0), nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0, fmt.Errorf("baseline: ports never got %s", want)
}

// alloc returns a new allocation (partition with a fresh key) on 8 hosts
// starting at slot (slots of 8 hosts, wrapping around the fabric).
func (r *rig) alloc(slot int) sm.Partition {
	r.keySeq++
	return allocOn(r.f.Topology, slot, 8, sm.PKey(r.keySeq))
}

// allocOn makes a partition of n consecutive hosts starting at host
// slot*n+1 (wrapping), all full members.
func allocOn(top ibsim.Topology, slot, n int, key sm.PKey) sm.Partition {
	p := sm.Partition{Name: fmt.Sprintf("job%d", key), PKey: key}
	h := top.NumHosts()
	for i := 0; i < n; i++ {
		idx := (slot*n+i)%h + 1
		p.Members = append(p.Members, sm.Member{GUID: sm.GUID(ibsim.HostPortGUID(idx)), Membership: sm.Full})
	}
	return p
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
