package health

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/fabric/ibnet"
)

// TestLinksFromRealDump reads a production EDR `ibnetdiscover -p`
// excerpt (with down ports and an undeclared spine) into links.
func TestLinksFromRealDump(t *testing.T) {
	b, err := os.ReadFile("../../testdata/ib-topology/infiniband_exporter-fixtures/ibnetdiscover/test.out")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ibnet.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	links := LinksFromFabric(f)
	if len(links) != 4 {
		t.Fatalf("%d links: %+v", len(links), links)
	}
	r := New(Config{}).Observe(Sample{Time: t0, Links: links})
	n := mustNode(t, r, "o0001")
	if n.Status != NodeHealthy || n.Links != 1 {
		t.Errorf("o0001: %+v", n)
	}
	var host LinkHealth
	for _, l := range r.Links {
		if l.A.Node == "o0001" {
			host = l
		}
	}
	if host.A.Port != (PortID{GUID: 0x7cfe9003003b4bde, Port: 1}) || host.A.LID != 134 ||
		host.B.Port != (PortID{GUID: 0x7cfe9003009ce5b0, Port: 10}) || host.B.LID != 1719 || host.B.Node != "ib-i1l1s01" ||
		host.Rate != edr4x {
		t.Errorf("o0001 link: %+v", host)
	}
	if lf := mustLeaf(t, r, "ib-i1l1s01"); lf.Uplinks != 1 || lf.Healthy != 1 {
		t.Errorf("ib-i1l1s01: %+v", lf)
	}
	if lf := mustLeaf(t, r, "ib-i4l1s01"); lf.Uplinks != 0 {
		t.Errorf("ib-i4l1s01: %+v", lf)
	}
}

func TestIBNetDiscoverArgs(t *testing.T) {
	var got []string
	d := &IBNetDiscover{Args: []string{"-C", "mlx5_0"}, Run: func(_ context.Context, name string, args ...string) ([]byte, error) {
		got = append([]string{name}, args...)
		return readFixture(t, "ibsim/ibnetdiscover-p-2x4x8.out"), nil
	}}
	links, err := d.Discover(context.Background())
	if err != nil || len(links) != 41 {
		t.Fatalf("%d links, %v", len(links), err)
	}
	if want := "ibnetdiscover -p -C mlx5_0"; strings.Join(got, " ") != want {
		t.Errorf("ran %q, want %q", strings.Join(got, " "), want)
	}
}
