package route_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/fabric/ibsim"
	"github.com/ibex-hpc/ibex/fabric/route"
)

// TestRandomAllocations: on random fat trees, isolated jobs allocated by
// the scheduler's rule (scheduler/links.go: the same max n_i free planes
// at each of the job's leaves) get tables that (1) always reach every
// port from every switch and (2) pass Check whenever Compute reports no
// conflict, and (3) a route crosses a cable it should not only when every
// plane is held, by a job other than the destination's, at the source
// leaf or at the destination's leaf (for the job's own traffic: unless
// the job holds it at both).
func TestRandomAllocations(t *testing.T) {
	for seed := uint64(0); seed < 200; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		top := ibsim.Topology{Spines: 2 + rng.IntN(3), Leaves: 2 + rng.IntN(4), HostsPerLeaf: 2 + rng.IntN(3), Uplinks: 1 + rng.IntN(2)}
		f := simFabric(t, top)
		if lmc := seed % 3; lmc > 0 {
			// Multi-LID ports (OpenSM's lmc): every LID routed and checked.
			for _, e := range f.Ends {
				e.LMC = uint8(lmc)
			}
			f.AssignLIDs()
		}
		planes := top.Spines * max(top.Uplinks, 1)
		type plane struct{ s, k int }
		var all []plane
		for s := 1; s <= top.Spines; s++ {
			for k := 1; k <= max(top.Uplinks, 1); k++ {
				all = append(all, plane{s, k})
			}
		}
		heldAt := map[int]map[plane]bool{}
		holder := map[int]map[plane]int{}
		freeHosts := map[int][]int{}
		for l := 1; l <= top.Leaves; l++ {
			heldAt[l] = map[plane]bool{}
			holder[l] = map[plane]int{}
			for h := 1; h <= top.HostsPerLeaf; h++ {
				freeHosts[l] = append(freeHosts[l], (l-1)*top.HostsPerLeaf+h)
			}
		}
		var jobs []route.Job
		for try := 0; try < 6; try++ {
			leaves := rng.Perm(top.Leaves)[:2+rng.IntN(top.Leaves-1)]
			share := map[int]int{}
			m := 0
			ok := true
			for _, l0 := range leaves {
				l := l0 + 1
				if len(freeHosts[l]) == 0 {
					ok = false
					break
				}
				share[l] = 1 + rng.IntN(len(freeHosts[l]))
				m = max(m, share[l])
			}
			if !ok || m > planes {
				continue
			}
			var common []plane
			for _, p := range all {
				free := true
				for l := range share {
					free = free && !heldAt[l][p]
				}
				if free {
					common = append(common, p)
				}
			}
			if len(common) < m {
				continue
			}
			j := route.Job{ID: fmt.Sprint(len(jobs))}
			for l, n := range share {
				j.Ports = append(j.Ports, hostGUIDs(freeHosts[l][:n])...)
				freeHosts[l] = freeHosts[l][n:]
				for _, p := range common[:m] {
					heldAt[l][p] = true
					holder[l][p] = len(jobs)
					name := fmt.Sprintf("leaf%02d>spine%02d", l, p.s)
					if p.k > 1 {
						name += fmt.Sprintf("#%d", p.k)
					}
					c, err := f.ResolveLink(name)
					if err != nil {
						t.Fatal(err)
					}
					j.Cables = append(j.Cables, c)
				}
			}
			jobs = append(jobs, j)
		}
		tb, conflicts, err := route.Compute(f, jobs)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		v := route.Check(f, jobs, tb)
		for _, x := range v {
			if strings.Contains(x.Problem, "no route") || strings.Contains(x.Problem, "loop") || strings.Contains(x.Problem, "want port") {
				t.Fatalf("seed %d %+v: %v", seed, top, x)
			}
		}
		if len(conflicts) == 0 && len(v) > 0 {
			t.Fatalf("seed %d %+v: no conflict reported but the check finds %v", seed, top, v[0])
		}
		jobOf := map[uint64]int{}
		jobLeaf := map[int]map[int]bool{}
		for i, j := range jobs {
			jobLeaf[i] = map[int]bool{}
			for _, g := range j.Ports {
				jobOf[g] = i
				jobLeaf[i][leafOf(f, g)] = true
			}
		}
		for _, x := range v {
			var from int
			fmt.Sscanf(x.From, "leaf%d", &from)
			e := endNamed(f, x.To)
			to := leafOf(f, e.GUID)
			J, inJob := jobOf[e.GUID]
			if !inJob {
				J = -1
			}
			usable := func(l int, p plane) bool {
				if J >= 0 && jobLeaf[J][from] && len(jobs[J].Cables) > 0 {
					return heldAt[l][p] && holder[l][p] == J
				}
				return !heldAt[l][p] || holder[l][p] == J
			}
			for _, p := range all {
				if usable(from, p) && usable(to, p) {
					t.Fatalf("seed %d %+v: plane %v was usable, yet %v", seed, top, p, x)
				}
			}
		}
	}
}

func leafOf(f *route.Fabric, g uint64) int {
	var l int
	fmt.Sscanf(f.End(g).Switch.Name, "leaf%d", &l)
	return l
}

func endNamed(f *route.Fabric, name string) *route.End {
	name, _, _ = strings.Cut(name, " (LID ") // a port's further LIDs
	for _, e := range f.Ends {
		if e.Name == name {
			return e
		}
	}
	return nil
}

func hostGUIDs(hs []int) []uint64 {
	var out []uint64
	for _, h := range hs {
		out = append(out, ibsim.HostPortGUID(h))
	}
	return out
}
