package trace

import (
	"fmt"
	"io"
	"os"

	"github.com/ibex-hpc/ibex/fabric/ibnet"
	"github.com/ibex-hpc/ibex/scheduler"
	"github.com/ibex-hpc/ibex/scheduler/topotree"
)

// maxFabricBytes bounds a dump read by FabricTree: 64 MiB holds well over
// 100,000 hosts, and a bigger file is not an ibnetdiscover output.
const maxFabricBytes = 64 << 20

// Fabric is a real topology to replay on instead of a synthetic tree.
type Fabric struct {
	Path  string
	Tree  *scheduler.Tree
	Infra int // hosts left out as infrastructure (ibnet.Classify)
	// Warnings are the dump's own (fabric/ibnet Check) and the
	// classification's, for the operator to read.
	Warnings []string
}

// LoadFabric reads an ibnetdiscover dump and builds the scheduling tree of
// its compute hosts, exactly as `ibex fabric import` classifies them:
// infrastructure hosts (a single HCA port on a multi-rail fabric, hosts
// without a leaf) are not schedulable, so they are not in the tree.
func LoadFabric(path string) (*Fabric, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	f, err := ParseFabric(fh)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.Path = path
	return f, nil
}

// ParseFabric is LoadFabric on a reader.
func ParseFabric(r io.Reader) (*Fabric, error) {
	lr := &io.LimitedReader{R: r, N: maxFabricBytes + 1}
	fab, err := ibnet.Parse(lr)
	if err != nil {
		return nil, err
	}
	if lr.N <= 0 {
		return nil, fmt.Errorf("larger than %d MiB: not an ibnetdiscover dump", maxFabricBytes>>20)
	}
	cls := ibnet.Classify(fab, ibnet.ClassifyOptions{})
	onHost := map[string]string{}
	for _, h := range cls.Hosts {
		if h.Class == ibnet.ClassCompute {
			onHost[h.Name] = h.Name
		}
	}
	if len(onHost) == 0 {
		return nil, fmt.Errorf("no compute hosts: the dump has %d hosts, none cabled to a leaf switch with the common HCA layout", len(cls.Hosts))
	}
	tree, err := topotree.FromFabricNodes(fab, topotree.Nodes{OnHost: onHost})
	if err != nil {
		return nil, err
	}
	warnings := append(append(fab.Warnings, fab.Check()...), cls.Warnings...)
	return &Fabric{Tree: tree, Infra: len(cls.Hosts) - len(onHost), Warnings: warnings}, nil
}
