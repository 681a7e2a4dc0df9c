package opensm

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/fabric/sm"
)

// FuzzParse feeds arbitrary files to the grammar. Properties: it never
// panics; problems carry valid line numbers; and a file without any
// problem means exactly what Partitions says: rendering those
// partitions and parsing again yields the same set.
func FuzzParse(f *testing.F) {
	f.Add(docExamples(f))
	f.Add([]byte("Default=0x7fff : ALL, SELF=full ;\n"))
	f.Add([]byte("Default=0x7fff, ipoib :\n\tALL,\n\tSELF=full ;\na=0x1 :\n\t0x11=full,\n\t0x21 ;\n"))
	f.Add([]byte("a=0x10 :\n mgid=ff12:401b::1,sl=1\n 0x1234=both ;"))
	f.Add([]byte("x : y : z ; ; mgid=::"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file := Parse(data)
		lines := strings.Count(string(data), "\n") + 1
		for _, p := range file.Problems {
			if p.Line < 1 || p.Line > lines {
				t.Fatalf("problem on line %d of %d: %v", p.Line, lines, p)
			}
		}
		if file.Err(Warning) != nil {
			return
		}
		parts, err := file.Partitions()
		if err != nil || sm.ValidateDesired(parts) != nil {
			return // legal OpenSM, but not something ibex writes
		}
		conf, err := Render(parts, sm.TenantIsolation)
		if err != nil {
			t.Fatalf("render of parsed partitions: %v", err)
		}
		if err := checkRoundTrip(conf, parts); err != nil {
			t.Fatalf("round trip: %v\ninput:\n%s\nrendered:\n%s", err, data, conf)
		}
	})
}

// FuzzRender builds desired sets from fuzz bytes: whatever passes
// sm.ValidateDesired must render to a file that passes the strict
// grammar and parses back to the same set.
func FuzzRender(f *testing.F) {
	f.Add([]byte{1, 0, 3, 0x11, 1, 0x21, 0})
	f.Add([]byte{0xff, 0x7f, 1, 1, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		var desired []sm.Partition
		for len(data) >= 3 && len(desired) < 16 {
			p := sm.Partition{
				Name:  "p" + strings.Repeat("x", int(data[2]%8)) + string(rune('a'+len(desired))),
				PKey:  sm.PKey(binary.LittleEndian.Uint16(data)),
				IPoIB: data[2]&0x80 != 0,
			}
			n := int(data[2] % 16)
			data = data[3:]
			for i := 0; i < n && len(data) >= 2; i++ {
				p.Members = append(p.Members, sm.Member{GUID: sm.GUID(data[0]) << 8 * sm.GUID(data[1]|1), Membership: sm.Membership(data[1] & 1)})
				data = data[2:]
			}
			desired = append(desired, p)
		}
		conf, err := Render(desired, sm.TenantIsolation)
		if sm.ValidateDesired(desired) != nil {
			if err == nil {
				t.Fatal("Render accepted an invalid desired set")
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := checkRoundTrip(conf, desired); err != nil {
			t.Fatalf("%v\n%s", err, conf)
		}
	})
}
