// Package topology describes where nodes sit on the fabric, as the scheduler
// and the dashboard need it: hosts under leaf switches under spines. A
// generated two-level fat tree backs `ibexd --dev`; real fabrics come from
// ibnetdiscover (fabric/ibnet).
package topology

import (
	"errors"
	"fmt"
)

// Host is one node and the leaf switch its HCA is cabled to.
type Host struct {
	Name string
	Leaf string
}

// FatTree is a two-level fat tree: every leaf connects to every spine.
type FatTree struct {
	Spines       int
	Leaves       int
	NodesPerLeaf int
}

// DefaultFatTree is the --dev fabric: 2 spines, 4 leaves, 8 nodes per leaf.
var DefaultFatTree = FatTree{Spines: 2, Leaves: 4, NodesPerLeaf: 8}

// Validate rejects shapes that cannot exist or would not fit a simulation.
func (f FatTree) Validate() error {
	if f.Spines < 1 || f.Leaves < 1 || f.NodesPerLeaf < 1 {
		return errors.New("fat tree: spines, leaves and nodes per leaf must each be at least 1")
	}
	if f.Leaves*f.NodesPerLeaf > 100000 {
		return fmt.Errorf("fat tree: %d nodes is more than the 100000 supported", f.Leaves*f.NodesPerLeaf)
	}
	return nil
}

// Hosts names the nodes node001.. (at least three digits) leaf by leaf.
func (f FatTree) Hosts() []Host {
	n := f.Leaves * f.NodesPerLeaf
	width := max(3, len(fmt.Sprint(n)))
	out := make([]Host, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, Host{
			Name: fmt.Sprintf("node%0*d", width, i+1),
			Leaf: f.LeafName(i/f.NodesPerLeaf + 1),
		})
	}
	return out
}

// LeafName names leaf l (1-based): leaf01.., with as many digits as the
// largest leaf number needs (leaf001 from 100 leaves on), so names sort.
// The simulated fabrics (fabric/ibsim, the simulated SM of --dev) name
// their switches with it too: the scheduler's link names
// ("leaf001>spine02") are resolved against the subnet manager's view of
// the fabric by these names, so there is one naming scheme end to end.
func (f FatTree) LeafName(l int) string {
	return fmt.Sprintf("leaf%0*d", max(2, len(fmt.Sprint(f.Leaves))), l)
}

// SpineName names spine s (1-based) like LeafName names leaves.
func (f FatTree) SpineName(s int) string {
	return fmt.Sprintf("spine%0*d", max(2, len(fmt.Sprint(f.Spines))), s)
}

// SpineNames names the spine switches spine01...
func (f FatTree) SpineNames() []string {
	out := make([]string, f.Spines)
	for i := range out {
		out[i] = f.SpineName(i + 1)
	}
	return out
}
