package placement

import (
	"slices"
	"strings"
	"testing"
)

func TestParseGUIDs(t *testing.T) {
	for _, tc := range []struct {
		in      []string
		want    []uint64
		wantErr string
	}{
		{in: nil, want: nil},
		{in: []string{"", ""}, want: nil},
		{in: []string{"0x0002c90300a1b2c3"}, want: []uint64{0x0002c90300a1b2c3}},
		{in: []string{"0X8f10403960559"}, want: []uint64{0x8f10403960559}},
		{in: []string{"0002:c903:00a1:b2c3"}, want: []uint64{0x0002c90300a1b2c3}},
		{in: []string{"2:c903:a1:b2c3"}, want: []uint64{0x0002c90300a1b2c3}},
		// sorted, repeats removed (two spellings of one GUID)
		{in: []string{"0x20", "0x10", "0000:0000:0000:0020"}, want: []uint64{0x10, 0x20}},
		{in: []string{"0x0"}, wantErr: "zero"},
		{in: []string{"0x"}, wantErr: "hex digits"},
		{in: []string{"0x10000000000000000"}, wantErr: "hex digits"},
		{in: []string{"0xfffffffffffffffff"}, wantErr: "hex digits"},
		{in: []string{"0xg1"}, wantErr: "not hexadecimal"},
		{in: []string{"0x-1"}, wantErr: "not hexadecimal"},
		{in: []string{"0002c90300a1b2c3"}, wantErr: "want 0x<hex>"},
		{in: []string{"12345"}, wantErr: "want 0x<hex>"},
		{in: []string{"0002:c903:00a1"}, wantErr: "want 0x<hex>"},
		{in: []string{"0002:c903::b2c3"}, wantErr: "four groups"},
		{in: []string{"00002:c903:00a1:b2c3"}, wantErr: "four groups"},
		{in: []string{"0002:c903:00a1:b2cz"}, wantErr: "not hexadecimal"},
		{in: []string{" 0x10"}, wantErr: "want 0x<hex>"},
		{in: []string{"0x10", "bad"}, wantErr: `"bad"`},
		{in: []string{strings.Repeat("0", 100)}, wantErr: "longer than"},
		{in: make([]string, MaxPorts+1), wantErr: "at most 64"},
	} {
		got, err := ParseGUIDs(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseGUIDs(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseGUIDs(%q) = %#x, %v; want %#x", tc.in, got, err, tc.want)
		}
	}
}

// FuzzParseGUIDs: anything an agent sends either parses into sorted,
// distinct, non-zero GUIDs that print back to themselves, or is an error
// that quotes no more than a bounded piece of the input.
func FuzzParseGUIDs(f *testing.F) {
	for _, s := range []string{"0x0002c90300a1b2c3", "0002:c903:00a1:b2c3", "", "0x", "0x0", ":::", "0xffffffffffffffff", "1:2:3:4"} {
		f.Add(s, "0x10")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		got, err := ParseGUIDs([]string{a, b})
		if err != nil {
			if len(err.Error()) > 200 {
				t.Fatalf("error of %d bytes: %.80s...", len(err.Error()), err)
			}
			return
		}
		for i, g := range got {
			if g == 0 || i > 0 && got[i-1] >= g {
				t.Fatalf("%#x: not sorted, distinct and non-zero", got)
			}
			back, err := ParseGUID(FormatGUID(g))
			if err != nil || back != g {
				t.Fatalf("%#x prints as %s, which parses as %#x, %v", g, FormatGUID(g), back, err)
			}
		}
	})
}

// topo is two leaves: hostA (dual port) and hostB on leaf1, hostC on leaf2,
// hostD cabled to no leaf.
var topo = NewFabric([]Host{
	{Name: "hostA", Leaf: "leaf1", Ports: []uint64{0xa1, 0xa2}},
	{Name: "hostB", Leaf: "leaf1", Ports: []uint64{0xb1}},
	{Name: "hostC", Leaf: "leaf2", Ports: []uint64{0xc1}},
	{Name: "hostD", Ports: []uint64{0xd1}},
})

