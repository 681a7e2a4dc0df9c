package scheduler

// A pass's occupancy and release list are as large as the fabric: some
// 1.6 MB a pass on 100,000 nodes, every pass, for the garbage collector
// to reclaim. Once Schedule returns nothing refers to them (the plan holds
// names, never the pass's slices), so a pass with a NodeCache hands them
// to the cache, and the cache's next pass copies its base into them
// instead of into new ones (newPass, occupancy.cloneInto). A pass takes
// the spare away under the cache's lock, so two passes never share one.

// recycle keeps ps's buffers for the cache's next pass. ps must not be
// used after.
func (c *NodeCache) recycle(ps *pass) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps.t == c.tree {
		c.spare = ps
	}
}
