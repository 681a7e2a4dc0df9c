package ibnet

import (
	"strings"
	"testing"
)

// small is a two-switch fabric in default ibnetdiscover format, written the
// way the tool prints it (tabs, trailing blanks, port GUIDs on CA ports).
const small = `#
# Topology file: generated on Wed May 13 14:36:33 2020
#
vendid=0x2c9
devid=0xc738
sysimgguid=0x2c903007b78b0
switchguid=0x2c903007b78b0(2c903007b78b0)
Switch	36 "S-0002c903007b78b0"		# "MF0;leaf01:SX6036/U1" enhanced port 0 lid 19 lmc 0
[1]	"S-0002c903007b78c0"[1]		# "spine01" lid 20 4xFDR
[3]	"H-e41d2d03005cf34c"[1](e41d2d03005cf34c) 		# "node001 HCA-1" lid 3 4xFDR
[4]	"H-e41d2d03005cf350"[1](e41d2d03005cf351) 		# "node002 mlx5_0" lid 4 4xEDR

vendid=0x2c9
devid=0xc738
switchguid=0x2c903007b78c0(2c903007b78c0)
Switch	36 "S-0002c903007b78c0"		# "spine01" base port 0 lid 20 lmc 0
[1]	"S-0002c903007b78b0"[1]		# "MF0;leaf01:SX6036/U1" lid 19 4xFDR

vendid=0x2c9
devid=0x1013
sysimgguid=0xe41d2d03005cf34c
caguid=0xe41d2d03005cf34c
Ca	1 "H-e41d2d03005cf34c"		# "node001 HCA-1"
[1](e41d2d03005cf34c) 	"S-0002c903007b78b0"[3]		# lid 3 lmc 0 "MF0;leaf01:SX6036/U1" lid 19 4xFDR

caguid=0xe41d2d03005cf350
Ca	2 "H-e41d2d03005cf350"		# "node002 mlx5_0"
[1](e41d2d03005cf351) 	"S-0002c903007b78b0"[4]		# lid 4 lmc 0 "MF0;leaf01:SX6036/U1" lid 19 4xEDR
`

func TestParseDefaultFormat(t *testing.T) {
	f := mustParse(t, small)
	leaf := f.Node("S-0002c903007b78b0")
	if leaf == nil || leaf.Kind != KindSwitch || leaf.GUID != 0x2c903007b78b0 || leaf.LID != 19 ||
		leaf.NumPorts != 36 || leaf.DeviceID != 0xc738 || leaf.Desc != "MF0;leaf01:SX6036/U1" || leaf.Name != "leaf01" {
		t.Fatalf("leaf %+v", leaf)
	}
	if leaf.Port(2) != nil || leaf.Port(36) != nil {
		t.Error("ports the dump does not list are down (nil)")
	}
	ca := f.Node("H-e41d2d03005cf350")
	p := ca.Port(1)
	if p.GUID != 0xe41d2d03005cf351 || p.LID != 4 || ca.LID != 4 || p.Rate.String() != "4xEDR" {
		t.Errorf("CA port %+v", p)
	}
	if p.Remote() != leaf.Port(4) || leaf.Port(4).Remote() != p {
		t.Error("link ends do not point at each other")
	}
	if got := f.Node("S-0002c903007b78c0"); got.Level != 2 || got.Name != "spine01" {
		t.Errorf("spine level %d name %q", got.Level, got.Name)
	}
	if len(f.Links) != 3 || len(f.Warnings) != 0 {
		t.Errorf("%d links, warnings %q", len(f.Links), f.Warnings)
	}
	if got := hostNames(f.Hosts()); strings.Join(got, ",") != "node001,node002" {
		t.Errorf("hosts %v", got)
	}
}

