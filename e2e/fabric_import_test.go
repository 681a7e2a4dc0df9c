package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFabricImport imports the real PSMN X5 dump with its GUID map through
// the CLI: its hosts become nodes under the leaves derived from the
// cabling, jobs are placed on them, and the exported Slurm topology.conf
// lists the same leaves. Garbage is refused and changes nothing.
func TestFabricImport(t *testing.T) {
	// An import replaces the simulated nodes with the dump's hosts, which
	// have no simulated agents: their jobs run in ibexd (--sim-agents=false).
	c := startDev(t, "--fabric", "off", "--sim-agents=false")
	dir := filepath.Join("..", "testdata", "ib-topology", "psmn-x5")
	before := c.must("nodes", "--json")

	bad := filepath.Join(t.TempDir(), "garbage")
	os.WriteFile(bad, []byte("this is not ibnetdiscover output\n"), 0o644)
	c.fails(nil, "line 1", "fabric", "import", bad)
	if c.must("nodes", "--json") != before {
		t.Fatal("a refused import changed the nodes")
	}

	out := c.must("fabric", "import", "--map", filepath.Join(dir, "X5.map"), filepath.Join(dir, "X5.topofile"))
	if !strings.Contains(out, "imported, 89 hosts") {
		t.Fatalf("import summary:\n%s", out)
	}
	// The import also says what it did to the nodes (the simulated ones
	// of --dev are drained: not in the fabric); show has the rest.
	if !strings.Contains(out, "Nodes drained: node[001-032]") {
		t.Fatalf("import did not drain --dev's simulated nodes:\n%s", out)
	}
	show := c.must("fabric", "show")
	if show != withoutNodeChanges(out) {
		t.Fatalf("show differs from the import summary:\n%s\n---\n%s", show, out)
	}
	conf := c.must("fabric", "export", "--format", "slurm")
	want, _ := os.ReadFile(filepath.Join(dir, "X5.topology.conf"))
	// Compare the leaf lines' host sets with the admins' file.
	if got, exp := leafSets(conf), leafSets(string(want)); len(got) == 0 || len(got) != len(exp) {
		t.Fatalf("export has %d leaves with hosts, admins' file %d:\n%s", len(got), len(exp), conf)
	}
	// A 4-node job lands on imported hosts under a single leaf.
	id := jobID(t, c.must("submit", "-N", "4", "-t", "1m", "--", "true"))
	j := c.waitState(id, "completed")
	leaves := map[string]bool{}
	for _, n := range c.nodes() {
		for _, jn := range j.Nodes {
			if n.Name == jn {
				leaves[n.Leaf] = true
			}
		}
	}
	if len(leaves) != 1 {
		t.Fatalf("4-node job spans leaves %v", leaves)
	}
	c.fails(nil, "only \"slurm\"", "fabric", "export", "--format", "dot")
}

func withoutNodeChanges(out string) string {
	var keep []string
	for _, l := range strings.SplitAfter(out, "\n") {
		if !strings.HasPrefix(l, "Nodes ") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "")
}

// leafSets returns the Nodes= values of a topology.conf, one per leaf.
func leafSets(conf string) []string {
	var out []string
	for _, line := range strings.Split(conf, "\n") {
		if i := strings.Index(line, "Nodes="); i >= 0 && !strings.HasPrefix(strings.TrimSpace(line), "#") {
			out = append(out, line[i:])
		}
	}
	return out
}
