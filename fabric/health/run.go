package health

import (
	"context"
	"sync"

	"github.com/ibex-hpc/ibex/internal/execrun"
)

// RunFunc runs an infiniband-diags tool and returns its stdout. It is
// the seam between the collectors and the fabric: execrun.Run on the SM
// host (the tools talk to the local HCA), ibsim.Fabric.Run in tests
// (which also caps concurrent tools below ibsim's ten client slots), a
// fake in unit tests.
type RunFunc = execrun.Func

func orExec(r RunFunc) RunFunc {
	if r == nil {
		return execrun.Run
	}
	return r
}

// forEach calls fn for each index with at most par calls at once. On
// ibsim, par must stay below its ten client slots minus opensm (Fabric.Run
// enforces that anyway); on real fabrics it bounds the MAD load on the
// management plane.
func forEach(ctx context.Context, n, par int, fn func(i int)) {
	if par <= 0 {
		par = 4
	}
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(i)
		}()
	}
	wg.Wait()
}