// Variants seen in the wild that must not be rejected.
func TestParseToleratedVariants(t *testing.T) {
	cases := map[string]string{
		"CRLF line endings":              strings.ReplaceAll(small, "\n", "\r\n"),
		"no blank lines between records": strings.ReplaceAll(small, "\n\n", "\n"),
		"stderr mixed in": strings.Replace(small, "vendid=0x2c9\ndevid=0x1013",
			"ibwarn: [2345] mad_rpc: _do_madrpc failed; dport (DR path slid 0; dlid 0; 0,1)\nvendid=0x2c9\ndevid=0x1013", 1),
		"--full extras": strings.ReplaceAll(small, "4xFDR\n", "4xFDR s=8 w=2 v=3 e=0\n"),
		"-g chassis sections and ext ports": strings.Replace(
			strings.Replace(small, "[1]\t\"S-0002c903007b78c0\"[1]", "[1][ext 1]\t\"S-0002c903007b78c0\"[1]", 1),
			"vendid=0x2c9", "Chassis 1 (Voltaire 4036)\n\nNon-Chassis Nodes\n\nvendid=0x2c9", 1),
		"sysimgguid chassis comment": strings.Replace(small, "sysimgguid=0x2c903007b78b0", "sysimgguid=0x2c903007b78b0\t\t# Chassis 1", 1),
		"description with quotes":    strings.ReplaceAll(small, `"node001 HCA-1"`, `"node001 "weird" HCA-1"`),
	}
	for name, dump := range cases {
		t.Run(name, func(t *testing.T) {
			f := mustParse(t, dump)
			if len(f.Links) != 3 || len(f.Leaves()) != 1 {
				t.Errorf("%d links, %d leaves", len(f.Links), len(f.Leaves()))
			}
		})
	}
}

func TestParseIbsimNetFromFabricIbsim(t *testing.T) {
	// The shape fabric/ibsim writes: caguid/switchguid, free-form ids,
	// "# lid 0 4xEDR" trailers without descriptions.
	const net = `# ibex fat tree

caguid=0x0002c90300000010
Hca	1 "node001"	# "node001 HCA-1"
[1]	"L01"[1]	# lid 0 4xEDR

switchguid=0x0002c90200020001
Switch	3 "L01"	# "leaf01"
[1]	"node001"[1]	# lid 0 4xEDR
[2]	"S01"[1]	# lid 0 4xEDR

switchguid=0x0002c90200010001
Switch	1 "S01"	# "spine01"
[1]	"L01"[2]	# lid 0 4xEDR
`
	f := mustParse(t, net)
	if got := names(f.Leaves()); len(got) != 1 || got[0] != "leaf01" {
		t.Errorf("leaves %v", got)
	}
	if n := f.Node("node001"); n.GUID != 0x0002c90300000010 || n.Port(1).Link.Rate.String() != "4xEDR" {
		t.Errorf("node001 %+v", n)
	}
	if f.Host("node001") == nil || f.Node("S01").Level != 2 {
		t.Error("host or spine level missing")
	}
}

