package health

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/ibnet"
)

const fixtures = "../../testdata/ib-health"

func readFixture(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var edr4x = ibnet.Rate{Width: 4, Speed: ibnet.EDR}

// tree is a hand-made two-level fat tree for the pure tests: leaf l
// (1-based) has GUID 0x100+l, spine s 0x200+s, host h port GUID 0x1000+h;
// hosts are cabled to leaf ports 1..hosts, spine s to leaf port hosts+s.
type tree struct{ spines, leaves, hosts int }

func (t tree) leaf(l int) End {
	return End{Port: PortID{GUID: uint64(0x100 + l)}, Node: fmt.Sprintf("leaf%02d", l), Kind: ibnet.KindSwitch, Level: 1, LID: uint16(l)}
}

func (t tree) spine(s int) End {
	return End{Port: PortID{GUID: uint64(0x200 + s)}, Node: fmt.Sprintf("spine%02d", s), Kind: ibnet.KindSwitch, Level: 2, LID: uint16(100 + s)}
}

func (t tree) host(h int) End {
	return End{Port: PortID{GUID: uint64(0x1000 + h), Port: 1}, Node: fmt.Sprintf("node%03d", h), Kind: ibnet.KindCA, Host: true, LID: uint16(1000 + h)}
}

func at(e End, port int) End { e.Port.Port = port; return e }

// hostLink is host h's cable (hosts numbered across leaves).
func (t tree) hostLink(h int) LinkObs {
	l := (h-1)/t.hosts + 1
	return LinkObs{A: at(t.leaf(l), (h-1)%t.hosts+1), B: t.host(h), Rate: edr4x}
}

func (t tree) uplink(l, s int) LinkObs {
	return LinkObs{A: at(t.leaf(l), t.hosts+s), B: at(t.spine(s), l), Rate: edr4x}
}

func (t tree) links() []LinkObs {
	var out []LinkObs
	for h := 1; h <= t.leaves*t.hosts; h++ {
		out = append(out, t.hostLink(h))
	}
	for l := 1; l <= t.leaves; l++ {
		for s := 1; s <= t.spines; s++ {
			out = append(out, t.uplink(l, s))
		}
	}
	return out
}

// without drops the links with the given IDs.
func without(ls []LinkObs, drop ...LinkObs) []LinkObs {
	return slices.DeleteFunc(slices.Clone(ls), func(o LinkObs) bool {
		return slices.ContainsFunc(drop, func(d LinkObs) bool { return d.ID() == o.ID() })
	})
}

// zeroCounters reads every port of links as error free.
func zeroCounters(ls []LinkObs) map[PortID]Counters {
	m := map[PortID]Counters{}
	for _, l := range ls {
		m[l.A.Port], m[l.B.Port] = Counters{}, Counters{}
	}
	return m
}

var t0 = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)

func sampleAt(i int, ls []LinkObs) Sample {
	return Sample{Time: t0.Add(time.Duration(i) * 30 * time.Second), Links: ls, Counters: zeroCounters(ls)}
}

func mustNode(t *testing.T, r Report, name string) NodeHealth {
	t.Helper()
	n, ok := r.Node(name)
	if !ok {
		t.Fatalf("no node %s in report", name)
	}
	return n
}

func mustLeaf(t *testing.T, r Report, name string) LeafHealth {
	t.Helper()
	l, ok := r.Leaf(name)
	if !ok {
		t.Fatalf("no leaf %s in report", name)
	}
	return l
}
