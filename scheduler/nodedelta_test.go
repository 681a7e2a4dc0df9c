package scheduler

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// copyOnWrite makes s's next state the way fsm.Work's shared copies
// change: change runs on deep copies of the nodes and running jobs, and
// the next snapshot takes the copy of what changed and keeps the old
// pointer of everything else. Running stays in id order.
func copyOnWrite(s *Snapshot, change func(*Snapshot)) {
	next := *s
	next.Nodes = make([]*model.Node, len(s.Nodes))
	for i, n := range s.Nodes {
		next.Nodes[i] = n.Clone()
	}
	next.Running = make([]*model.Job, len(s.Running))
	was := map[uint64]*model.Job{}
	for i, j := range s.Running {
		next.Running[i] = j.Clone()
		was[j.ID] = j
	}
	change(&next)
	for i, n := range next.Nodes {
		if reflect.DeepEqual(n, s.Nodes[i]) {
			next.Nodes[i] = s.Nodes[i]
		}
	}
	for i, j := range next.Running {
		if old := was[j.ID]; old != nil && reflect.DeepEqual(j, old) {
			next.Running[i] = old
		}
	}
	slices.SortFunc(next.Running, func(a, b *model.Job) int { return cmp.Compare(a.ID, b.ID) })
	*s = next
}

// churn makes the changes between passes that the plan does not: a node
// drained or back, a node's image changed, a running job's limit changed.
func churn(s *Snapshot, rng *rand.Rand) {
	if n := s.Nodes[rng.IntN(len(s.Nodes))]; rng.IntN(2) == 0 {
		n.Drained = !n.Drained
	}
	if n := s.Nodes[rng.IntN(len(s.Nodes))]; rng.IntN(3) == 0 {
		n.Image = []string{"", "rocky9", "alma"}[rng.IntN(3)]
	}
	if len(s.Running) > 0 && rng.IntN(3) == 0 {
		s.Running[rng.IntN(len(s.Running))].TimeLimit += time.Duration(rng.IntN(120)) * time.Minute
	}
}

// TestNodeDeltaSamePlan: on random fabrics and queues, over a sequence of
// passes where the nodes and jobs change the way fsm.Work's copies do
// (changed ones are new pointers), a cache updated from the changes plans
// exactly what a pass without the cache plans, for every policy.
func TestNodeDeltaSamePlan(t *testing.T) {
	pols := Policies()
	hn := IbexPolicy()
	hn.Name, hn.HoldNodes = "ibex+holdnodes", true
	pols = append(pols, hn)
	rng := rand.New(rand.NewPCG(23, 7))
	var updates uint64
	for iter := range 150 {
		s := cacheSnapshot(t, rng)
		slices.SortFunc(s.Running, func(a, b *model.Job) int { return cmp.Compare(a.ID, b.ID) })
		c := &NodeCache{}
		version := uint64(1)
		now := t0
		for step := range 8 {
			if step > 0 && rng.IntN(4) != 0 {
				plan := Schedule(s, IbexPolicy(), now)
				copyOnWrite(&s, func(next *Snapshot) {
					applyPlan(next, plan, now, rng)
					churn(next, rng)
				})
				version++
			}
			now = now.Add(time.Duration(rng.IntN(240)) * time.Minute)
			for _, pol := range pols {
				want := Schedule(s, pol, now)
				cached := s
				cached.Cache, cached.NodesVersion, cached.NodesReadOnly = c, version, true
				got := Schedule(cached, pol, now)
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("iter %d step %d %s: with the updated cache\n%+v\nwithout\n%+v", iter, step, pol.Name, got, want)
				}
			}
		}
		updates += c.Updates()
	}
	if updates < 100 {
		t.Fatalf("%d updates in 150 sequences: the update was hardly exercised", updates)
	}
	t.Logf("%d updates", updates)
}

// TestNodeDeltaSeesChanges: an update redoes exactly what changed. After
// each kind of change (a node drained, a job ended and its nodes cleaning,
// a job's limit moved, a node's image), the updated base equals a fresh
// load of the same snapshot, release lists compared as sets.
func TestNodeDeltaSeesChanges(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 2))
	updated := 0
	for iter := range 200 {
		s := cacheSnapshot(t, rng)
		slices.SortFunc(s.Running, func(a, b *model.Job) int { return cmp.Compare(a.ID, b.ID) })
		b := loadNodes(s.Tree, &s, true)
		if b.track == nil {
			t.Fatalf("iter %d: a snapshot in id order with unique names is not tracked", iter)
		}
		for step := range 5 {
			copyOnWrite(&s, func(next *Snapshot) {
				applyPlan(next, Plan{}, t0, rng) // ends a running job
				churn(next, rng)
			})
			if !b.update(s.Tree, &s) {
				b = loadNodes(s.Tree, &s, true) // a changed job held uplinks
				continue
			}
			updated++
			want := loadNodes(s.Tree, &s, true)
			if d := baseDiff(b, want); d != "" {
				t.Fatalf("iter %d step %d: updated base differs from a load: %s", iter, step, d)
			}
		}
	}
	if updated < 500 {
		t.Fatalf("%d of 1000 changes updated the base", updated)
	}
}

