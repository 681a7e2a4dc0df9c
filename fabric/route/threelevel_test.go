package route_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/fabric/route"
)

// tree3 is a three-level fat tree: pods of leaves under their own
// spines, spine j of every pod cabled to the cores of group j.
type tree3 struct {
	pods, leaves, spines, cores, hosts int // leaves and spines per pod, cores per spine group, hosts per leaf

	f      *route.Fabric
	leaf   [][]*route.Switch // [pod][l]
	spine  [][]*route.Switch // [pod][j]
	core   [][]*route.Switch // [j][c]
	host   [][][]*route.End  // [pod][l][h]
	leafOf map[uint64][2]int // port GUID -> pod, leaf
}

func build3(t *testing.T, sh tree3) *tree3 {
	t.Helper()
	g := uint64(0x1000)
	next := func() uint64 { g++; return g }
	sw := func(name string, level, ports int) *route.Switch {
		return &route.Switch{GUID: next(), Name: name, Level: level, Ports: make([]route.Peer, ports+1)}
	}
	cable := func(a *route.Switch, pa int, b *route.Switch, pb int) {
		a.Ports[pa] = route.Peer{Switch: b, Port: pb}
		b.Ports[pb] = route.Peer{Switch: a, Port: pa}
	}
	var all []*route.Switch
	var ends []*route.End
	sh.leafOf = map[uint64][2]int{}
	sh.core = make([][]*route.Switch, sh.spines)
	for j := range sh.spines {
		for c := range sh.cores {
			s := sw(fmt.Sprintf("core%d.%d", j+1, c+1), 3, sh.pods)
			sh.core[j] = append(sh.core[j], s)
			all = append(all, s)
		}
	}
	for p := range sh.pods {
		sh.leaf = append(sh.leaf, nil)
		sh.spine = append(sh.spine, nil)
		sh.host = append(sh.host, nil)
		for j := range sh.spines {
			s := sw(fmt.Sprintf("p%d-spine%d", p+1, j+1), 2, sh.leaves+sh.cores)
			sh.spine[p] = append(sh.spine[p], s)
			all = append(all, s)
			for c := range sh.cores {
				cable(s, sh.leaves+c+1, sh.core[j][c], p+1)
			}
		}
		for l := range sh.leaves {
			s := sw(fmt.Sprintf("p%d-leaf%d", p+1, l+1), 1, sh.hosts+sh.spines)
			sh.leaf[p] = append(sh.leaf[p], s)
			all = append(all, s)
			for j := range sh.spines {
				cable(s, sh.hosts+j+1, sh.spine[p][j], l+1)
			}
			var hs []*route.End
			for h := range sh.hosts {
				e := &route.End{GUID: next(), Name: fmt.Sprintf("p%dl%dh%d HCA-1", p+1, l+1, h+1), Switch: s, SwitchPort: h + 1}
				s.Ports[h+1] = route.Peer{End: e}
				hs = append(hs, e)
				ends = append(ends, e)
				sh.leafOf[e.GUID] = [2]int{p, l}
			}
			sh.host[p] = append(sh.host[p], hs)
		}
	}
	f, err := route.New(all, ends)
	if err != nil {
		t.Fatal(err)
	}
	f.AssignLIDs()
	sh.f = f
	return &sh
}

// upCable is the cable from leaf (p,l) to spine j; coreCable from spine
// (p,j) to core (j,c): each named by its lower end.
func (sh *tree3) upCable(p, l, j int) route.Cable {
	return route.Cable{Switch: sh.leaf[p][l].GUID, Port: sh.hosts + j + 1}
}

func (sh *tree3) coreCable(p, j, c int) route.Cable {
	return route.Cable{Switch: sh.spine[p][j].GUID, Port: sh.leaves + c + 1}
}

