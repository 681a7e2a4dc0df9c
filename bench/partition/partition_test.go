package partition

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/sm"
)

// BenchmarkAllocationToVerified measures one desired-set change, as the
// leader makes it when an allocation is committed, until the driver has
// read every affected port's new P_Key table back from the fabric:
// render, validate, atomic write, SIGHUP, OpenSM's heavy sweep, verify.
// Each change adds one 8-host allocation; once half the fabric's 8-host
// slots (at most 32) are in use, the oldest allocation is released in
// the same change, as at steady state (16 ports to verify).
func BenchmarkAllocationToVerified(b *testing.B) {
	for _, top := range sizes {
		b.Run(fmt.Sprintf("hosts=%d", top.NumHosts()), func(b *testing.B) {
			r := getRig(b, top)
			ctx := context.Background()
			keep := min(top.NumHosts()/8/2, 32)
			var active []sm.Partition
			slot := 0
			next := func() []sm.Partition {
				slot++
				active = append(active, r.alloc(slot))
				if len(active) > keep {
					active = active[1:]
				}
				return slices.Clone(active)
			}
			// Warm up: fill the steady state, untimed.
			for len(active) < keep {
				next()
			}
			if err := r.d.Apply(ctx, active); err != nil {
				b.Fatal(err)
			}
			var lat []time.Duration
			var sumVerify time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				desired := next()
				b.StartTimer()
				t0 := time.Now()
				if err := r.d.Apply(ctx, desired); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
				st := r.d.LastStats()
				if !st.Written || st.Checked == 0 {
					b.Fatalf("change not applied: %+v", st)
				}
				sumVerify += st.Verify
			}
			b.StopTimer()
			slices.Sort(lat)
			med := lat[len(lat)/2]
			b.ReportMetric(ms(med), "ms/alloc(median)")
			st := r.d.LastStats()
			fmt.Printf("allocation -> verified, %d hosts: median %.0f ms (min %.0f, max %.0f, %d changes, %d ports verified each) vs baseline SIGHUP -> P_Keys written %.0f ms on the same fabric (x%.2f); last change: render %.1f ms, validate %.1f ms, write %.1f ms, SIGHUP+verify %.0f ms, %d SIGHUP(s), %d table reads\n",
				top.NumHosts(), ms(med), ms(lat[0]), ms(lat[len(lat)-1]), len(lat), st.Checked,
				ms(r.baseline), float64(med)/float64(r.baseline),
				ms(st.Render), ms(st.Validate), ms(st.Write), ms(st.Verify), st.Signals, st.Reads)
		})
	}
}

// countingDriver sums the driver's per-Apply stats: the driver keeps
// only the last Apply's (LastStats), the burst needs all of them.
type countingDriver struct {
	r *rig

	mu                    sync.Mutex
	applies, writes, hups int
	firstLen, lastLen     int
}

func (c *countingDriver) Apply(ctx context.Context, desired []sm.Partition) error {
	err := c.r.d.Apply(ctx, desired)
	st := c.r.d.LastStats()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.applies++
	if st.Written {
		c.writes++
	}
	c.hups += st.Signals
	if c.applies == 1 {
		c.firstLen = len(desired)
	}
	c.lastLen = len(desired)
	return err
}

func (c *countingDriver) Observe(ctx context.Context, ports []sm.GUID) (map[sm.GUID]sm.Table, error) {
	return c.r.d.Observe(ctx, ports)
}

// BenchmarkBurst100 commits 100 allocations at once, each caller handing
// the complete desired set (as of its commit) to one sm.Coalescer, and
// counts the subnet-manager reconfigurations (partitions.conf rewrites +
// SIGHUPs) it cost. Without coalescing it would be 100 of each.
func BenchmarkBurst100(b *testing.B) {
	for _, top := range sizes {
		if top.NumHosts() < 600 {
			continue // 100 disjoint allocations need at least 600 hosts
		}
		b.Run(fmt.Sprintf("hosts=%d", top.NumHosts()), func(b *testing.B) {
			r := getRig(b, top)
			ctx := context.Background()
			per := min(top.NumHosts()/100, 8)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				if err := r.d.Apply(ctx, nil); err != nil { // start from no allocations
					b.Fatal(err)
				}
				allocs := make([]sm.Partition, 100)
				for k := range allocs {
					r.keySeq++
					allocs[k] = allocOn(top, k, per, sm.PKey(r.keySeq))
				}
				cd := &countingDriver{r: r}
				co := &sm.Coalescer{D: cd}
				var mu sync.Mutex
				var committed []sm.Partition
				start := make(chan struct{})
				var wg sync.WaitGroup
				errs := make(chan error, 100)
				for k := range allocs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						mu.Lock()
						committed = append(committed, allocs[k])
						snap := slices.Clone(committed)
						mu.Unlock()
						errs <- co.Apply(ctx, snap)
					}()
				}
				b.StartTimer()
				t0 := time.Now()
				close(start)
				wg.Wait()
				took := time.Since(t0)
				b.StopTimer()
				close(errs)
				for err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
				note := ""
				if cd.lastLen != 100 {
					// The Coalescer keeps the snapshot that arrived last,
					// not the newest one: two callers racing between
					// taking their snapshot and calling Apply can leave an
					// older set applied. Repair and say so.
					note = fmt.Sprintf("; WARNING: last applied set had %d allocations (snapshot race), repaired", cd.lastLen)
					if err := r.d.Apply(ctx, allocs); err != nil {
						b.Fatal(err)
					}
				}
				verifyAll(b, r, allocs)
				fmt.Printf("100 allocations -> %d reconfigurations (%d partitions.conf rewrites + %d SIGHUPs) in %d driver Applies (first carried %d allocation(s), last %d); all verified in %.0f ms, %d hosts (baseline SIGHUP -> P_Keys written %.0f ms)%s\n",
					cd.writes+cd.hups, cd.writes, cd.hups, cd.applies, cd.firstLen, cd.lastLen, ms(took), top.NumHosts(), ms(r.baseline), note)
				b.ReportMetric(float64(cd.writes+cd.hups), "reconfigs/100allocs")
			}
		})
	}
}

// verifyAll reads every member port back and compares with the tables
// the 100 allocations imply.
func verifyAll(b *testing.B, r *rig, allocs []sm.Partition) {
	b.Helper()
	ports := sm.MemberGUIDs(allocs)
	got, err := r.d.Observe(context.Background(), ports)
	if err != nil {
		b.Fatal(err)
	}
	want := sm.Expected(allocs, sm.TenantIsolation, ports)
	for _, g := range ports {
		if !got[g].Equal(want[g]) {
			b.Fatalf("port %s: fabric has %v, want %v", g, got[g], want[g])
		}
	}
}
