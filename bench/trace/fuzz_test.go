package trace

import (
	"bytes"
	"math"
	"testing"
)

// FuzzParse: any input parses without panicking, every line is either a
// record, a bad record, a comment or blank, and records have sane sizes.
func FuzzParse(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte("; MaxProcs: 4\n1 0 0 1 1 -1 -1 1 1 -1 1 1 1 -1 1 -1 -1 -1\n"))
	f.Add([]byte("1 2 3\n\n;\n"))
	f.Add([]byte{0x1f, 0x8b, 8, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := Parse(bytes.NewReader(data))
		if err != nil {
			return
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		if bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
			lines = math.MaxInt // compressed: line count unknown
		}
		if len(tr.Records)+tr.Bad > lines || len(tr.BadLines) > keepBad {
			t.Fatalf("%d records + %d bad from %d lines", len(tr.Records), tr.Bad, lines)
		}
		jobs, _ := Jobs(tr.Records, Mapping{MaxNodes: 64})
		for _, j := range jobs {
			if j.Nodes < 1 || j.Nodes > 64 || j.Run < 0 || j.Walltime < j.Run {
				t.Fatalf("bad job %+v", j)
			}
		}
	})
}

// FuzzParseSweep: any --sweep value parses or is refused without
// panicking, and a parsed one has a known knob and at most 64 finite,
// non-negative values.
func FuzzParseSweep(f *testing.F) {
	f.Add("backfill-wait-factor=0.5,1,2")
	f.Add("age-weight=1e5")
	f.Add("compact-max-share=,")
	f.Fuzz(func(t *testing.T, s string) {
		sw, err := ParseSweep(s)
		if err != nil {
			return
		}
		if knob(sw.Knob) == nil || len(sw.Values) == 0 || len(sw.Values) > maxSweepValues {
			t.Fatalf("%q parsed to %+v", s, sw)
		}
		for _, v := range sw.Values {
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				t.Fatalf("%q: value %v", s, v)
			}
		}
	})
}
