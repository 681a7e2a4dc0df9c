package opensm

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/ibsim"
	"github.com/ibex-hpc/ibex/fabric/sm"
)

// BenchmarkApplyVerified measures Apply from call to verified: render,
// validate, atomic write, SIGHUP, OpenSM's heavy sweep, and reading
// back every host's P_Key table until all match. Each iteration moves
// every host to a new partition key, so all hosts are verified.
//
//	go test ./fabric/sm/opensm -run XXX -bench ApplyVerified -benchtime 5x
//
// reader=direct reads tables over ibsim's client protocol (one
// attached client, ~0.1 ms per SMP); reader=smpquery runs one
// smpquery per port, as on real hardware.
func BenchmarkApplyVerified(b *testing.B) {
	for _, top := range []ibsim.Topology{
		{Spines: 2, Leaves: 4, HostsPerLeaf: 8},    // 32 hosts
		{Spines: 18, Leaves: 36, HostsPerLeaf: 18}, // 648 hosts
	} {
		for _, rd := range []struct {
			name string
			new  func(*ibsim.Fabric) PKeyReader
		}{
			{"direct", directReader},
			{"smpquery", func(f *ibsim.Fabric) PKeyReader { return &SMPQuery{Run: f.Run, Parallel: 4} }},
		} {
			b.Run(fmt.Sprintf("hosts=%d/reader=%s", top.NumHosts(), rd.name), func(b *testing.B) {
				if rd.name == "smpquery" && top.NumHosts() > 100 && os.Getenv("IBEX_BENCH_SLOW") == "" {
					b.Skip("~27 s per Apply (one smpquery process per port); set IBEX_BENCH_SLOW=1")
				}
				benchApply(b, top, rd.new)
			})
		}
	}
}

func benchApply(b *testing.B, top ibsim.Topology, reader func(*ibsim.Fabric) PKeyReader) {
	f, d := startFabric(b, top, reader)
	sets := [2][]sm.Partition{}
	for s := range sets {
		for i := 0; i*8 < top.NumHosts(); i++ {
			sets[s] = append(sets[s], sm.Partition{
				Name:    fmt.Sprintf("alloc%d-%d", s, i),
				PKey:    sm.PKey(0x100*(s+1) + i),
				Members: nodes(i*8+1, min(i*8+8, top.NumHosts())),
			})
		}
	}
	ctx := context.Background()
	var verify time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := d.Apply(ctx, sets[i%2]); err != nil {
			b.Fatal(err)
		}
		st := d.LastStats()
		if st.Checked != top.NumHosts() {
			b.Fatalf("verified %d ports, want %d", st.Checked, top.NumHosts())
		}
		verify += st.Verify
	}
	b.StopTimer()
	per := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(per.Microseconds())/1000, "ms/apply")
	fmt.Printf("apply->verified hosts=%d %s: %.1f ms per Apply (SIGHUP->all tables verified %.1f ms), %d Apply(s)\n",
		top.NumHosts(), b.Name(), float64(per.Microseconds())/1000,
		float64((verify/time.Duration(b.N)).Microseconds())/1000, b.N)
	_ = f
}

// BenchmarkReadPKeys compares the two ways to read tables back: one
// attached ibsim client sending SMPs, and one smpquery per port.
func BenchmarkReadPKeys(b *testing.B) {
	for _, c := range []struct {
		top    ibsim.Topology
		reader string
	}{
		{ibsim.Topology{Spines: 18, Leaves: 36, HostsPerLeaf: 18}, "direct"},
		{ibsim.Topology{Spines: 2, Leaves: 4, HostsPerLeaf: 8}, "direct"},
		{ibsim.Topology{Spines: 2, Leaves: 4, HostsPerLeaf: 8}, "smpquery"},
	} {
		b.Run(fmt.Sprintf("hosts=%d/reader=%s", c.top.NumHosts(), c.reader), func(b *testing.B) {
			rd := directReader
			if c.reader == "smpquery" {
				rd = func(f *ibsim.Fabric) PKeyReader { return &SMPQuery{Run: f.Run, Parallel: 4} }
			}
			f, d := startFabric(b, c.top, rd)
			hosts := hostGUIDs(f)
			ctx := context.Background()
			if _, err := d.Observe(ctx, hosts[:1]); err != nil { // warm up (LID discovery)
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				got, err := d.Observe(ctx, hosts)
				if err != nil || len(got) != len(hosts) {
					b.Fatalf("%d/%d: %v", len(got), len(hosts), err)
				}
			}
			per := b.Elapsed() / time.Duration(b.N*len(hosts))
			b.ReportMetric(float64(per.Microseconds())/1000, "ms/port")
			fmt.Printf("read P_Key tables %s: %.3f ms per port\n", b.Name(), float64(per.Microseconds())/1000)
		})
	}
}
