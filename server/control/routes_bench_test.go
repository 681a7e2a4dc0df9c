package control

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/ibsim"
	"github.com/ibex-hpc/ibex/fabric/pkeypool"
	"github.com/ibex-hpc/ibex/fabric/sm"
	"github.com/ibex-hpc/ibex/fabric/sm/opensm"
	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// BenchmarkRoutesDriftPass is the routes loop's periodic pass (nothing
// changed: the tables are rewritten only if they drifted) on real OpenSM
// under ibsim, 2 spines x 60 leaves x 2 hosts, with one isolated job:
// discover the fabric, compute, confirm the switches hold the tables, check
// them. Reports the switches' table reads (dump_fts runs) per pass.
func BenchmarkRoutesDriftPass(b *testing.B) {
	fat := topology.FatTree{Spines: 2, Leaves: 60, NodesPerLeaf: 2}
	var reads atomic.Int64
	initial, err := opensm.Render(nil, sm.TenantIsolation)
	if err != nil {
		b.Fatal(err)
	}
	fab := ibsim.StartForTest(b, ibsim.Config{Topology: ibsim.Topology{Spines: fat.Spines, Leaves: fat.Leaves, HostsPerLeaf: fat.NodesPerLeaf},
		Partitions: initial, FileRouting: true})
	d, err := opensm.New(opensm.Config{PartitionsFile: fab.PartitionsFile, Rules: sm.TenantIsolation,
		Reload: func(context.Context) error { return fab.ReloadSM() }, Reader: opensm.ReaderFunc(fab.Tables), Logf: func(string, ...any) {},
		VerifyTimeout: 2 * time.Minute,
		Routes: &opensm.RoutesConfig{LFTsFile: fab.LFTsFile,
			ReadLFTs: func(ctx context.Context) ([]byte, error) { reads.Add(1); return fab.Run(ctx, "dump_fts") },
			Discover: func(ctx context.Context) ([]byte, error) { return fab.Run(ctx, "ibnetdiscover") }}})
	if err != nil {
		b.Fatal(err)
	}
	// The harness helpers take a *testing.T; a setup failure there ends
	// this goroutine, and the benchmark reports no result.
	t := &testing.T{}
	h := newHarnessOn(t, pkeypool.Pool{}, true, fat)
	for i := 5; i <= fat.Leaves*fat.NodesPerLeaf; i++ {
		h.apply(&fsm.DrainNode{Node: fmt.Sprintf("node%03d", i), Reason: "bench", Time: h.store.Now()})
	}
	isolatedAcrossLeaves(t, h)
	r := newRoutes(h.loops.cfg, d)
	ctx := context.Background()
	if st := r.reconcile(ctx); st.Err != "" || !st.Loaded {
		b.Fatalf("first pass: %+v", st)
	}
	reads.Store(0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.mu.Lock()
		r.tried = time.Time{}
		r.mu.Unlock()
		if st := r.reconcile(ctx); st.Err != "" || !st.Loaded || len(st.Violations) > 0 {
			b.Fatalf("pass: %+v", st)
		}
	}
	b.ReportMetric(float64(reads.Load())/float64(b.N), "reads/pass")
}
