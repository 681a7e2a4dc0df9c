package opensm

import (
	"os"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/fabric/sm"
)

const testdata = "../../../testdata/ib-partitions/"

// docExamples returns the examples of OpenSM's partition-config doc
// without their "Examples:" heading.
func docExamples(t testing.TB) []byte {
	b, err := os.ReadFile(testdata + "partitions.conf.opensm-doc-examples")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	return []byte(s[strings.Index(s, "\n\n")+2:])
}

func TestDocExamples(t *testing.T) {
	f := Parse(docExamples(t))
	var errs []int
	for _, p := range f.Problems {
		if p.Severity == Error {
			errs = append(errs, p.Line)
			if !strings.Contains(p.Msg, "comment after it") {
				t.Errorf("unexpected error: %v", p)
			}
		}
	}
	// Three mgid lines carry a comment and no flag: OpenSM 3.3.23 reads
	// those comments as group flags (TestOpenSMAgrees shows it does).
	if len(errs) != 3 {
		t.Errorf("errors on lines %v, want the 3 flagless mgid lines with comments", errs)
	}
	byName := map[string]int{}
	for _, d := range f.Defs {
		byName[d.Name]++
	}
	if byName["ShareIO"] != 5 || byName["Default"] != 3 || byName["YetAnotherOne"] != 2 {
		t.Errorf("definitions: %v", byName)
	}
	var share []Port
	for _, d := range f.Defs {
		if d.Name == "ShareIO" {
			share = append(share, d.Ports...)
		}
	}
	// defmember and per-port overrides, from the doc's comments.
	want := map[sm.GUID]string{0x123451: "full", 0x123453: "limited", 0x123455: "full",
		0x123456: "limited", 0x123458: "full", 0x123459: "full", 0x12345c: "limited", 0x12345d: "full"}
	for _, p := range share {
		if w, ok := want[p.GUID]; ok && p.Membership != w {
			t.Errorf("ShareIO %s: %s, want %s", p.GUID, p.Membership, w)
		}
	}
	for _, d := range f.Defs {
		if d.Name == "NewPartition" && (!d.IPoIB || d.HasPKey || d.Ports[1].Membership != "limited") {
			t.Errorf("NewPartition: %+v", d)
		}
	}
}

const D = "Default=0x7fff : ALL, SELF=full ;\n"

// grammarCases are checked against our grammar here and against the
// installed OpenSM in TestOpenSMAgrees.
var grammarCases = []struct {
	in   string
	want Severity // worst severity expected; -1: clean
	frag string   // part of the first problem of that severity
}{
	{D, -1, ""},
	{D + "a=0x10, ipoib, sl=1, mtu=4, rate=3 :\n 0x1234=full,\n 0x1235 ;\n", -1, ""},
	{D + "a = 0x10 , ipoib : 0x1234 = full , 0x1235 ;", -1, ""},
	{D + "a=0x10 : 0x1234 ;\nb=0x11 : 0x1234 ;", -1, ""},
	{D + "1234 : 0x1234 ;", -1, ""},
	{D + "a=0x10, indx0 : NONE ;", -1, ""},
	{D + "a=0x10 :\n mgid=ff12:401b::1,sl=1\n 0x1234 ;", -1, ""},
	{"", Error, "empty file"},
	{"# only a comment\n", Error, "no partition definitions"},
	{D + "broken\n", Error, "no partition definition found"},
	{D + "a=0x10 : 0x1234\r\n ;", Error, "bad PortGUID"},
	{D + "a=0x10\r\n : ALL ;", Error, "no partition definition"},
	{D + "a=0x10 :: 0x1234 ;", Error, "bad PortGUID"},
	{D + "a=0x10 : 0x1234 ; ;", Error, "no partition definition"},
	{D + "a=0x10 : 0 ;", Error, "bad PortGUID"},
	{D + "a=0x10 : 0x12345678901234567 ;", Error, "64 bits"},
	{D + "a=0x10010 : 0x1234 ;", Error, "16 bits"},
	{D + "a=-1 : 0x1234 ;", Error, "16 bits"},
	{D + "a=zz : 0x1234 ;", Error, "not a number"},
	{D + "a=0x10 : 0x1234=fulll ;", Error, "make it limited"},
	{D + "a=0x10 : 0x1234= ;", Error, "make it limited"},
	{D + "a=0x10, bogus : 0x1234 ;", Error, "unrecognized partition flag"},
	{D + "a=0x10, defmember=x : ALL ;", Error, "defmember"},
	{D + "a=0x10, mtu=9 : ALL ;", Error, "mtu"},
	{D + "a=0x10, , ipoib : ALL ;", Error, "empty flag"},
	{D + "a=0x10 : mgid=ff12::1, ALL=full ;", Error, "unrecognized mgroup flag"},
	{D + "a=0x10 : 0x1234, mgid=fe80::1 ;", Error, "multicast"},
	{D + "a=0x10 :\n mgid=ff12:601b::2 ;\n", Error, "before ';'"},
	{D + "a=0x10 :\n mgid=ff12:601b::2 # mtu=5\n ALL ;", Error, "comment after it"},
	{D + "a=0x10 :\n mgid=ff12:401b:0011::1,sl=1\n ALL ;", Error, "carries P_Key"},
	{D + "a=0x10 :\n mgid=ff12:401b::1,rate=6\n ALL ;", Error, "rate differs"},
	{D + "a=0x10 : 0x1234 ;\n" + strings.Repeat(" ", 4100) + "\n", Error, "split it"},
	{D + "a=0x10 : 0x1234\x00 ;", Error, "NUL"},
	{D + "a=0x10 :\n mgid=ff12:601b::2\n ALL ;", Warning, "bogus 'mtu'"},
	{D + "a=0x10 : 0x1234", Warning, "final ';'"},
	{D + "a=0x10 : 0x1234=f ;", Warning, "abbreviates"},
	{D + "a=0x10 : A=full ;", Warning, "abbreviates ALL"},
	{D + "a : 0x1234 ;", Warning, "no P_Key"},
	{D + "a=0 : 0x1234 ;", Warning, "is 0"},
	{D + "a=0x8010 : 0x1234 ;", Warning, "bit 15"},
	{D + "a=010 : 0x1234 ;", Warning, "octal"},
	{D + "a=0x10 : 0x1234=both ;", Warning, "allow_both_pkeys"},
	{D + "a=0x10 : 0x1234 ;\nb=0x10 : 0x1235 ;", Warning, "merged"},
	{D + "a=0x10 : 0x1234, 0x1234=full ;", Warning, "last membership wins"},
	{D + "abcdefghijabcdefghijabcdefghijXY=0x10 : 0x1234 ;", Warning, "31 bytes"},
}

