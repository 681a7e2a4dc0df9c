package ibnet

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckRealDumps: what Check says about the real dumps of testdata.
// PSMN's production fabric is clean; the Mellanox lab has loop-back cables
// on one switch and a leaf cabled to a leaf; the infiniband_exporter
// fixture is an excerpt whose cables name a switch it has no record of.
func TestCheckRealDumps(t *testing.T) {
	for file, want := range map[string][]string{
		"psmn-x5/X5.topofile":                                 nil,
		"mellanox-lab/small_topo_file":                        {"2 self-cable(s)", "r-ufm-sw226 ports 25 and 26", "1 cable(s) between leaf switches"},
		"infiniband_exporter-fixtures/ibnetdiscover/test.out": {"truncated", "S-7cfe900300b07320"},
	} {
		b, err := os.ReadFile(filepath.Join(dataDir, file))
		if err != nil {
			t.Fatal(err)
		}
		f, err := Parse(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		got := strings.Join(f.Check(), "\n")
		if want == nil && got != "" {
			t.Errorf("%s: %s", file, got)
		}
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q lacks %q", file, got, w)
			}
		}
	}
}

// TestCheckTruncated: a generated dump cut anywhere before its last
// record parses (ibnetdiscover's format has no end marker), and Check
// says it is truncated; the whole dump is clean.
func TestCheckTruncated(t *testing.T) {
	var buf bytes.Buffer
	if err := GenerateFatTree(&buf, FatTreeConfig{Pods: 1, LeavesPerPod: 4, SpinesPerPod: 2, HostsPerLeaf: 4}); err != nil {
		t.Fatal(err)
	}
	whole, err := Parse(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if w := whole.Check(); len(w) != 0 {
		t.Fatalf("complete dump: %v", w)
	}
	checked := 0
	for _, frac := range []float64{0.3, 0.6, 0.9} {
		cut := buf.Bytes()[:int(float64(buf.Len())*frac)]
		f, err := Parse(bytes.NewReader(cut))
		if err != nil {
			continue // cut inside a record: a parse error says so already
		}
		checked++
		if w := strings.Join(f.Check(), "\n"); !strings.Contains(w, "truncated") {
			t.Errorf("cut at %.0f%%: %d hosts, warnings %q", 100*frac, len(f.Hosts()), w)
		}
	}
	if checked == 0 {
		t.Fatal("no cut of the dump parsed")
	}
}
