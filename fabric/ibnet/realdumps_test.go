package ibnet

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/hostlist"
)

// refTopology is PSMN's own topology.conf for cluster X5, read back.
type refTopology struct {
	nodes    map[uint64][]string // leaf GUID -> host names
	switches map[uint64][]uint64 // upper switch GUID -> switch GUIDs listed under it
}

func readRefTopology(t *testing.T) refTopology {
	t.Helper()
	fh, err := os.Open(filepath.Join(dataDir, "psmn-x5/X5.topology.conf"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	return readTopologyConf(t, fh)
}

// readTopologyConf reads a topology.conf whose switches are named by their
// S-<guid> IDs.
func readTopologyConf(t *testing.T, r io.Reader) refTopology {
	t.Helper()
	ref := refTopology{nodes: map[uint64][]string{}, switches: map[uint64][]uint64{}}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		sw, _ := strings.CutPrefix(f[0], "SwitchName=")
		guid := guidOf(t, sw)
		key, list, _ := strings.Cut(f[1], "=")
		items, err := hostlist.Expand(list)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		switch key {
		case "Nodes":
			ref.nodes[guid] = items
		case "Switches":
			for _, s := range items {
				ref.switches[guid] = append(ref.switches[guid], guidOf(t, s))
			}
		default:
			t.Fatalf("unexpected %q", line)
		}
	}
	return ref
}

// guidOf decodes the "S-<guid>" switch names PSMN used.
func guidOf(t *testing.T, name string) uint64 {
	t.Helper()
	k, g := kindFromID(name)
	if k != KindSwitch {
		t.Fatalf("reference switch name %q is not an S-<guid> ID", name)
	}
	return g
}

// TestPSMNX5MatchesAdminTopology compares what we derive from the X5 dump
// with the topology.conf the cluster's admins generated from it. Names are
// compared through GUIDs, so our switch names could differ.
func TestPSMNX5MatchesAdminTopology(t *testing.T) {
	fh, err := os.Open(filepath.Join(dataDir, "psmn-x5/X5.map"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseNameMap(fh)
	fh.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 86 {
		t.Errorf("X5.map: %d entries, want 86", len(m))
	}
	f := mustParseFile(t, "psmn-x5/X5.topofile", Options{Names: m})
	ref := readRefTopology(t)

	// Leaves and their hosts.
	if got, want := len(f.Leaves()), len(ref.nodes); got != want {
		t.Fatalf("%d leaves, reference has %d", got, want)
	}
	refHosts := 0
	for _, leaf := range f.Leaves() {
		want, ok := ref.nodes[leaf.GUID]
		if !ok {
			t.Errorf("leaf %s is not a leaf in the reference", leaf)
			continue
		}
		refHosts += len(want)
		if got := hostNames(f.LeafHosts(leaf)); !slices.Equal(sorted(got), sorted(want)) {
			t.Errorf("leaf %s hosts:\n got %v\nwant %v", leaf, sorted(got), sorted(want))
		}
	}
	if len(f.Hosts()) != refHosts || refHosts != 89 {
		t.Errorf("%d hosts, reference lists %d (want 89)", len(f.Hosts()), refHosts)
	}

	// The reference lists, for every non-leaf switch, all switches cabled
	// to it. Compare the resulting undirected switch graph with ours.
	type edge [2]uint64
	norm := func(a, b uint64) edge {
		if a > b {
			a, b = b, a
		}
		return edge{a, b}
	}
	refEdges := map[edge]bool{}
	for up, downs := range ref.switches {
		for _, d := range downs {
			refEdges[norm(up, d)] = true
		}
	}
	ourEdges := map[edge]bool{}
	for _, l := range f.Links {
		a, b := l.A.Node, l.B.Node
		if a.Kind == KindSwitch && b.Kind == KindSwitch && a != b {
			ourEdges[norm(a.GUID, b.GUID)] = true
		}
	}
	for e := range refEdges {
		if !ourEdges[e] {
			t.Errorf("reference switch link %x-%x missing from the dump model", e[0], e[1])
		}
	}
	for e := range ourEdges {
		if !refEdges[e] {
			t.Errorf("switch link %x-%x not in the reference", e[0], e[1])
		}
	}

	// Spine -> leaves: each upper switch reaches the same leaves.
	for up, downs := range ref.switches {
		sw := f.NodeByGUID(up)
		if sw == nil || sw.Level < 2 {
			t.Errorf("reference upper switch %x is %v here", up, sw)
			continue
		}
		var want, got []uint64
		for _, d := range downs {
			if _, isLeaf := ref.nodes[d]; isLeaf {
				want = append(want, d)
			}
		}
		for _, p := range sw.Ports {
			if r := p.Remote(); r != nil && r.Node.Level == 1 && !slices.Contains(got, r.Node.GUID) {
				got = append(got, r.Node.GUID)
			}
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("switch %x leaves: got %x want %x", up, got, want)
		}
	}

	// X5.spine names the non-leaf switches. The graph says 4036-86A2 is
	// cabled only to two other spines, so it is a third level even though
	// the reference (which lists neighbours both ways) does not say so.
	spines := readLines(t, "psmn-x5/X5.spine")
	var upper []string
	for _, lv := range f.Levels()[1:] {
		upper = append(upper, names(lv)...)
	}
	if !slices.Equal(sorted(upper), sorted(spines)) {
		t.Errorf("upper switches %v, X5.spine says %v", sorted(upper), sorted(spines))
	}
	if got := levelCounts(f.Levels()); got != "6/4/1" {
		t.Errorf("levels %s, want 6/4/1", got)
	}
	top := f.Levels()[2][0]
	if top.ID != "S-0008f105001086a2" || !slices.Equal(sorted(names(f.Children(top))), []string{"S-0008f1050010851e", "S-0008f10500108530"}) {
		t.Errorf("level 3 = %s with children %v", top, names(f.Children(top)))
	}

	// All X5 HCAs kept their firmware description; unmapped ones fall
	// back to their ID, exactly as in the reference.
	for _, id := range []string{"H-78e7d1030024535c", "H-003048c749450000", "H-003048c74ae20000"} {
		if f.Host(id) == nil {
			t.Errorf("unmapped CA %s should be a host named by its ID", id)
		}
	}
	if f.Node("H-003048c749cd0000").Desc != "MT25408 ConnectX Mellanox Technologies" {
		t.Errorf("desc = %q", f.Node("H-003048c749cd0000").Desc)
	}
	if h := f.Host("r422node2"); h == nil || h.HCAs[0].Rate.String() != "4xDDR" {
		t.Errorf("r422node2 should hang off a 4xDDR link: %+v", h)
	}
}

// Without the map, the structure must not change: only host names do.
func TestPSMNX5WithoutNameMap(t *testing.T) {
	f := mustParseFile(t, "psmn-x5/X5.topofile", Options{})
	if len(f.Hosts()) != 89 || levelCounts(f.Levels()) != "6/4/1" {
		t.Errorf("%d hosts, levels %s", len(f.Hosts()), levelCounts(f.Levels()))
	}
	for _, h := range f.Hosts() {
		if !strings.HasPrefix(h.Name, "H-") {
			t.Errorf("host %s: firmware descriptions carry no host name, want the ID", h.Name)
		}
	}
}

func readLines(t *testing.T, rel string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, rel))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && l[0] != '#' {
			out = append(out, l)
		}
	}
	return out
}