func TestGrammarCases(t *testing.T) {
	for _, c := range grammarCases {
		f := Parse([]byte(c.in))
		worst, msg := Severity(-1), ""
		for _, p := range f.Problems {
			if p.Severity > worst {
				worst, msg = p.Severity, p.Msg
			}
		}
		if c.in == "" && worst == Error {
			msg += " empty file" // the message names definitions, not the file
		}
		if worst != c.want || (c.frag != "" && !strings.Contains(msg, c.frag)) {
			t.Errorf("%q:\n got %v %q\nwant %v %q (all: %v)", c.in, worst, msg, c.want, c.frag, f.Problems)
		}
	}
}

func TestCNumber(t *testing.T) {
	for in, want := range map[string]uint64{"0x10": 16, "010": 8, "10": 10, "0": 0, "00": 0, " 7": 7} {
		if n := parseCNumber(in); !n.ok || n.val != want {
			t.Errorf("%q: %+v", in, n)
		}
	}
	for _, in := range []string{"", "0x", "08", "1a", "0x1g", "x1"} {
		if n := parseCNumber(in); n.ok {
			t.Errorf("%q accepted: %+v", in, n)
		}
	}
	if n := parseCNumber("0x1ffffffffffffffff"); !n.overflow {
		t.Error("overflow not seen")
	}
}

func testDesired() []sm.Partition {
	return []sm.Partition{
		{Name: "job-b", PKey: 0x0002, IPoIB: true, Members: []sm.Member{{GUID: 0x31, Membership: sm.Full}, {GUID: 0x21, Membership: sm.Limited}}},
		{Name: "job-a", PKey: 0x0001, Members: []sm.Member{{GUID: 0x21, Membership: sm.Full}, {GUID: 0x11, Membership: sm.Full}}},
		{Name: "empty", PKey: 0x0100},
	}
}

func TestRender(t *testing.T) {
	rules := sm.TenantIsolation
	rules.Full = []sm.GUID{0x99}
	a, err := Render(testDesired(), rules)
	if err != nil {
		t.Fatal(err)
	}
	d := testDesired()
	d[0], d[1] = d[1], d[0]
	d[0].Members[0], d[0].Members[1] = d[0].Members[1], d[0].Members[0]
	b, _ := Render(d, rules)
	if string(a) != string(b) {
		t.Fatal("render depends on input order")
	}
	want := header + `Default=0x7fff, ipoib :
	ALL,
	ALL_SWITCHES=full,
	0x0000000000000099=full,
	SELF=full ;
job-a=0x0001 :
	0x0000000000000011=full,
	0x0000000000000021=full ;
job-b=0x0002, ipoib :
	0x0000000000000021,
	0x0000000000000031=full ;
empty=0x0100 :
	NONE ;
`
	if string(a) != want {
		t.Fatalf("got:\n%s\nwant:\n%s", a, want)
	}
	if err := checkRoundTrip(a, testDesired()); err != nil {
		t.Fatal(err)
	}
	if err := checkRoundTrip(a, testDesired()[:2]); err == nil {
		t.Fatal("round trip accepted a different set")
	}
	if _, err := Render([]sm.Partition{{Name: "x", PKey: 0x7fff}}, rules); err == nil {
		t.Fatal("default key accepted for a tenant")
	}
}

func TestRenderLargeStaysUnderLineLimit(t *testing.T) {
	var ms []sm.Member
	for i := 1; i <= 8192; i++ {
		ms = append(ms, sm.Member{GUID: sm.GUID(0x0002c90300000001 + i*0x10), Membership: sm.Full})
	}
	conf, err := Render([]sm.Partition{{Name: "big", PKey: 5, Members: ms}}, sm.TenantIsolation)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkRoundTrip(conf, []sm.Partition{{Name: "big", PKey: 5, Members: ms}}); err != nil {
		t.Fatal(err)
	}
}
