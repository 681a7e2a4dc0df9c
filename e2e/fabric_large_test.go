package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/fabric/ibnet"
)

// TestFabricImportLarge: a 12,000-host ibnetdiscover dump (about 5 MB,
// more than gRPC's 4 MiB message) goes through `ibex fabric import`, which
// streams it: the dry run changes nothing, the import makes the hosts the
// nodes. A dump over the 64 MiB cap is refused with one line and changes
// nothing.
func TestFabricImportLarge(t *testing.T) {
	c := startDev(t, "--fabric", "off", "--sim-agents=false")
	dir := t.TempDir()
	dump := filepath.Join(dir, "large.topo")
	f, err := os.Create(dump)
	if err != nil {
		t.Fatal(err)
	}
	if err := ibnet.GenerateFatTree(f, ibnet.FatTreeConfig{Pods: 10, LeavesPerPod: 30, SpinesPerPod: 20, Cores: 40,
		HostsPerLeaf: 40, SwitchPorts: 64, SHARP: true}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if fi, _ := os.Stat(dump); fi.Size() <= 4<<20 {
		t.Fatalf("the dump is only %d bytes", fi.Size())
	}
	before := c.must("nodes", "--json")

	huge := filepath.Join(dir, "huge.topo")
	if err := os.WriteFile(huge, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(huge, 64<<20+1); err != nil {
		t.Fatal(err)
	}
	c.fails(nil, "larger than 64 MiB", "fabric", "import", huge)

	out := c.must("fabric", "import", "--dry-run", dump)
	if !strings.Contains(out, "dry run, 12000 hosts") {
		t.Fatalf("dry run:\n%.2000s", out)
	}
	if c.must("nodes", "--json") != before {
		t.Fatal("a dry run or a refused import changed the nodes")
	}
	out = c.must("fabric", "import", dump)
	if !strings.Contains(out, "imported, 12000 hosts") {
		t.Fatalf("import:\n%.2000s", out)
	}
	if show := c.must("fabric", "show"); show != withoutNodeChanges(out) {
		t.Fatalf("show differs from the import summary")
	}
	if n := len(c.nodes()); n != 12000+32 {
		t.Fatalf("%d nodes after the import, want the 12,000 hosts and --dev's 32 (drained)", n)
	}
}
