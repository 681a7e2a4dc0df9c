package health

import (
	"bytes"
	"context"
	"fmt"

	"github.com/ibex-hpc/ibex/fabric/ibnet"
)

// IBNetDiscover discovers the fabric with `ibnetdiscover -p`: one process
// sweeps every port and prints links with their width and speed, which
// fabric/ibnet turns into named hosts, leaves and levels.
type IBNetDiscover struct {
	Run RunFunc // nil: execrun.Run
	// Args are extra arguments, e.g. "-C", "mlx5_0" to pick the HCA.
	Args []string
	// Options name hosts whose HCAs lack a "<host> <device>"
	// description (see ibnet.ParseNameMap).
	Options ibnet.Options
}

// Discover implements Discoverer. A failing ibnetdiscover is an error
// even if it printed something: a partial sweep would make every link it
// missed look down.
func (d *IBNetDiscover) Discover(ctx context.Context) ([]LinkObs, error) {
	out, err := orExec(d.Run)(ctx, "ibnetdiscover", append([]string{"-p"}, d.Args...)...)
	if err != nil {
		return nil, err
	}
	f, err := ibnet.ParseOptions(bytes.NewReader(out), d.Options)
	if err != nil {
		return nil, fmt.Errorf("health: ibnetdiscover -p: %w", err)
	}
	return LinksFromFabric(f), nil
}

// LinksFromFabric lists a parsed dump's links. Use it on the discovery,
// or on the site's reference dump for Config.Expected.
func LinksFromFabric(f *ibnet.Fabric) []LinkObs {
	out := make([]LinkObs, 0, len(f.Links))
	for _, l := range f.Links {
		out = append(out, LinkObs{A: endOf(l.A), B: endOf(l.B), Rate: l.Rate})
	}
	return out
}

func endOf(p *ibnet.Port) End {
	n := p.Node
	e := End{Node: n.Name, Kind: n.Kind, Host: n.Role == ibnet.RoleHost, Level: n.Level}
	if n.Kind == ibnet.KindSwitch {
		e.Port, e.LID = PortID{GUID: n.GUID, Port: p.Num}, n.LID
		return e
	}
	g := p.GUID
	if g == 0 {
		g = n.GUID
	}
	e.Port, e.LID = PortID{GUID: g, Port: p.Num}, p.LID
	return e
}
