package route_test

import (
	"fmt"
	"testing"

	"github.com/ibex-hpc/ibex/fabric/ibsim"
	"github.com/ibex-hpc/ibex/fabric/route"
)

// BenchmarkCompute: tables for a 648-host fat tree (18 spines, 36 leaves
// of 18) with 12 isolated jobs of 3 leaves x 6 nodes holding 6 planes
// each, and the check of the result. Goal: well under the 0.3-0.5 s an
// OpenSM heavy sweep takes on this fabric (shared/tools/ibsim/README).
func BenchmarkCompute(b *testing.B) {
	t := &testing.T{}
	f := simFabric(t, ibsim.Topology{Spines: 18, Leaves: 36, HostsPerLeaf: 18})
	var jobs []route.Job
	for j := 0; j < 12; j++ {
		job := route.Job{ID: fmt.Sprint(j)}
		for l := 0; l < 3; l++ {
			leaf := 3*j + l + 1
			for h := 0; h < 6; h++ {
				job.Ports = append(job.Ports, ibsim.HostPortGUID((leaf-1)*18+h+1))
			}
			for p := 0; p < 6; p++ {
				c, err := f.ResolveLink(fmt.Sprintf("leaf%02d>spine%02d", leaf, p+1))
				if err != nil {
					b.Fatal(err)
				}
				job.Cables = append(job.Cables, c)
			}
		}
		jobs = append(jobs, job)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tb, conflicts, err := route.Compute(f, jobs)
		if err != nil || len(conflicts) > 0 {
			b.Fatal(err, conflicts)
		}
		if v := route.Check(f, jobs, tb); len(v) > 0 {
			b.Fatal(v[0])
		}
	}
}
