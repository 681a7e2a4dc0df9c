package health

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestParsePerfQueryExporterFixtures(t *testing.T) {
	for _, c := range []struct {
		file   string
		blocks int
		want   Counters // of the first block
		cap    uint32
	}{
		{"perfquery/0x7cfe9003003b4bde.out", 1, Counters{Extended: true}, 0x5A00},
		{"perfquery/0x506b4b03005c2740.out", 1, Counters{LinkDowned: 1, XmitDiscards: 20046, Extended: true}, 0x5300},
		{"perfquery/0x7cfe9003009ce5b0.out", 2, Counters{Extended: true}, 0x5300},
	} {
		t.Run(filepath.Base(c.file), func(t *testing.T) {
			bs, err := ParsePerfQuery(readFixture(t, "infiniband_exporter/"+c.file))
			if err != nil {
				t.Fatal(err)
			}
			if len(bs) != c.blocks {
				t.Fatalf("%d blocks, want %d", len(bs), c.blocks)
			}
			got, err := bs[0].Counters()
			if err != nil || got != c.want {
				t.Fatalf("counters %+v %v, want %+v", got, err, c.want)
			}
			if bs[0].CapMask != c.cap || !bs[0].Extended() || bs[0].Port != 1 {
				t.Errorf("block %+v", bs[0])
			}
		})
	}
	bs, _ := ParsePerfQuery(readFixture(t, "infiniband_exporter/perfquery/0x7cfe9003009ce5b0.out"))
	if bs[1].LID != 1719 || bs[1].Port != 2 || bs[1].Fields["PortXmitWait"] != 36510964 || len(bs[1].Order) != 25 {
		t.Errorf("second block: lid %d port %d wait %d fields %d", bs[1].LID, bs[1].Port, bs[1].Fields["PortXmitWait"], len(bs[1].Order))
	}
}

func TestParsePerfQueryEmptyAndDetails(t *testing.T) {
	if _, err := ParsePerfQuery(readFixture(t, "infiniband_exporter/perfquery/0x506b4b0300cc02a6.out")); !errors.Is(err, ErrEmptyOutput) {
		t.Errorf("empty file: %v", err)
	}
	// perfquery -E: parses, but has no health counters; never zeros.
	bs, err := ParsePerfQuery(readFixture(t, "infiniband_exporter/perfquery-rcv-error/0x7cfe9003009ce5b0-2.out"))
	if err != nil || len(bs) != 1 || bs[0].Port != 2 || bs[0].Title != "PortRcvErrorDetails counters" {
		t.Fatalf("%+v %v", bs, err)
	}
	if _, err := bs[0].Counters(); !errors.Is(err, ErrNoErrorCounters) {
		t.Errorf("rcv-error details gave counters: %v", err)
	}
}

func TestParsePerfQueryIbsimOutputs(t *testing.T) {
	parse := func(f string) (PerfBlock, Counters, error) {
		t.Helper()
		bs, err := ParsePerfQuery(readFixture(t, "ibsim/"+f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		c, err := bs[0].Counters()
		return bs[0], c, err
	}
	b, c, err := parse("perfquery-ca-errors.out")
	if err != nil || c != (Counters{SymbolErrors: 65535, LinkDowned: 3, RcvErrors: 17, XmitDiscards: 200}) || b.LID != 18 || b.Extended() {
		t.Errorf("ca-errors: %+v %v", c, err)
	}
	if s := c.saturated(); !s[cSymbol] || s[cRcv] {
		t.Errorf("saturation %v", s)
	}
	if _, c, err = parse("perfquery-switch.out"); err != nil || c.SymbolErrors != 12 {
		t.Errorf("switch: %+v %v", c, err)
	}
	if _, _, err = parse("perfquery-x-no-errors.out"); !errors.Is(err, ErrNoErrorCounters) {
		t.Errorf("-x on ibsim: %v", err)
	}
	// The failure's stdout (exit 255) must not parse as counters.
	if _, err := ParsePerfQuery(readFixture(t, "ibsim/perfquery-unreachable.out")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("iberror output: %v", err)
	}
}

func TestParsePerfQueryRejects(t *testing.T) {
	for name, in := range map[string]string{
		"no title":      "SymbolErrorCounter:....0\n",
		"bad value":     "# Port counters: Lid 1 port 1\nSymbolErrorCounter:....-1\n",
		"octal-looking": "# Port counters: Lid 1 port 1\nX:....1_000\n",
		"title no lid":  "# Port counters: port 1\n",
		"other comment": "# hello\n",
		"duplicate":     "# Port counters: Lid 1 port 1\nA:..1\nA:..2\n",
		"name w/ space": "# Port counters: Lid 1 port 1\nA B:..1\n",
		"lid too big":   "# Port counters: Lid 70000 port 1\n",
		"bad cap":       "# Port counters: Lid 1 port 1 (CapMask: 0xZZ)\n",
		"cap too big":   "# Port counters: Lid 1 port 1 (CapMask: 0x1ffffffff)\n",
		"long line":     "# Port counters: Lid 1 port 1\nA:" + strings.Repeat(".", 5000) + "1\n",
	} {
		if bs, err := ParsePerfQuery([]byte(in)); err == nil {
			t.Errorf("%s: accepted %+v", name, bs)
		}
	}
}

func TestDeltasResetAndRebase(t *testing.T) {
	prev := Counters{SymbolErrors: 100, LinkDowned: 2, RcvErrors: 5, XmitDiscards: 7}
	d, resets, rebase := deltas(prev, Counters{SymbolErrors: 130, LinkDowned: 2, RcvErrors: 1, XmitDiscards: 7})
	if d != [nCounters]uint64{30, 0, 1, 0} || resets != 1 || rebase {
		t.Errorf("d %v resets %d rebase %v", d, resets, rebase)
	}
	if _, _, rebase := deltas(prev, Counters{Extended: true}); !rebase {
		t.Error("basic -> extended not a rebase")
	}
	// 64-bit counters near the top still subtract exactly.
	big := Counters{SymbolErrors: 1<<64 - 10, Extended: true}
	d, _, _ = deltas(big, Counters{SymbolErrors: 1<<64 - 1, Extended: true})
	if d[cSymbol] != 9 {
		t.Errorf("64-bit delta %d", d[cSymbol])
	}
	if s := (Counters{LinkDowned: 255}).saturated(); !s[cLinkDowned] {
		t.Error("8-bit LinkDowned at 255 not saturated")
	}
	if s := (Counters{LinkDowned: 255, Extended: true}).saturated(); s[cLinkDowned] {
		t.Error("extended counter saturated at 255")
	}
}

func TestParsePortInfo(t *testing.T) {
	pi, err := ParsePortInfo(readFixture(t, "ibsim/smpquery-portinfo-active.out"))
	if err != nil || pi.State != StateActive || pi.Phys != "LinkUp" {
		t.Errorf("active: %+v %v", pi, err)
	}
	pi, err = ParsePortInfo(readFixture(t, "ibsim/smpquery-portinfo-down.out"))
	if err != nil || pi.State != StateDown || pi.Phys != "Polling" {
		t.Errorf("down: %+v %v", pi, err)
	}
	pi, err = ParsePortInfo([]byte("# Port info: Lid 3 port 3\nLinkState:.....Initialize\n"))
	if err != nil || pi.State != StateInit {
		t.Errorf("init: %+v %v", pi, err)
	}
	for _, bad := range []string{"", "LinkState:....Sleeping\n", "PhysLinkState:...LinkUp\n"} {
		if _, err := ParsePortInfo([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
