package hca

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Fixture trees copied from prometheus/procfs and prometheus/node_exporter
// (see testdata/ib-sysfs/SOURCE.txt). Expected values below were read from
// those files by hand; TestFixtureCountersMatchFiles cross-checks every
// counter mechanically.
var (
	procfsRoot       = filepath.Join("..", "..", "testdata", "ib-sysfs", "procfs")
	nodeExporterRoot = filepath.Join("..", "..", "testdata", "ib-sysfs", "node_exporter")
)

func scanFixture(t *testing.T, root string) map[string]Device {
	t.Helper()
	s := NewScanner(root)
	if s.Locate != nil {
		t.Fatalf("NewScanner(%q) set Locate; fixture roots must not touch the host", root)
	}
	devs, err := s.Inventory()
	if err != nil {
		t.Fatalf("Inventory(%s): %v", root, err)
	}
	m := map[string]Device{}
	var names []string
	for _, d := range devs {
		m[d.Name] = d
		names = append(names, d.Name)
	}
	t.Logf("%s: %v", root, names)
	return m
}

func wantPort(t *testing.T, d Device, i int, state, phys State, rate Rate, linkLayer string) Port {
	t.Helper()
	if i >= len(d.Ports) {
		t.Fatalf("%s: no port index %d (have %d)", d.Name, i, len(d.Ports))
	}
	p := d.Ports[i]
	if p.Number != i+1 {
		t.Errorf("%s port index %d: Number %d, want %d", d.Name, i, p.Number, i+1)
	}
	if p.State != state || p.PhysState != phys {
		t.Errorf("%s port %d: state %v phys %v, want %v / %v", d.Name, p.Number, p.State, p.PhysState, state, phys)
	}
	if p.Rate != rate {
		t.Errorf("%s port %d: rate %+v, want %+v", d.Name, p.Number, p.Rate, rate)
	}
	if p.LinkLayer != linkLayer {
		t.Errorf("%s port %d: link layer %q, want %q", d.Name, p.Number, p.LinkLayer, linkLayer)
	}
	// None of the fixtures has gids/, lid or sm_lid: they must stay unknown.
	if p.GID != (GID{}) || p.GUID != 0 || p.LID != 0 || p.SMLID != 0 {
		t.Errorf("%s port %d: GID/GUID/LID set without files: %+v", d.Name, p.Number, p)
	}
	return p
}

func wantDevice(t *testing.T, d Device, hcaType, fw, board string, guid GUID, ports int) {
	t.Helper()
	if d.HCAType != hcaType || d.FWVersion != fw || d.BoardID != board || d.PSID() != board {
		t.Errorf("%s: type %q fw %q board %q, want %q %q %q", d.Name, d.HCAType, d.FWVersion, d.BoardID, hcaType, fw, board)
	}
	if d.NodeGUID != guid || d.SysImageGUID != 0 || d.NodeType.Known() || d.NodeDesc != "" {
		t.Errorf("%s: node guid %v sysimage %v type %v desc %q, want guid %v and the rest unknown",
			d.Name, d.NodeGUID, d.SysImageGUID, d.NodeType, d.NodeDesc, guid)
	}
	if d.PCIAddress != "" || d.AuxDevice != "" || d.Netdevs != nil {
		t.Errorf("%s: host location leaked into a fixture inventory: %q %q %v", d.Name, d.PCIAddress, d.AuxDevice, d.Netdevs)
	}
	if len(d.Ports) != ports {
		t.Errorf("%s: %d ports, want %d", d.Name, len(d.Ports), ports)
	}
}

func wantCounters(t *testing.T, what string, got map[string]uint64, n int, want map[string]uint64) {
	t.Helper()
	if len(got) != n {
		t.Errorf("%s: %d counters, want %d", what, len(got), n)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s[%s] = %d (present %v), want %d", what, k, g, ok, v)
		}
	}
}

var (
	active = State{4, "ACTIVE"}
	linkUp = State{5, "LinkUp"}
)

