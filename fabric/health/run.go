package health

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"sync"
)

// RunFunc runs an infiniband-diags tool and returns its stdout. It is
// the seam between the collectors and the fabric: ExecRun on the SM
// host, ibsim.Fabric.Run in tests (which also caps concurrent tools
// below ibsim's ten client slots), a fake in unit tests.
type RunFunc func(ctx context.Context, name string, args ...string) ([]byte, error)

// ExecRun runs the tool from $PATH against the local HCA.
func ExecRun(ctx context.Context, name string, args ...string) ([]byte, error) {
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("%s %v: %v: %s", name, args, err, bytes.TrimSpace(errb.Bytes()))
	}
	return out.Bytes(), nil
}

func (r RunFunc) orExec() RunFunc {
	if r == nil {
		return ExecRun
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
