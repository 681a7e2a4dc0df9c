package trace

import (
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/scheduler"
)

// TestLinksNeverDoublyHeld replays random streams with every multi-node
// job link-isolated under every policy and checks, over the whole replay,
// that no uplink is held by two jobs running at the same time and that
// every isolated job over several leaves holds the same spines at each of
// its leaves, as many as its largest share of a leaf (the rule in
// scheduler/links.go).
func TestLinksNeverDoublyHeld(t *testing.T) {
	seeds := 6
	if testing.Short() || raceEnabled {
		seeds = 2
	}
	for seed := 1; seed <= seeds; seed++ {
		spec := DefaultStream(uint64(seed))
		spec.Jobs = 400
		jobs, err := spec.Generate()
		if err != nil {
			t.Fatal(err)
		}
		tree, err := scheduler.SyntheticTree(spec.Nodes, spec.LeafSize, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range scheduler.Policies() {
			out := Simulate(jobs, Config{Tree: tree, Policy: p, Isolation: scheduler.IsolationLinks})
			if len(out) != len(jobs) {
				t.Fatalf("seed %d %s: %d of %d jobs started", seed, p.Name, len(out), len(jobs))
			}
			checkLinks(t, tree, out, p.Name)
		}
	}
}

func checkLinks(t *testing.T, tree *scheduler.Tree, out []Outcome, policy string) {
	t.Helper()
	type hold struct {
		end time.Duration
		job uint64
	}
	held := map[string]hold{}
	isolatedMulti := 0
	// Outcomes come in start order; a link is free again at its holder's end.
	for _, o := range out {
		for _, l := range o.Links {
			if h, ok := held[l]; ok && h.end > o.Start {
				t.Fatalf("%s: link %s held by job %d (until %v) and job %d (from %v)", policy, l, h.job, h.end, o.Job.ID, o.Start)
			}
			held[l] = hold{o.Start + o.Job.Run, o.Job.ID}
		}
		share := map[string]int{}
		for _, h := range o.Nodes {
			l, _ := tree.Leaf(h)
			share[tree.LeafName(l)]++
		}
		if len(share) < 2 {
			if len(o.Links) != 0 {
				t.Fatalf("%s: job %d on one leaf holds links %v", policy, o.Job.ID, o.Links)
			}
			continue
		}
		isolatedMulti++
		maxShare := 0
		for _, n := range share {
			maxShare = max(maxShare, n)
		}
		spines := map[string][]string{}
		for _, l := range o.Links {
			leaf, sp, _ := strings.Cut(l, ">")
			spines[leaf] = append(spines[leaf], sp)
		}
		var first string
		for leaf := range share {
			if len(spines[leaf]) != maxShare {
				t.Fatalf("%s: job %d holds %d links at %s, want its max share %d (shares %v)", policy, o.Job.ID, len(spines[leaf]), leaf, maxShare, share)
			}
			s := strings.Join(spines[leaf], ",")
			if first == "" {
				first = s
			} else if s != first {
				t.Fatalf("%s: job %d holds different spines per leaf: %v", policy, o.Job.ID, spines)
			}
		}
	}
	if isolatedMulti == 0 {
		t.Fatalf("%s: no job spanned leaves: the check checked nothing", policy)
	}
}
