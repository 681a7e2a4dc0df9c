package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	ucli "github.com/urfave/cli/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ibexclient "github.com/ibex-hpc/ibex/client"
	"github.com/ibex-hpc/ibex/hostlist"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

func fabricCmd() *ucli.Command {
	return &ucli.Command{
		Name:  "fabric",
		Usage: "the InfiniBand topology ibex places jobs on",
		Subcommands: []*ucli.Command{
			{
				Name:      "import",
				Usage:     "replace the topology with a real ibnetdiscover dump (admin)",
				ArgsUsage: "FILE",
				Description: `FILE is ibnetdiscover output (plain or -p) or an ibsim net file. Hosts are
named from the HCA node descriptions ("node042 HCA-1", "gpu7 mlx5_3");
--map gives "GUID hostname" overrides for HCAs that still carry firmware
descriptions. Switch levels come from the cabling, not from names. On a
simulated cluster the hosts become nodes, under their leaf switches; on real
machines (ibexd without --simulate) the enrolled nodes are placed on the hosts
whose port GUIDs their agents report, again at every import (see ibexd --help).

Hosts are classified: compute nodes have the fabric's common HCA layout (the
number of HCA ports on leaf switches most hosts have); a single-HCA host where
compute nodes have several, a name matching --infra, or a name-map entry
ending in "infra" is infrastructure (login, storage, UFM, controllers), never
scheduled unless labelled (ibex nodes label), and then only for jobs asking
for its labels. On a simulated cluster an import replaces the node set: nodes
not in the new fabric are drained with the reason (busy ones finish first).
--dry-run prints all of it, with warnings (a truncated dump, self-cables,
cables between leaves), before anything changes.`,
				Flags: []ucli.Flag{&ucli.StringFlag{Name: "map", Usage: "GUID-to-hostname override `FILE` (an entry may end with infra or compute)"},
					&ucli.StringFlag{Name: "infra", Usage: "hosts whose whole name matches `REGEX` are infrastructure (e.g. 'login.*|ufm.*')"},
					&ucli.BoolFlag{Name: "dry-run", Usage: "print the classification, warnings and node changes; change nothing"}, jsonFlag},
				Action: withClient(func(c *ucli.Context, cl *client) error {
					if err := exactArgs(c, 1, "one ibnetdiscover file"); err != nil {
						return err
					}
					text, err := readCapped(c.Args().First(), "topology dump", ibexclient.MaxImportBytes)
					if err != nil {
						return err
					}
					req := &pb.ImportTopologyRequest{Text: string(text), Infra: c.String("infra"), DryRun: c.Bool("dry-run")}
					if m := c.String("map"); m != "" {
						b, err := readCapped(m, "name map", ibexclient.MaxNameMapBytes)
						if err != nil {
							return err
						}
						req.NameMap = string(b)
					}
					// Always streamed (Topology.ImportStream): a large
					// fabric's dump is more than one gRPC message. A server
					// from before streaming gets the one-message Import.
					ctx, cancel := context.WithTimeout(c.Context, cl.timeout)
					defer cancel()
					sum, err := cl.ImportTopology(ctx, req)
					if status.Code(err) == codes.Unimplemented {
						sum, err = cl.Topology.Import(cl.Context(ctx), req)
					}
					if err != nil {
						return err
					}
					return printTopology(c, sum)
				}),
			},
			{
				Name:  "show",
				Usage: "levels, leaf switches and which node sits under which leaf",
				Flags: []ucli.Flag{jsonFlag},
				Action: withClient(func(c *ucli.Context, cl *client) error {
					ctx, cancel := cl.ctx(c.Context)
					defer cancel()
					sum, err := cl.Topology.Show(ctx, &pb.ShowTopologyRequest{})
					if err != nil {
						return err
					}
					return printTopology(c, sum)
				}),
			},
			{
				Name:  "health",
				Usage: "links, nodes and leaf uplinks that are not healthy, from port state and counters",
				Flags: []ucli.Flag{&ucli.BoolFlag{Name: "all", Usage: "list healthy ones too"}, jsonFlag},
				Action: withClient(func(c *ucli.Context, cl *client) error {
					ctx, cancel := cl.ctx(c.Context)
					defer cancel()
					r, err := cl.Topology.Health(ctx, &pb.FabricHealthRequest{})
					if err != nil {
						return err
					}
					if c.Bool("json") {
						return printOneJSON(c.App.Writer, r)
					}
					return printHealth(c, r)
				}),
			},
			{
				Name:  "export",
				Usage: "write the imported topology for other tools (--format slurm: a Slurm topology.conf)",
				Flags: []ucli.Flag{&ucli.StringFlag{Name: "format", Value: "slurm", Usage: "slurm"}},
				Action: withClient(func(c *ucli.Context, cl *client) error {
					ctx, cancel := cl.ctx(c.Context)
					defer cancel()
					resp, err := cl.Topology.Export(ctx, &pb.ExportTopologyRequest{Format: c.String("format")})
					if err != nil {
						return err
					}
					_, err = fmt.Fprint(c.App.Writer, resp.Text)
					return err
				}),
			},
		},
	}
}