func TestIbtopotoolSamples(t *testing.T) {
	t.Run("1.topo man page", func(t *testing.T) {
		f := mustParseFile(t, "ibtopotool-doc-samples/1.topo", Options{})
		if len(f.Switches()) != 2 || len(f.CAs()) != 4 || len(f.Links) != 7 {
			t.Fatalf("%d switches, %d CAs, %d links", len(f.Switches()), len(f.CAs()), len(f.Links))
		}
		// The two ends of two cables disagree on the width (4x vs 1x).
		if len(f.Warnings) != 2 || !strings.Contains(f.Warnings[0], "1xSDR") {
			t.Errorf("warnings %q", f.Warnings)
		}
		l := f.Node("S-0008f10400410015").Port(1).Link
		if l.Rate.String() != "1xSDR" {
			t.Errorf("mismatched link should take the slower width: %s", l.Rate)
		}
		// A dual-port HCA cabled twice to the same switch: one host, one leaf.
		h := f.Host("H-0008f10403960558")
		if h == nil || len(h.HCAs) != 2 || len(f.HostLeaves(h.Name)) != 1 {
			t.Fatalf("dual-port HCA host: %+v", h)
		}
		if lid := f.Node("H-0008f10403960558").Port(2).LID; lid != 14 {
			t.Errorf("port LID %d, want 14", lid)
		}
		sw := f.Node("S-005442ba00003080")
		if sw.LID != 6 || sw.NumPorts != 24 || sw.SystemGUID != 0x5442ba00003000 || sw.VendorID != 0x8f1 || sw.DeviceID != 0x5a06 {
			t.Errorf("switch header not parsed: %+v", sw)
		}
		if levelCounts(f.Levels()) != "2" {
			t.Errorf("both switches have hosts, want two leaves: %s", levelCounts(f.Levels()))
		}
	})
	t.Run("2.topo", func(t *testing.T) {
		f := mustParseFile(t, "ibtopotool-doc-samples/2.topo", Options{})
		if got := hostNames(f.Hosts()); !slices.Equal(got, []string{"compute-00-00", "compute-00-01"}) {
			t.Errorf("hosts %v", got)
		}
	})
	t.Run("3.topo with stderr and loopback cables", func(t *testing.T) {
		f := mustParseFile(t, "ibtopotool-doc-samples/3.topo", Options{})
		if len(f.Warnings) != 1 || !strings.HasPrefix(f.Warnings[0], "line 1: skipped diagnostic") {
			t.Errorf("warnings %q", f.Warnings)
		}
		sw := f.Node("S-e41d2d030003e470")
		if r := sw.Port(1).Remote(); r != sw.Port(2) {
			t.Errorf("port 1 loops back to %v, want port 2", r)
		}
		if got := names(f.Leaves()); !slices.Equal(got, []string{"S-e41d2d030003e470", "switch-de779e"}) {
			t.Errorf("leaves %v (MF0;switch-de779e:SX6012/U1 should name the SX6012)", got)
		}
		if got := names(f.HostLeaves("r-ufm101")); len(f.Host("r-ufm101").HCAs) != 2 || len(got) != 1 {
			t.Errorf("r-ufm101 has HCA-1 and HCA-2 on one switch: %v", got)
		}
		if r := f.Node("H-e41d2d03005cf1f8").Port(1).Link.Rate; r.Width != 4 || r.Speed != SDR {
			t.Errorf("r-ufm96 link %s, want 4xSDR", r)
		}
	})
	t.Run("4.topo whitespace-only separator", func(t *testing.T) {
		f := mustParseFile(t, "ibtopotool-doc-samples/4.topo", Options{})
		if got := hostNames(f.Hosts()); !slices.Equal(got, []string{"nsn33-43"}) {
			t.Errorf("hosts %v", got)
		}
		if f.Node("H-0003ba000100e388").Port(2).Link.Rate.String() != "4xQDR" {
			t.Error("QDR link expected")
		}
	})
}

