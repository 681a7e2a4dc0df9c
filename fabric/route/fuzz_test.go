package route

import (
	"bytes"
	"os"
	"testing"
)

// FuzzParse: Parse never panics, and what it accepts renders and parses
// back to the same tables.
func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("testdata/dump_lfts-2x2x2.txt"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("Unicast lids [0x0-0x2] of switch Lid 1 guid 0x2 ('s'):\n0x0001 000 : x\n0x0002 003 # portguid 0x5: 'h'\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		tb, err := Parse(bytes.NewReader(in))
		if err != nil {
			return
		}
		fab := &Fabric{}
		for g := range tb {
			fab.Switches = append(fab.Switches, &Switch{GUID: g, Name: "s"})
		}
		if err := fab.index(); err != nil {
			t.Fatal(err)
		}
		back, err := Parse(bytes.NewReader(Render(fab, tb)))
		if err != nil {
			t.Fatalf("rendered tables do not parse: %v", err)
		}
		for g, l := range tb {
			for lid, p := range l {
				if lid > 0 && back.Port(g, uint16(lid)) != p {
					t.Fatalf("switch %x LID %d: %d after round trip, was %d", g, lid, back.Port(g, uint16(lid)), p)
				}
			}
		}
	})
}
