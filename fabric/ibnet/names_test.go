package ibnet

import (
	"strings"
	"testing"
)

func TestHostFromDesc(t *testing.T) {
	for desc, want := range map[string]string{
		"node042 HCA-1":                          "node042",
		"node042 mlx5_0":                         "node042",
		"gpu-a01 HCA-3":                          "gpu-a01",
		"luna-0001 mlx5_bond_0":                  "luna-0001",
		"node042.cluster.example.org mlx5_1":     "node042",
		"  worker20   mlx5_3 ":                   "worker20",
		"cn17":                                   "cn17",
		"MT25408 ConnectX Mellanox Technologies": "",
		"Mellanox Technologies Aggregation Node": "",
		"MT4123 ConnectX6 Mellanox Technologies": "",
		"mlx5_0":                                 "", // rdma-ndd with an empty host name
		"MT25408 HCA-1":                          "", // a part number is not a host
		"":                                       "",
		"node 1 2":                               "",
		"10.0.0.1 mlx5_0":                        "",
		"bad!name HCA-1":                         "",
	} {
		got, ok := hostFromDesc(desc)
		if got != want || ok != (want != "") {
			t.Errorf("hostFromDesc(%q) = %q, %v; want %q", desc, got, ok, want)
		}
	}
}

func TestSwitchNameFromDesc(t *testing.T) {
	for desc, want := range map[string]string{
		"MF0;r-ufm-sw95:MQM8700/U1":           "r-ufm-sw95",
		"ib-i1l1s01":                          "ib-i1l1s01",
		" 5FB0406-spine-IB02 ":                "5FB0406-spine-IB02",
		"Voltaire 4036 - 36 QDR ports switch": "",
		"SwitchIB Mellanox Technologies":      "",
		"Voltaire 4036 # 4036-8C5C":           "",
		"12345":                               "",
		"MF0;:SX6036/U1":                      "",
	} {
		if got := switchNameFromDesc(desc); got != want {
			t.Errorf("switchNameFromDesc(%q) = %q, want %q", desc, got, want)
		}
	}
}

func TestParseNameMap(t *testing.T) {
	m, err := ParseNameMap(strings.NewReader(`# site names
0x0002c903000482cc  node042
H-0002c90300048208  node043   # X5.map style
0008f10500108c5c    spine1
0x0002c903000482d4  "node044 HCA-1"
0x946dae0300630bfe  -
0x0002c903000482d5  "quoted-name"

`))
	if err != nil {
		t.Fatal(err)
	}
	want := NameMap{0x0002c903000482cc: "node042", 0x0002c90300048208: "node043", 0x0008f10500108c5c: "spine1",
		0x0002c903000482d4: "node044", 0x946dae0300630bfe: Excluded, 0x0002c903000482d5: "quoted-name"}
	if len(m) != len(want) {
		t.Fatalf("got %v", m)
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%#x = %q, want %q", k, m[k], v)
		}
	}
	for _, c := range []struct {
		in   string
		line int
		want string
	}{
		{"zz node1", 1, "bad GUID"},
		{"# x\n0x1", 2, "missing name"},
		{"0x1 a b", 1, "unexpected"},
		{"0x1 \"MT25408 ConnectX Mellanox Technologies\"", 1, "no host name"},
		{"0x1 node[1]", 1, "cannot be used"},
		{"0x1 \"unterminated", 1, "unterminated"},
		{"0x1 a\n0x1 b", 2, "both"},
	} {
		_, err := ParseNameMap(strings.NewReader(c.in))
		pe, ok := err.(*ParseError)
		if !ok || pe.Line != c.line || !strings.Contains(pe.Msg, c.want) {
			t.Errorf("ParseNameMap(%q) = %v; want line %d %q", c.in, err, c.line, c.want)
		}
	}
}

func TestNameMapOverridesAndExcludes(t *testing.T) {
	m := NameMap{
		0xe41d2d03005cf34c: "cn1",    // node GUID
		0xe41d2d03005cf351: "cn1",    // port GUID of the other CA: same host now
		0x2c903007b78c0:    "core-a", // switch
	}
	f, err := ParseOptions(strings.NewReader(small), Options{Names: m})
	if err != nil {
		t.Fatal(err)
	}
	h := f.Host("cn1")
	if h == nil || len(h.HCAs) != 2 || len(f.Hosts()) != 1 {
		t.Fatalf("want one host cn1 with both HCAs: %v", hostNames(f.Hosts()))
	}
	if f.Node("S-0002c903007b78c0").Name != "core-a" {
		t.Error("switch not renamed")
	}
	f, err = ParseOptions(strings.NewReader(small), Options{Names: NameMap{0xe41d2d03005cf34c: Excluded, 0xe41d2d03005cf350: Excluded}})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Hosts()) != 0 || len(f.Leaves()) != 0 || f.Node("H-e41d2d03005cf34c").Role != RoleExcluded {
		t.Errorf("excluded CAs must not make leaves: hosts %v leaves %v", hostNames(f.Hosts()), names(f.Leaves()))
	}
}

func TestDuplicateSwitchDescriptionsFallBackToIDs(t *testing.T) {
	dump := strings.ReplaceAll(small, `"spine01"`, `"MF0;leaf01:SX6036/U1"`)
	f := mustParse(t, dump)
	for _, sw := range f.Switches() {
		if sw.Name != sw.ID {
			t.Errorf("%s named %q; two switches share the description", sw.ID, sw.Name)
		}
	}
}

func TestEmbeddedCAIsNotAHost(t *testing.T) {
	// A CA inside the switch chassis: same system image GUID as the switch.
	dump := strings.Replace(small, "caguid=0xe41d2d03005cf34c", "caguid=0xe41d2d03005cf34c", 1)
	dump = strings.Replace(dump, "sysimgguid=0xe41d2d03005cf34c", "sysimgguid=0x2c903007b78b0", 1)
	f := mustParse(t, dump)
	if n := f.Node("H-e41d2d03005cf34c"); n.Role != RoleEmbedded || f.Host("node001") != nil {
		t.Errorf("role %s", n.Role)
	}
}