func TestParseErrors(t *testing.T) {
	sw := func(body string) string {
		return "Switch 4 \"S-0000000000000001\" # \"sw\" base port 0 lid 1 lmc 0\n" + body
	}
	cases := []struct {
		name, dump string
		line       int
		want       string
	}{
		{"empty", "", 0, "empty input"},
		{"only comments", "#\n# Topology file\n#\n", 0, "no nodes"},
		{"prose", "hello world\n", 1, "unrecognized line"},
		{"binary", "\x00\x01\x02\xff\n", 1, "unrecognized line"},
		{"perfquery output", "# Port counters: Lid 1 port 1\nPortSelect:......................1\n", 2, "unrecognized line"},
		{"port before node", "[1] \"S-0000000000000002\"[1]\n", 1, "outside a node record"},
		{"bad port count", "Switch x \"S-0000000000000001\"\n", 1, "bad port count"},
		{"too many ports", "Switch 300 \"S-0000000000000001\"\n", 1, "bad port count"},
		{"no id", "Switch 4 S-0000000000000001\n", 1, "quoted node id"},
		{"port out of range", sw("[5] \"H-0000000000000002\"[1](2) # \"h x\" lid 2 4xQDR\n"), 2, "no port 5"},
		{"port zero", sw("[0] \"H-0000000000000002\"[1](2) # \"h x\" lid 2 4xQDR\n"), 2, "out of range"},
		{"bad port syntax", sw("[1 \"H-0000000000000002\"[1]\n"), 2, "bad port number"},
		{"missing remote", sw("[1] \n"), 2, "remote node id"},
		{"bad remote port", sw("[1] \"H-0000000000000002\"[x]\n"), 2, "remote port number"},
		{"bad guid", sw("[1] \"H-0000000000000002\"[1](zz) # \"h\" lid 2 4xQDR\n"), 2, "remote port GUID"},
		{"trailing junk", sw("[1] \"H-0000000000000002\"[1] junk\n"), 2, "unexpected"},
		{"bad lid", sw("[1] \"S-0000000000000002\"[1] # \"s\" lid 99999 4xQDR\n"), 2, "bad lid"},
		{"bad attribute", "vendid=0xzz\n", 1, "bad vendid"},
		{"cabled to itself", sw("[1] \"S-0000000000000001\"[1]\n"), 2, "cabled to itself"},
		{"node twice", sw("\n") + sw(""), 3, "declared twice"},
		{"kind mismatch", "Ca 1 \"S-0000000000000001\"\n", 1, "names a switch"},
		{"guid mismatch", "switchguid=0x5(5)\n" + sw(""), 2, "does not match GUID"},
		{"guid kind mismatch", "caguid=0x1\n" + sw(""), 2, "follows a CA GUID"},
		{"never declared", "Switch 2 \"a\"\n[1] \"b\"[1]\n", 2, "never declared"},
		{"declared ports smaller than use", "Switch 2 \"a\"\n[1] \"b\"[7]\n\nHca 2 \"b\"\n", 2, "no port 7"},
		{
			"port declared twice differently in one record",
			sw("[1] \"H-0000000000000002\"[1](2) # \"h x\" lid 2 4xQDR\n[1] \"H-0000000000000003\"[1](3) # \"h y\" lid 3 4xQDR\n"),
			3, "S-0000000000000001[1] is cabled to H-0000000000000002[1] at line 2",
		},
		{
			"remote port already cabled elsewhere",
			sw("[1] \"H-0000000000000002\"[1](2) # \"h x\" lid 2 4xQDR\n[2] \"H-0000000000000002\"[1](2) # \"h x\" lid 2 4xQDR\n"),
			3, "H-0000000000000002[1] is cabled to S-0000000000000001[1]",
		},
		{
			"the far end disagrees",
			sw("[1] \"H-0000000000000002\"[1](2) # \"h x\" lid 2 4xQDR\n") +
				"\nCa 1 \"H-0000000000000002\" # \"h x\"\n[1](2) \"S-0000000000000001\"[2] # lid 2 lmc 0 \"sw\" lid 1 4xQDR\n",
			5, "cabled to S-0000000000000001[1] at line 2, but this line cables it to S-0000000000000001[2]",
		},
		{
			"port GUID changes",
			sw("[1] \"H-0000000000000002\"[1](2) # \"h x\" lid 2 4xQDR\n") +
				"\nCa 1 \"H-0000000000000002\" # \"h x\"\n[1](9) \"S-0000000000000001\"[1] # lid 2 lmc 0 \"sw\" lid 1 4xQDR\n",
			5, "port GUID",
		},
		{"duplicate GUID", "caguid=0x7\nCa 1 \"x\"\n\ncaguid=0x7\nCa 1 \"y\"\n", 5, "already used"},
		{"ports: bad type", "SW 1 1 0x1 4x QDR 'a'\nXX 1 1 0x1 4x QDR 'a'\n", 2, "not SW, CA or RT"},
		{"ports: bad guid", "SW 1 1 0xq 4x QDR 'a'\n", 1, "bad GUID"},
		{"ports: bad remote", "SW 1 1 0x1 4x QDR - CA 2 1 nope ( 'a' - 'b' )\n", 1, "bad GUID"},
		{"ports: bad descs", "SW 1 1 0x1 4x QDR - CA 2 1 0x2 'a' 'b'\n", 1, "expected ( 'desc'"},
		{"ports: down but cabled", "SW 1 1 0x1 4x QDR - CA 2 1 0x2 ( 'a' - 'h x' )\nSW 1 1 0x1 4x ??? 'a'\n", 2, "listed as down"},
		{"ports: cabled but down", "SW 1 1 0x1 4x ??? 'a'\nCA 2 1 0x2 4x QDR - SW 1 1 0x1 ( 'h x' - 'a' )\n", 2, "listed as down at line 1"},
		{"long line", strings.Repeat("x", maxLine+10), 1, "longer than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pe := parseErr(t, c.dump)
			if pe.Line != c.line || !strings.Contains(pe.Msg, c.want) {
				t.Errorf("got line %d %q; want line %d containing %q", pe.Line, pe.Msg, c.line, c.want)
			}
			if c.line > 0 && !strings.Contains(pe.Error(), "line ") {
				t.Errorf("error text %q does not name the line", pe.Error())
			}
		})
	}
}

