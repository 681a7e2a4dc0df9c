package scheduler

import (
	"math/rand/v2"
	"testing"
)

// TestPassRecycled: a pass with a cache leaves its buffers to the cache,
// the next pass copies into them (TestNodeCacheSamePlan and
// TestNodeDeltaSamePlan check its plans), and a pass on another tree
// does not take them.
func TestPassRecycled(t *testing.T) {
	rng := rand.New(rand.NewPCG(77, 1))
	s := cacheSnapshot(t, rng)
	c := &NodeCache{}
	s.Cache, s.NodesVersion = c, 1
	Schedule(s, IbexPolicy(), t0)
	spare := c.spare
	if spare == nil {
		t.Fatal("a finished pass left no buffers to the cache")
	}
	ps := c.pass(s.Tree, &s, IbexPolicy(), t0)
	if ps.occ != spare.occ || c.spare != nil {
		t.Fatal("the next pass did not take the spare occupancy, or left it to another")
	}
	c.recycle(ps)
	other := s
	other.Tree = memoTree(t, rng)
	if ps := c.pass(other.Tree, &other, IbexPolicy(), t0); ps.occ == spare.occ {
		t.Fatal("a pass on another tree reused the buffers of the last tree")
	}
}