func TestMellanoxLabMixedSpeeds(t *testing.T) {
	f := mustParseFile(t, "mellanox-lab/small_topo_file", Options{})
	an := f.Node("H-b8599f0300fc6dec")
	if an.Role != RoleAggregation || f.Host(an.Name) != nil {
		t.Errorf("SHARP aggregation node must not be a host: role %s", an.Role)
	}
	rates := map[string]bool{}
	for _, l := range f.Links {
		rates[l.Rate.String()] = true
	}
	for _, r := range []string{"4xFDR", "4xFDR10", "4xEDR", "4xHDR"} {
		if !rates[r] {
			t.Errorf("no %s link; have %v", r, rates)
		}
	}
	// The QM8700 (HDR) to SX6036 cable trained at FDR.
	q := f.Node("S-b8599f0300fc6de4")
	if q.Name != "r-ufm-sw95" || q.Port(3).Link.Rate.Speed != FDR || q.NumPorts != 41 {
		t.Errorf("QM8700: name %q, rate %s, %d ports", q.Name, q.Port(3).Link.Rate, q.NumPorts)
	}
	// r-dcs96 has HCA-1/2 on the QM8700 and HCA-3/4 on the SX6036.
	h := f.Host("r-dcs96")
	if h == nil || len(h.HCAs) != 4 {
		t.Fatalf("r-dcs96: %+v", h)
	}
	if got := names(f.HostLeaves("r-dcs96")); !slices.Equal(got, []string{"r-ufm-sw95", "r-ufm-sw226"}) {
		t.Errorf("r-dcs96 leaves %v", got)
	}
	if got := hostNames(f.Hosts()); !slices.Equal(got, []string{"r-dcs96", "r-dmz-ufm128", "r-dmz-ufm131", "r-dmz-ufm134", "r-dmz-ufm137"}) {
		t.Errorf("hosts %v", got)
	}
	// Both switches carry hosts: two leaves, no spine. Without the SHARP
	// rule the QM8700 would still be a leaf, but only because of r-dcs96.
	if levelCounts(f.Levels()) != "2" {
		t.Errorf("levels %s", levelCounts(f.Levels()))
	}
	if len(f.Warnings) != 0 {
		t.Errorf("warnings %q", f.Warnings)
	}
}