func TestInventoryProcfsFixture(t *testing.T) {
	devs := scanFixture(t, procfsRoot)
	if len(devs) != 3 {
		t.Fatalf("got %d devices, want hfi1_0 mlx4_0 mlx5_0", len(devs))
	}

	hfi := devs["hfi1_0"]
	wantDevice(t, hfi, "", "1.27.0", "HPE 100Gb 1-port OP101 QSFP28 x16 PCIe Gen3 with Intel Omni-Path Adapter", 0, 1)
	p := wantPort(t, hfi, 0, active, linkUp, Rate{100000, 4, "EDR"}, "InfiniBand")
	wantCounters(t, "hfi1_0/1 counters", p.Counters, 17, map[string]uint64{
		"port_rcv_data": 345091702026, "port_xmit_data": 273558326543,
		"port_rcv_packets": 638036947, "port_xmit_packets": 568318856, "symbol_error": 0,
	})
	if p.HWCounters != nil || p.ExtCounters != nil || p.UnavailableCounters != nil {
		t.Errorf("hfi1_0: unexpected hw/ext/unavailable counters: %+v", p)
	}
	if !p.Active() || !p.LinkUp() {
		t.Errorf("hfi1_0 port 1 should be active and up")
	}

	mlx4 := devs["mlx4_0"]
	wantDevice(t, mlx4, "MT4099", "2.31.5050", "SM_1141000001000", 0, 2)
	p = wantPort(t, mlx4, 0, active, linkUp, Rate{40000, 4, "QDR"}, "InfiniBand")
	wantCounters(t, "mlx4_0/1 counters", p.Counters, 17, map[string]uint64{
		"port_rcv_data": 2221223609, "port_xmit_data": 26509113295, "port_xmit_wait": 3599, "port_rcv_packets": 87169372,
	})
	// ports/2/link_layer is "InfiniBand\n\n" in this fixture.
	p = wantPort(t, mlx4, 1, active, linkUp, Rate{40000, 4, "QDR"}, "InfiniBand")
	wantCounters(t, "mlx4_0/2 counters", p.Counters, 17, map[string]uint64{
		"port_rcv_data": 2460436784, "port_xmit_data": 26540356890, "port_xmit_wait": 3846, "port_xmit_packets": 88622850,
	})

	mlx5 := devs["mlx5_0"]
	// node_guid has no trailing newline in this fixture.
	wantDevice(t, mlx5, "MT4118", "14.28.2006", "SM_2001000001034", 0x0a7fbc1245efd23b, 1)
	// This tree reports phys_state "4: ACTIVE": kept as-is, and not LinkUp
	// because the code is 4, not 5.
	p = wantPort(t, mlx5, 0, active, State{4, "ACTIVE"}, Rate{25000, 1, "EDR"}, "InfiniBand")
	if p.LinkUp() || !p.Active() {
		t.Errorf("mlx5_0 port 1: LinkUp %v Active %v, want false true", p.LinkUp(), p.Active())
	}
	wantCounters(t, "mlx5_0/1 counters", p.Counters, 21, map[string]uint64{
		"port_xmit_data": 2880761508848, "port_xmit_packets": 10907922116, "unicast_xmit_packets": 10907922116,
		"port_rcv_packets": 541889824, "multicast_rcv_packets": 0,
	})
	wantCounters(t, "mlx5_0/1 hw_counters", p.HWCounters, 25, map[string]uint64{
		"rx_read_requests": 175528982, "req_cqe_error": 3481, "resp_cqe_error": 8109,
		"local_ack_timeout_err": 131, "duplicate_request": 41, "lifespan": 10,
	})
}

func TestInventoryNodeExporterFixture(t *testing.T) {
	devs := scanFixture(t, nodeExporterRoot)
	if len(devs) != 2 {
		t.Fatalf("got %d devices, want i40iw0 mlx4_0", len(devs))
	}

	i40 := devs["i40iw0"]
	wantDevice(t, i40, "I40IW", "0.2", "I40IW Board ID", 0, 1)
	// iWARP: the rate has no IB speed name.
	p := wantPort(t, i40, 0, active, linkUp, Rate{10000, 4, ""}, "InfiniBand")
	if len(p.Counters) != 0 || p.Counters == nil {
		t.Errorf("i40iw0: counters %v, want an empty map (directory present, all N/A)", p.Counters)
	}
	if len(p.UnavailableCounters) != 17 || p.UnavailableCounters[0] != "counters/VL15_dropped" {
		t.Errorf("i40iw0: unavailable %v, want 17 counters/* starting with VL15_dropped", p.UnavailableCounters)
	}

	mlx4 := devs["mlx4_0"]
	wantDevice(t, mlx4, "MT4099", "2.31.5050", "SM_1141000001000", 0, 2)
	p = wantPort(t, mlx4, 0, active, linkUp, Rate{40000, 4, "QDR"}, "InfiniBand")
	wantCounters(t, "mlx4_0/1 counters", p.Counters, 16, map[string]uint64{
		"port_xmit_wait": 4294967295, "port_xmit_discards": 5, "port_rcv_packets": 6825908347,
		"multicast_rcv_packets": 93, "unicast_xmit_packets": 61239,
	})
	wantCounters(t, "mlx4_0/1 counters_ext", p.ExtCounters, 8, map[string]uint64{
		"port_rcv_data_64": 4631917, "port_xmit_data_64": 3733440, "port_unicast_rcv_packets": 61148,
	})
	p = wantPort(t, mlx4, 1, active, linkUp, Rate{40000, 4, "QDR"}, "InfiniBand")
	wantCounters(t, "mlx4_0/2 counters", p.Counters, 8, map[string]uint64{"port_rcv_data": 0, "link_downed": 0})
	wantCounters(t, "mlx4_0/2 counters_ext", p.ExtCounters, 8, map[string]uint64{"port_multicast_xmit_packets": 16})
}

// TestFixtureCountersMatchFiles checks every counter file of every fixture
// against the scanned value, so no file is silently dropped or misread.
func TestFixtureCountersMatchFiles(t *testing.T) {
	for _, root := range []string{procfsRoot, nodeExporterRoot} {
		devs, err := Inventory(root)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range devs {
			for _, p := range d.Ports {
				for sub, m := range map[string]map[string]uint64{"counters": p.Counters, "counters_ext": p.ExtCounters, "hw_counters": p.HWCounters} {
					dir := filepath.Join(root, ClassDir, d.Name, "ports", itoa(p.Number), sub)
					entries, _ := os.ReadDir(dir)
					for _, e := range entries {
						raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
						if err != nil {
							t.Fatal(err)
						}
						want := strings.TrimSpace(string(raw))
						got, ok := m[e.Name()]
						if strings.HasPrefix(want, "N/A") {
							if ok {
								t.Errorf("%s: N/A counter has value %d", dir, got)
							}
							continue
						}
						if !ok || itoa64(got) != want {
							t.Errorf("%s/%s: got %d (present %v), file says %q", dir, e.Name(), got, ok, want)
						}
					}
				}
			}
		}
	}
}

func itoa(n int) string      { return strconv.Itoa(n) }
func itoa64(n uint64) string { return strconv.FormatUint(n, 10) }
