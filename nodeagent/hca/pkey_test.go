package hca

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// pkeyTree is a node with two active InfiniBand ports, a RoCE port (no
// partitions) and a port that is down.
func pkeyTree(t *testing.T, extra map[string]string) string {
	t.Helper()
	files := map[string]string{
		"mlx5_0/ports/1/state":      "4: ACTIVE\n",
		"mlx5_0/ports/1/link_layer": "InfiniBand\n",
		"mlx5_0/ports/1/gids/0":     "fe80:0000:0000:0000:043f:7203:00f0:4c46\n",
		"mlx5_0/ports/1/pkeys/0":    "0xffff\n",
		"mlx5_0/ports/1/pkeys/1":    "0x8001\n",
		"mlx5_0/ports/1/pkeys/2":    "0x0000\n",
		"mlx5_0/ports/1/pkeys/10":   "0x0002\n",
		"mlx5_0/ports/1/pkeys/3":    "0x8000\n", // invalid key: an empty slot
		"mlx5_1/ports/1/state":      "4: ACTIVE\n",
		"mlx5_1/ports/1/link_layer": "InfiniBand\n",
		"mlx5_1/ports/1/pkeys/0":    "0xffff\n",
		"mlx5_1/ports/1/pkeys/1":    "0x0001\n",
		"mlx5_2/ports/1/state":      "4: ACTIVE\n",
		"mlx5_2/ports/1/link_layer": "Ethernet\n",
		"mlx5_3/ports/1/state":      "1: DOWN\n",
		"mlx5_3/ports/1/link_layer": "InfiniBand\n",
		"mlx5_3/ports/1/pkeys/0":    "0x0003\n",
	}
	for k, v := range extra {
		files[k] = v
	}
	return writeTree(t, files)
}

func TestPKeys(t *testing.T) {
	s := NewScanner(pkeyTree(t, nil))
	got, err := s.PKeys()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]uint16{
		"mlx5_0/1": {0xffff, 0x8001, 0x0002}, // index order: 0, 1, 10
		"mlx5_1/1": {0xffff, 0x0001},
		"mlx5_2/1": nil,
		"mlx5_3/1": {0x0003},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("PKeys %v, want %v", got, want)
	}
	tables, _ := s.PKeyTables()
	if tables[0].Port != "mlx5_0/1" || tables[0].GUID != 0x043f720300f04c46 || tables[1].GUID != 0 {
		t.Fatalf("tables %+v", tables)
	}
}

func TestHasPKey(t *testing.T) {
	s := NewScanner(pkeyTree(t, nil))
	for _, c := range []struct {
		key     uint16
		ports   []PKeyMatch
		missing []string
	}{
		// Full on one port, limited on the other; asked either way.
		{0x8001, []PKeyMatch{{"mlx5_0/1", 0x043f720300f04c46, true}, {"mlx5_1/1", 0, false}}, nil},
		{0x0001, []PKeyMatch{{"mlx5_0/1", 0x043f720300f04c46, true}, {"mlx5_1/1", 0, false}}, nil},
		{0x8002, []PKeyMatch{{"mlx5_0/1", 0x043f720300f04c46, false}}, []string{"mlx5_1/1"}},
		// Only the down port has it: that does not count.
		{0x0003, nil, []string{"mlx5_0/1", "mlx5_1/1"}},
		// The default partition: 0xffff holds it in full.
		{0x7fff, []PKeyMatch{{"mlx5_0/1", 0x043f720300f04c46, true}, {"mlx5_1/1", 0, true}}, nil},
	} {
		ports, missing, err := s.HasPKey(c.key)
		if err != nil || !slices.Equal(ports, c.ports) || !slices.Equal(missing, c.missing) {
			t.Errorf("HasPKey(%s): %v, missing %v, %v; want %v, missing %v", FormatPKey(c.key), ports, missing, err, c.ports, c.missing)
		}
	}
	for _, bad := range []uint16{0, 0x8000} {
		if _, _, err := s.HasPKey(bad); err == nil || !strings.Contains(err.Error(), "not a partition key") {
			t.Errorf("HasPKey(%#x): %v", bad, err)
		}
	}
}

func TestHasPKeyBadFilesAndNoPorts(t *testing.T) {
	root := pkeyTree(t, map[string]string{
		"mlx5_1/ports/1/pkeys/2":   "0x1ffff\n",
		"mlx5_1/ports/1/pkeys/3":   "8001\n",
		"mlx5_1/ports/1/pkeys/abc": "0x0003\n",
	})
	ports, missing, err := NewScanner(root).HasPKey(0x8001)
	if len(ports) != 2 || len(missing) != 0 {
		t.Errorf("ports %v missing %v", ports, missing)
	}
	bad := fileErrors(t, root, err)
	for _, f := range []string{"mlx5_1/ports/1/pkeys/2", "mlx5_1/ports/1/pkeys/3", "mlx5_1/ports/1/pkeys/abc"} {
		if _, ok := bad[f]; !ok {
			t.Errorf("no error for %s: %v", f, bad)
		}
	}
	if len(bad) != 3 {
		t.Errorf("errors %v", bad)
	}
	if _, _, err := NewScanner(t.TempDir()).HasPKey(0x8001); !errors.Is(err, ErrNoActivePort) {
		t.Errorf("no devices: %v", err)
	}
	onlyRoCE := writeTree(t, map[string]string{"mlx5_2/ports/1/state": "4: ACTIVE\n", "mlx5_2/ports/1/link_layer": "Ethernet\n"})
	if _, _, err := NewScanner(onlyRoCE).HasPKey(0x8001); !errors.Is(err, ErrNoActivePort) {
		t.Errorf("only RoCE: %v", err)
	}
}

// TestHasPKeyFixtureWithoutTables: the copied real trees have active
// InfiniBand ports but no pkeys/ directories: nothing can be confirmed,
// and every such port is reported missing rather than passing.
func TestHasPKeyFixtureWithoutTables(t *testing.T) {
	devs := scanFixture(t, procfsRoot)
	var active []string
	for _, name := range []string{"hfi1_0", "mlx4_0", "mlx5_0"} {
		for _, p := range devs[name].Ports {
			if p.Active() && p.LinkLayer == "InfiniBand" {
				active = append(active, name+"/"+itoa(p.Number))
			}
		}
	}
	ports, missing, err := NewScanner(procfsRoot).HasPKey(0xffff)
	if err != nil || len(ports) != 0 || !slices.Equal(missing, active) || len(active) != 4 {
		t.Fatalf("ports %v missing %v (active %v), %v", ports, missing, active, err)
	}
}

func TestParsePKey(t *testing.T) {
	for in, want := range map[string]uint16{"0xffff\n": 0xffff, "0x8001": 0x8001, "0x0000\n": 0, "0X7FFF": 0x7fff, "0x1": 1} {
		if got, err := ParsePKey(in); err != nil || got != want {
			t.Errorf("ParsePKey(%q) = %#x, %v; want %#x", in, got, err, want)
		}
	}
	for _, in := range []string{"", "ffff", "0x", "0x10000", "0x-1", "0xfffg", "32769", "0x 1"} {
		if got, err := ParsePKey(in); err == nil {
			t.Errorf("ParsePKey(%q) = %#x, want an error", in, got)
		}
	}
}
