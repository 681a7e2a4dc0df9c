package simnode

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ibex-hpc/ibex/fabric/sm"
)

// TestNewTreesSharedByServersStartingTogether: servers of one cluster
// sharing --sim-sysfs start at once; each opens the trees, and none may
// fail because another was building the same host's tree (a server of
// e2e's TestSimBMCLeaderKilledMidDeploy died with "rename ... node_desc:
// no such file or directory" when another's create removed the half-built
// tree under it). Every tree ends complete.
func TestNewTreesSharedByServersStartingTogether(t *testing.T) {
	var specs []Spec
	for i := range 4 {
		specs = append(specs, Spec{Name: fmt.Sprintf("node%03d", i+1), Ports: []sm.GUID{sm.GUID(0x100 + 2*i + 1)}})
	}
	for round := range 30 {
		root := filepath.Join(t.TempDir(), fmt.Sprint(round))
		var wg sync.WaitGroup
		errs := make(chan error, 3)
		for range 3 {
			wg.Go(func() {
				if _, err := NewTrees(root, specs); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: a server sharing the trees failed: %v", round, err)
		}
		for _, s := range specs {
			fs := &sysfs{root: filepath.Join(root, s.Name), ports: s.Ports}
			for _, attr := range []string{"node_desc", "fw_ver", "ports/1/pkeys/0", "ports/1/lid"} {
				if _, err := os.Stat(filepath.Join(fs.devDir(), attr)); err != nil {
					t.Fatalf("round %d: %s's tree is incomplete: %v", round, s.Name, err)
				}
			}
		}
	}
}