func TestPlace(t *testing.T) {
	held := Claims{Ports: map[uint64]string{0xb1: "nodeB", 0xee: "nodeE"}, Hosts: map[string]string{"hostB": "nodeB"}}
	for _, tc := range []struct {
		name  string
		node  string
		ports []uint64
		f     *Fabric
		c     Claims
		want  Result
	}{
		{name: "all ports on one host", node: "n1", ports: []uint64{0xa1, 0xa2}, f: topo,
			want: Result{Outcome: Placed, Host: "hostA", Leaf: "leaf1"}},
		{name: "one of a host's ports is enough", node: "n1", ports: []uint64{0xc1}, f: topo,
			want: Result{Outcome: Placed, Host: "hostC", Leaf: "leaf2"}},
		{name: "an uncabled port is named but does not stop placement", node: "n1", ports: []uint64{0xa1, 0xf1}, f: topo,
			want: Result{Outcome: Placed, Host: "hostA", Leaf: "leaf1", Note: "port GUID 0x00000000000000f1 not in the imported topology (uncabled?)"}},
		{name: "no ports", node: "n1", f: topo,
			want: Result{Note: "unplaced: its agent reported no InfiniBand port GUID"}},
		{name: "no topology", node: "n1", ports: []uint64{0xa1},
			want: Result{Note: "unplaced: no fabric topology imported (ibex fabric import FILE)"}},
		{name: "no port in the topology", node: "n1", ports: []uint64{0xf1}, f: topo,
			want: Result{Note: "unplaced: port GUID 0x00000000000000f1 not in the imported topology"}},
		{name: "many ports not in the topology", node: "n1", ports: []uint64{0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6}, f: topo,
			want: Result{Note: "unplaced: port GUIDs 0x00000000000000f1, 0x00000000000000f2, 0x00000000000000f3, 0x00000000000000f4 and 2 more not in the imported topology"}},
		{name: "host on no leaf", node: "n1", ports: []uint64{0xd1}, f: topo,
			want: Result{Note: "unplaced: host hostD of the imported topology is on no leaf switch"}},
		{name: "a port another node holds", node: "n1", ports: []uint64{0xa1, 0xb1}, f: topo, c: held,
			want: Result{Outcome: Refused, Note: "refused: port GUID 0x00000000000000b1 is already node nodeB's"}},
		{name: "a held port refuses even without a topology", node: "n1", ports: []uint64{0xee}, c: held,
			want: Result{Outcome: Refused, Note: "refused: port GUID 0x00000000000000ee is already node nodeE's"}},
		{name: "its own claims are no conflict", node: "nodeB", ports: []uint64{0xb1}, f: topo, c: held,
			want: Result{Outcome: Placed, Host: "hostB", Leaf: "leaf1"}},
		{name: "ports on two hosts", node: "n1", ports: []uint64{0xa1, 0xc1}, f: topo,
			want: Result{Outcome: Refused, Note: "refused: its port GUIDs are on different hosts of the imported topology (0x00000000000000a1 on hostA, 0x00000000000000c1 on hostC)"}},
		{name: "a host another node holds by another port", node: "n1", ports: []uint64{0xa2}, f: topo, c: Claims{Hosts: map[string]string{"hostA": "nodeA"}},
			want: Result{Outcome: Refused, Note: "refused: host hostA of the imported topology is already node nodeA's"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Place(tc.node, tc.ports, tc.f, tc.c); got != tc.want {
				t.Errorf("Place = %+v\nwant    %+v", got, tc.want)
			}
		})
	}
}

func TestFirstHostKeepsADuplicatedGUID(t *testing.T) {
	f := NewFabric([]Host{{Name: "h1", Leaf: "l1", Ports: []uint64{5}}, {Name: "h2", Leaf: "l2", Ports: []uint64{5}}})
	if r := Place("n", []uint64{5}, f, Claims{}); r.Host != "h1" {
		t.Fatalf("placed on %q, want h1", r.Host)
	}
}

func TestPortUp(t *testing.T) {
	for state, want := range map[string]bool{
		"4: ACTIVE": true, "2: INIT": true, "3: ARMED": true, "5: ACTIVE_DEFER": true,
		"1: DOWN": false, " 1 : DOWN": false, "unknown": true, "": true, "10: X": true,
	} {
		if got := PortUp(state); got != want {
			t.Errorf("PortUp(%q) = %v, want %v", state, got, want)
		}
	}
}