func printTopology(c *ucli.Context, s *pb.TopologySummary) error {
	if c.Bool("json") {
		return printOneJSON(c.App.Writer, s)
	}
	var lv []string
	for i, n := range s.SwitchesPerLevel {
		lv = append(lv, fmt.Sprintf("level %d: %d", i+1, n))
	}
	if s.Hosts == 0 && len(s.Leaves) == 0 {
		fmt.Fprintf(c.App.Writer, "Topology: %s\n", s.Source)
		return nil
	}
	fmt.Fprintf(c.App.Writer, "Topology: %s, %d hosts; switches %s\n", s.Source, s.Hosts, strings.Join(lv, ", "))
	w := table(c.App.Writer)
	fmt.Fprintln(w, "LEAF\tHOSTS\tNODES")
	for _, l := range s.Leaves {
		fmt.Fprintf(w, "%s\t%d\t%s\n", l.Name, len(l.Hosts), hostlist.Compress(l.Hosts))
	}
	w.Flush()
	printClassification(c, s)
	for _, warn := range s.Warnings {
		fmt.Fprintf(c.App.ErrWriter, "warning: %s\n", warn)
	}
	if s.DryRun {
		fmt.Fprintln(c.App.Writer, "Dry run: nothing changed; run again without --dry-run to import.")
	}
	return nil
}

// printClassification prints which hosts are compute nodes and which are
// infrastructure (grouped by why), and what the import does to the nodes.
func printClassification(c *ucli.Context, s *pb.TopologySummary) {
	out := c.App.Writer
	if s.ComputeLayout > 0 {
		fmt.Fprintf(out, "Compute: %d hosts (%d HCA port(s) on leaf switches)\n", s.ComputeHosts, s.ComputeLayout)
	} else if len(s.Infrastructure) > 0 {
		fmt.Fprintf(out, "Compute: %d hosts\n", s.ComputeHosts)
	}
	if len(s.Infrastructure) > 0 {
		fmt.Fprintf(out, "Infrastructure, never scheduled unless labelled: %d hosts\n", len(s.Infrastructure))
		byWhy := map[string][]string{}
		var whys []string
		for _, h := range s.Infrastructure {
			if _, ok := byWhy[h.Why]; !ok {
				whys = append(whys, h.Why)
			}
			byWhy[h.Why] = append(byWhy[h.Why], h.Name)
		}
		w := table(out)
		for _, why := range whys {
			fmt.Fprintf(w, "  %s\t%s\n", hostlist.Compress(byWhy[why]), why)
		}
		w.Flush()
	}
	for _, ch := range s.NodeChanges {
		fmt.Fprintf(out, "Nodes %s: %s\n", ch.Change, hostlist.Compress(ch.Nodes))
	}
}

func printHealth(c *ucli.Context, r *pb.FabricHealthReport) error {
	printIsolationRoutes(c, r.IsolationRoutes)
	if r.Time == nil {
		fmt.Fprintf(c.App.Writer, "No fabric health report: %s\n", r.Note)
		return nil
	}
	fmt.Fprintf(c.App.Writer, "Fabric health at %s\n", r.Time.AsTime().Local().Format("2006-01-02 15:04:05"))
	if r.Note != "" {
		fmt.Fprintf(c.App.Writer, "note: %s\n", r.Note)
	}
	all := c.Bool("all")
	w := table(c.App.Writer)
	fmt.Fprintln(w, "NODE\tHEALTH\tREASON")
	for _, n := range r.Nodes {
		if all || n.Status != "healthy" {
			fmt.Fprintf(w, "%s\t%s\t%s\n", n.Name, n.Status, orDash(n.Reason))
		}
	}
	w.Flush()
	w = table(c.App.Writer)
	fmt.Fprintln(w, "LEAF\tUPLINKS\tHEALTHY\tDEGRADED\tDOWN")
	for _, l := range r.Leaves {
		if all || l.Healthy != l.Uplinks {
			fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\n", l.Name, l.Uplinks, l.Healthy, l.Degraded, l.Down)
		}
	}
	w.Flush()
	w = table(c.App.Writer)
	fmt.Fprintln(w, "LINK\tKIND\tHEALTH\tREASON")
	for _, l := range r.Links {
		if all || l.Status != "healthy" {
			fmt.Fprintf(w, "%s <-> %s\t%s\t%s\t%s\n", l.A, l.B, l.Kind, l.Status, orDash(l.Reason))
		}
	}
	return w.Flush()
}

// readCapped reads a file the server takes at most max bytes of, refusing
// a larger one after reading no more than max+1 bytes of it.
func readCapped(path, what string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s %s is larger than %d MiB, the most ibexd imports", what, path, max>>20)
	}
	return b, nil
}