func TestInfinibandExporterPortsDumps(t *testing.T) {
	t.Run("test.out", func(t *testing.T) {
		f := mustParseFile(t, "infiniband_exporter-fixtures/ibnetdiscover/test.out", Options{})
		if got := hostNames(f.Hosts()); !slices.Equal(got, []string{"o0001", "o0002", "p0001"}) {
			t.Errorf("hosts %v", got)
		}
		if got := names(f.Leaves()); !slices.Equal(got, []string{"ib-i1l1s01", "ib-i4l1s01"}) {
			t.Errorf("leaves %v", got)
		}
		// ib-i1l2s01 only appears as the far end of an uplink.
		if len(f.Levels()) != 2 || names(f.Levels()[1])[0] != "ib-i1l2s01" {
			t.Errorf("levels %v", f.Levels())
		}
		// Two down ports: one "4x ???", one disabled at 4x SDR.
		sw := f.NodeByGUID(0x506b4b03005c2740)
		if p := sw.Port(37); p == nil || p.Link != nil || p.Rate.Width != 4 || p.Rate.Speed != SpeedUnknown {
			t.Errorf("down port 37: %+v", p)
		}
		lone := f.NodeByGUID(0x08c0eb0300add20e)
		if lone.Level != 0 || lone.Port(80).Rate.String() != "4xSDR" || lone.LID != 1781 {
			t.Errorf("isolated switch %+v", lone)
		}
		if ca := f.NodeByGUID(0x7cfe9003003b4bde); ca.LID != 134 || ca.Port(1).Link.Rate.String() != "4xEDR" {
			t.Errorf("CA LID %d", ca.LID)
		}
	})
	t.Run("test2.out is inconsistent", func(t *testing.T) {
		// The fixture gives one aggregation-node port GUID two different
		// switch ports (and two LIDs): a real model cannot hold that.
		_, err := Parse(strings.NewReader(readFile(t, "infiniband_exporter-fixtures/ibnetdiscover/test2.out")))
		pe, ok := err.(*ParseError)
		if !ok || pe.Line != 5 || !strings.Contains(pe.Msg, "H-946dae0300630bfe[1]") {
			t.Errorf("want a line-5 conflict on the aggregation node port, got %v", err)
		}
	})
	t.Run("test3.out unquoted description", func(t *testing.T) {
		f := mustParseFile(t, "infiniband_exporter-fixtures/ibnetdiscover/test3.out", Options{})
		sw := f.Switches()
		if len(sw) != 1 || sw[0].Desc != "Infiniscale-IV Mellanox Technologies" || sw[0].Port(22).Rate.String() != "4xQDR" {
			t.Errorf("%+v", sw)
		}
	})
}

func TestIbsimNetExamples(t *testing.T) {
	f := mustParseFile(t, "ibsim-net-examples/net", Options{})
	if got := levelCounts(f.Levels()); got != "1/1" {
		t.Errorf("levels %s", got)
	}
	sw2 := f.Node("Switch2")
	if sw2.Level != 2 || !slices.Equal(names(f.Children(sw2)), []string{"Switch1"}) {
		t.Errorf("Switch2 level %d children %v (two parallel cables count once)", sw2.Level, names(f.Children(sw2)))
	}
	if sw2.GUID != 0 || f.Node("Hca2").Port(2).Remote().Num != 2 {
		t.Error("ibsim ids carry no GUID; Hca2 port 2 is cabled to Switch1 port 2")
	}
	f = mustParseFile(t, "ibsim-net-examples/net.2sw2path4hca2port", Options{})
	if h := f.Host("Hca1"); h == nil || len(h.HCAs) != 2 {
		t.Errorf("dual-port Hca1: %+v", h)
	}
	for _, name := range []string{"net.1", "net.2sw2path", "net.2sw2path4hca"} {
		f := mustParseFile(t, "ibsim-net-examples/"+name, Options{})
		if len(f.Hosts()) == 0 || len(f.Leaves()) == 0 {
			t.Errorf("%s: no hosts or leaves", name)
		}
	}
}

func readFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