// TestNodeDeltaStaleShows: the comparisons above can fail. A node changed
// in place (breaking the read-only promise) is not seen by the update, and
// the base then differs from a load.
func TestNodeDeltaStaleShows(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 3))
	differ := 0
	for range 50 {
		s := cacheSnapshot(t, rng)
		slices.SortFunc(s.Running, func(a, b *model.Job) int { return cmp.Compare(a.ID, b.ID) })
		b := loadNodes(s.Tree, &s, true)
		for _, n := range s.Nodes {
			if n.Schedulable() {
				n.Drained = true // in place: the same pointer
				break
			}
		}
		if !b.update(s.Tree, &s) {
			t.Fatal("an update with nothing changed, as far as pointers show, refused")
		}
		if baseDiff(b, loadNodes(s.Tree, &s, true)) != "" {
			differ++
		}
	}
	if differ == 0 {
		t.Fatal("a node changed in place never showed: TestNodeDeltaSeesChanges could not fail")
	}
}

// TestNodeDeltaRefuses: what an update cannot redo exactly makes it refuse
// without writing, so the cache loads instead.
func TestNodeDeltaRefuses(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 4))
	s := cacheSnapshot(t, rng)
	for _, j := range s.Running {
		j.Links = nil
	}
	slices.SortFunc(s.Running, func(a, b *model.Job) int { return cmp.Compare(a.ID, b.ID) })
	links := s.Tree.links.names
	cases := map[string]func(*Snapshot){
		"a node fewer": func(n *Snapshot) { n.Nodes = n.Nodes[1:] },
		"nodes reordered": func(n *Snapshot) {
			n.Nodes = slices.Clone(n.Nodes)
			n.Nodes[0], n.Nodes[1] = n.Nodes[1], n.Nodes[0]
		},
		"running out of id order": func(n *Snapshot) {
			n.Running = slices.Clone(n.Running)
			slices.Reverse(n.Running)
		},
		"a job taking uplinks": func(n *Snapshot) {
			j := n.Running[0].Clone()
			j.Links = []string{links[0]}
			n.Running = append([]*model.Job{j}, n.Running[1:]...)
		},
	}
	if len(s.Running) < 2 || len(links) == 0 {
		t.Skip("the random snapshot has too few running jobs or no uplinks")
	}
	for name, change := range cases {
		b := loadNodes(s.Tree, &s, true)
		next := s
		change(&next)
		if b.update(s.Tree, &next) {
			t.Errorf("%s: updated", name)
		}
		if d := baseDiff(b, loadNodes(s.Tree, &s, true)); d != "" {
			t.Errorf("%s: a refused update wrote into the base: %s", name, d)
		}
	}
}

// baseDiff describes how two bases differ in what passes read from them
// ("" when they do not), the release lists as sets.
func baseDiff(a, b *nodeBase) string {
	if !reflect.DeepEqual(a.occ.free, b.occ.free) || !reflect.DeepEqual(a.occ.gfree, b.occ.gfree) ||
		!reflect.DeepEqual(a.occ.nfree, b.occ.nfree) || !reflect.DeepEqual(a.occ.lfree, b.occ.lfree) {
		return "occupancy"
	}
	if a.unknown != b.unknown {
		return fmt.Sprintf("unknown %d, want %d", a.unknown, b.unknown)
	}
	if !reflect.DeepEqual(a.images, b.images) {
		return "images"
	}
	byAtHost := func(x, y release) int { return cmp.Or(cmp.Compare(x.at, y.at), cmp.Compare(x.host, y.host)) }
	for _, l := range [][2][]release{{a.fixed, b.fixed}, {a.fromNow, b.fromNow}} {
		if !slices.IsSortedFunc(l[0], func(x, y release) int { return cmp.Compare(x.at, y.at) }) {
			return "releases out of time order"
		}
		x, y := slices.Clone(l[0]), slices.Clone(l[1])
		slices.SortFunc(x, byAtHost)
		slices.SortFunc(y, byAtHost)
		if !slices.Equal(x, y) {
			return fmt.Sprintf("releases %v, want %v", x, y)
		}
	}
	x, y := slices.Sorted(slices.Values(a.atNow)), slices.Sorted(slices.Values(b.atNow))
	if !slices.Equal(x, y) {
		return fmt.Sprintf("cleaning %v, want %v", x, y)
	}
	if len(a.odd) != len(b.odd) {
		return "odd releases"
	}
	return ""
}