func TestParseWarnsButAccepts(t *testing.T) {
	dup := strings.Replace(small, "[4]\t\"H-e41d2d03005cf350\"[1](e41d2d03005cf351) \t\t# \"node002 mlx5_0\" lid 4 4xEDR\n",
		"[4]\t\"H-e41d2d03005cf350\"[1](e41d2d03005cf351) \t\t# \"node002 mlx5_0\" lid 4 4xEDR\n"+
			"[4]\t\"H-e41d2d03005cf350\"[1](e41d2d03005cf351) \t\t# \"node002 mlx5_0\" lid 4 4xEDR\n", 1)
	f := mustParse(t, dup)
	if len(f.Warnings) != 1 || !strings.Contains(f.Warnings[0], "declared again") {
		t.Errorf("identical repeat should warn: %q", f.Warnings)
	}
	// A CA record that forgets a port its switch lists.
	oneSided := strings.Replace(small, "[1](e41d2d03005cf34c) \t\"S-0002c903007b78b0\"[3]\t\t# lid 3 lmc 0 \"MF0;leaf01:SX6036/U1\" lid 19 4xFDR\n", "", 1)
	f = mustParse(t, oneSided)
	if len(f.Warnings) != 1 || !strings.Contains(f.Warnings[0], "own record does not") {
		t.Errorf("one-sided cable should warn: %q", f.Warnings)
	}
}

func TestRates(t *testing.T) {
	for tok, want := range map[string]string{
		"4xQDR": "4xQDR", "1xSDR": "1xSDR", "4xFDR10": "4xFDR10", "12xEDR": "12xEDR",
		"2xNDR": "2xNDR", "4xXDR": "4xXDR", "4xHDR": "4xHDR", "8xDDR": "8xDDR",
		"4x???": "4x?", "undefined": "?", "x": "?", "123xQDR": "?",
	} {
		if got := parseRate(tok).String(); got != want {
			t.Errorf("parseRate(%q) = %q, want %q", tok, got, want)
		}
	}
	if r := minRate(parseRate("4xHDR"), parseRate("1xFDR")); r.String() != "1xFDR" {
		t.Errorf("minRate = %s", r)
	}
	if r := minRate(Rate{}, parseRate("4xEDR")); r.String() != "4xEDR" {
		t.Errorf("minRate with unknown = %s", r)
	}
	if !parseRate("4xEDR").Known() || parseRate("4x???").Known() {
		t.Error("Known")
	}
}

func TestIsDiagnostic(t *testing.T) {
	for s, want := range map[string]bool{
		"src/query_smp.c:195; umad (DR path slid 0; dlid 0; 0,1,1,31 Attr 0x11:0) bad status 110; Connection timed out": true,
		"ibwarn: [1234] mad_rpc: _do_madrpc failed":          true,
		"ibnetdiscover: iberror: failed: discover failed":    true,
		`[1]	"S-e41d2d030003e470"[2] # "foo.c:1; bar" lid 1`: false,
		"Switch 36 \"S-1\"": false,
	} {
		if got := isDiagnostic(s); got != want {
			t.Errorf("isDiagnostic(%q) = %v", s, got)
		}
	}
}