// TestRandomAllocationsThreeLevels is TestRandomAllocations on random
// three-level fat trees, with isolated jobs that span pods: a job picks
// m = max n_i planes (j, c) with distinct spines j, free at every one of
// its leaves (the cable to spine j) and, when it spans pods, at spine j of
// every one of its pods (the cable to core c); it holds all of them. The
// tables must (1) reach every port from every switch, (2) pass Check
// whenever Compute reports no conflict, (3) cross a cable they should
// not only when no plane was usable for that flow, (4) keep every flow
// inside a job on the job's cables: Check finds no such violation ever,
// since the job's own planes are always usable, and (5) take no
// up-down-up detour: every route is as short as the tree allows.
func TestRandomAllocationsThreeLevels(t *testing.T) {
	crossPod, conflicted := 0, 0
	for seed := uint64(0); seed < 150; seed++ {
		rng := rand.New(rand.NewPCG(seed, 11))
		sh := build3(t, tree3{pods: 2 + rng.IntN(2), leaves: 2 + rng.IntN(2), spines: 2 + rng.IntN(2), cores: 1 + rng.IntN(2), hosts: 1 + rng.IntN(3)})
		f := sh.f
		held := map[route.Cable]int{} // cable -> job index
		free := map[[2]int][]*route.End{}
		for p := range sh.pods {
			for l := range sh.leaves {
				free[[2]int{p, l}] = sh.host[p][l]
			}
		}
		var jobs []route.Job
		for try := 0; try < 6; try++ {
			var leaves [][2]int
			for _, i := range rng.Perm(sh.pods * sh.leaves)[:2+rng.IntN(3)] {
				leaves = append(leaves, [2]int{i / sh.leaves, i % sh.leaves})
			}
			share := map[[2]int]int{}
			pods := map[int]bool{}
			m, ok := 0, true
			for _, pl := range leaves {
				if len(free[pl]) == 0 {
					ok = false
					break
				}
				share[pl] = 1 + rng.IntN(len(free[pl]))
				m = max(m, share[pl])
				pods[pl[0]] = true
			}
			if !ok || m > sh.spines {
				continue
			}
			// Planes (j, c) usable by the job: a spine j free at every leaf,
			// with a core c free at spine j of every pod (cross-pod only).
			type plane struct{ j, c int }
			var planes []plane
			for j := range sh.spines {
				if rng.IntN(4) == 0 {
					continue // not always the first spines
				}
				freeUp := true
				for pl := range share {
					_, h := held[sh.upCable(pl[0], pl[1], j)]
					freeUp = freeUp && !h
				}
				if !freeUp {
					continue
				}
				if len(pods) == 1 {
					planes = append(planes, plane{j, -1})
					continue
				}
				for _, c := range rng.Perm(sh.cores) {
					freeCore := true
					for p := range pods {
						_, h := held[sh.coreCable(p, j, c)]
						freeCore = freeCore && !h
					}
					if freeCore {
						planes = append(planes, plane{j, c})
						break
					}
				}
			}
			if len(planes) < m {
				continue
			}
			if len(pods) > 1 {
				crossPod++
			}
			id := len(jobs)
			j := route.Job{ID: fmt.Sprint(id)}
			for pl, n := range share {
				for _, e := range free[pl][:n] {
					j.Ports = append(j.Ports, e.GUID)
				}
				free[pl] = free[pl][n:]
				for _, pn := range planes[:m] {
					c := sh.upCable(pl[0], pl[1], pn.j)
					held[c] = id
					j.Cables = append(j.Cables, c)
				}
			}
			for p := range pods {
				for _, pn := range planes[:m] {
					if pn.c >= 0 {
						c := sh.coreCable(p, pn.j, pn.c)
						held[c] = id
						j.Cables = append(j.Cables, c)
					}
				}
			}
			jobs = append(jobs, j)
		}
		tb, conflicts, err := route.Compute(f, jobs)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if len(conflicts) > 0 {
			conflicted++
		}
		v := route.Check(f, jobs, tb)
		for _, x := range v {
			if strings.Contains(x.Problem, "no route") || strings.Contains(x.Problem, "loop") || strings.Contains(x.Problem, "want port") {
				t.Fatalf("seed %d %+v: %v", seed, sh, x)
			}
			if strings.Contains(x.Problem, "traffic inside isolated job") {
				t.Fatalf("seed %d: a job's own flow leaves its cables: %v", seed, x)
			}
		}
		if len(conflicts) == 0 && len(v) > 0 {
			t.Fatalf("seed %d: no conflict reported but the check finds %v", seed, v[0])
		}
		jobOf := map[uint64]int{}
		jobLeaf := map[int]map[*route.Switch]bool{}
		for i, j := range jobs {
			jobLeaf[i] = map[*route.Switch]bool{}
			for _, g := range j.Ports {
				jobOf[g] = i
				jobLeaf[i][f.End(g).Switch] = true
			}
		}
		// (3): for a violating flow from leaf (pa,la) to e on (pb,lb), no
		// plane has every cable usable by it.
		for _, x := range v {
			src := [2]int{-1, -1}
			for p := range sh.pods {
				for l := range sh.leaves {
					if sh.leaf[p][l].Name == x.From {
						src = [2]int{p, l}
					}
				}
			}
			e := endNamed(f, x.To)
			dst := sh.leafOf[e.GUID]
			J, inJob := jobOf[e.GUID]
			if !inJob {
				J = -1
			}
			own := J >= 0 && jobLeaf[J][sh.leaf[src[0]][src[1]]] && len(jobs[J].Cables) > 0
			usable := func(c route.Cable) bool {
				h, isHeld := held[c]
				if own {
					return isHeld && h == J
				}
				return !isHeld || h == J
			}
			for j := range sh.spines {
				ok := usable(sh.upCable(src[0], src[1], j)) && usable(sh.upCable(dst[0], dst[1], j))
				if ok && src[0] != dst[0] {
					any := false
					for c := range sh.cores {
						any = any || (usable(sh.coreCable(src[0], j, c)) && usable(sh.coreCable(dst[0], j, c)))
					}
					ok = any
				}
				if ok {
					t.Fatalf("seed %d: spine %d was usable, yet %v", seed, j+1, x)
				}
			}
		}
		// (5): minimum hops: 2 cables inside a pod, 4 across.
		for p := range sh.pods {
			for l := range sh.leaves {
				for _, e := range f.Ends {
					if e.Switch == sh.leaf[p][l] {
						continue
					}
					want := 2
					if sh.leafOf[e.GUID][0] != p {
						want = 4
					}
					if path := route.Trace(f, tb, sh.leaf[p][l], e); len(path.Cables) != want {
						t.Fatalf("seed %d: %s -> %s crosses %d cables, want %d (an up-down-up detour?)", seed, sh.leaf[p][l].Name, e.Name, len(path.Cables), want)
					}
				}
			}
		}
	}
	t.Logf("%d jobs spanning pods; %d of 150 fabrics with a conflict", crossPod, conflicted)
	if crossPod < 50 {
		t.Errorf("only %d cross-pod jobs: the test no longer exercises the spine-to-core cables", crossPod)
	}
}
