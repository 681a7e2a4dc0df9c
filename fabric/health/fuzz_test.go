package health

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// renderPerf prints blocks the way perfquery does, so the fuzzer can
// check that whatever parses survives a round trip unchanged.
func renderPerf(bs []PerfBlock) []byte {
	var b bytes.Buffer
	for _, blk := range bs {
		fmt.Fprintf(&b, "# %s: Lid %d port %d", blk.Title, blk.LID, blk.Port)
		if blk.CapMask != 0 {
			fmt.Fprintf(&b, " (CapMask: 0x%04X)", blk.CapMask)
		}
		b.WriteString("\n")
		for _, name := range blk.Order {
			fmt.Fprintf(&b, "%s:%s%d\n", name, "......", blk.Fields[name])
		}
	}
	return b.Bytes()
}

func FuzzParsePerfQuery(f *testing.F) {
	for _, glob := range []string{"infiniband_exporter/perfquery*/*.out", "ibsim/perfquery*.out"} {
		files, _ := filepath.Glob(filepath.Join(fixtures, glob))
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte("# Port counters: Lid 1 port 1 (CapMask: 0x0)\nA:..0x10\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		bs, err := ParsePerfQuery(in)
		if err != nil {
			return
		}
		for _, b := range bs {
			if len(b.Order) != len(b.Fields) {
				t.Fatalf("order %v vs fields %v", b.Order, b.Fields)
			}
			c, err := b.Counters()
			if err == nil {
				if c.SymbolErrors != b.Fields["SymbolErrorCounter"] || c.Extended != b.Extended() {
					t.Fatalf("counters %+v from %+v", c, b)
				}
				_, _, rebase := deltas(c, c)
				if rebase {
					t.Fatal("rebase against itself")
				}
			}
		}
		again, err := ParsePerfQuery(renderPerf(bs))
		if err != nil {
			t.Fatalf("re-parse of rendered output: %v\n%s", err, renderPerf(bs))
		}
		if !reflect.DeepEqual(bs, again) {
			t.Fatalf("round trip changed blocks:\n%+v\n%+v", bs, again)
		}
	})
}
