package health

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/ibsim"
)

// BenchmarkStateSources measures, on the 2x4x8 ibsim fabric, what each
// source of link state costs: one `ibnetdiscover -p` (every port), one
// `smpquery portinfo` (one port), one `perfquery` (one port), and a
// whole Collector round. It prints the cost of covering every switch-side
// port with smpquery, the alternative to ibnetdiscover -p.
//
//	go test ./fabric/health -run '^$' -bench StateSources -benchtime 20x
func BenchmarkStateSources(b *testing.B) {
	f := ibsim.StartForTest(b, ibsim.Config{Topology: ibsim.Topology{Spines: 2, Leaves: 4, HostsPerLeaf: 8}})
	ctx := context.Background()
	links, err := (&IBNetDiscover{Run: f.Run}).Discover(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var sw []PortAddr
	lids := map[uint16]bool{}
	for _, l := range links {
		for _, e := range []End{l.A, l.B} {
			lids[e.LID] = true
			if e.Switch() {
				sw = append(sw, addr(e))
			}
		}
	}
	per := map[string]time.Duration{}
	one := func(name string, fn func(i int) error) {
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if err := fn(i); err != nil {
					b.Fatal(err)
				}
			}
			per[name] = b.Elapsed() / time.Duration(b.N)
			b.ReportMetric(float64(per[name].Microseconds())/1000, "ms/op")
		})
	}
	one("ibnetdiscover-p", func(int) error { _, err := f.Run(ctx, "ibnetdiscover", "-p"); return err })
	one("smpquery-portinfo", func(i int) error {
		p := sw[i%len(sw)]
		_, err := f.Run(ctx, "smpquery", "portinfo", strconv.Itoa(int(p.LID)), strconv.Itoa(p.ID.Port))
		return err
	})
	one("perfquery", func(i int) error {
		p := sw[i%len(sw)]
		_, err := f.Run(ctx, "perfquery", strconv.Itoa(int(p.LID)), strconv.Itoa(p.ID.Port))
		return err
	})
	c := &Collector{Discover: &IBNetDiscover{Run: f.Run}, Counters: &PerfQuery{Run: f.Run, Parallel: 4}, States: &SMPQuery{Run: f.Run, Parallel: 4}}
	c.Collect(ctx) // first round asks every switch port's state
	one("collect-round", func(int) error {
		if s := c.Collect(ctx); s.DiscoverErr != nil || len(s.CounterErrs) > 0 {
			return fmt.Errorf("%v %v", s.DiscoverErr, s.CounterErrs)
		}
		return nil
	})
	if per["ibnetdiscover-p"] > 0 && per["smpquery-portinfo"] > 0 {
		fmt.Printf("link state on ibsim 2x4x8 (%d links, %d switch ports): ibnetdiscover -p %.1f ms for all; smpquery portinfo %.1f ms per port = %.0f ms serial for all switch ports (%.0fx); perfquery %.1f ms per port; one Collector round (%d ports in %d perfquery processes, 4 at a time) %.0f ms\n",
			len(links), len(sw), ms(per["ibnetdiscover-p"]), ms(per["smpquery-portinfo"]),
			ms(per["smpquery-portinfo"])*float64(len(sw)), float64(per["smpquery-portinfo"])*float64(len(sw))/float64(per["ibnetdiscover-p"]),
			ms(per["perfquery"]), 2*len(links), len(lids), ms(per["collect-round"]))
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
