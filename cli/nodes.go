package cli

import (
	"fmt"
	"strings"

	ucli "github.com/urfave/cli/v2"

	ibexclient "github.com/ibex-hpc/ibex/client"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

func nodesCmd() *ucli.Command {
	return &ucli.Command{
		Name:        "nodes",
		Usage:       "list nodes with their state, leaf switch, job, tenant and features",
		Flags:       []ucli.Flag{jsonFlag},
		Subcommands: nodeSubcommands(),
		Action: withClient(func(c *ucli.Context, cl *client) error {
			ctx, cancel := cl.ctx(c.Context)
			defer cancel()
			nodes, err := ibexclient.AllNodes(ctx, cl.Nodes)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, nodes...)
			}
			w := table(c.App.Writer)
			fmt.Fprintln(w, "NODE\tSTATE\tLEAF\tJOB\tTENANT\tFEATURES\tREASON")
			for _, n := range nodes {
				job := "-"
				if n.JobId != 0 {
					job = fmt.Sprint(n.JobId)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", printable(n.Name), n.State, printable(orDash(n.Leaf)), job, printable(orDash(n.Tenant)), printable(orDash(strings.Join(n.Features, ","))), printable(orDash(n.DrainReason)))
			}
			return w.Flush()
		}),
	}
}

func drainCmd() *ucli.Command {
	return &ucli.Command{
		Name:      "drain",
		Usage:     "take a node out of scheduling (admin); a busy node finishes its job first",
		ArgsUsage: "NODE",
		Flags:     []ucli.Flag{&ucli.StringFlag{Name: "reason", Usage: "why: a short `TEXT`, shown by ibex nodes (required)", Required: true}},
		Action: withClient(func(c *ucli.Context, cl *client) error {
			if err := exactArgs(c, 1, "one node name"); err != nil {
				return err
			}
			ctx, cancel := cl.ctx(c.Context)
			defer cancel()
			n, err := cl.Nodes.Drain(ctx, &pb.DrainRequest{Node: c.Args().First(), Reason: c.String("reason")})
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "Node %s %s\n", n.Name, n.State)
			return nil
		}),
	}
}

func undrainCmd() *ucli.Command {
	return &ucli.Command{
		Name:      "undrain",
		Usage:     "return a drained node to scheduling (admin)",
		ArgsUsage: "NODE",
		Action: withClient(func(c *ucli.Context, cl *client) error {
			if err := exactArgs(c, 1, "one node name"); err != nil {
				return err
			}
			ctx, cancel := cl.ctx(c.Context)
			defer cancel()
			n, err := cl.Nodes.Undrain(ctx, &pb.UndrainRequest{Node: c.Args().First()})
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "Node %s %s\n", n.Name, n.State)
			return nil
		}),
	}
}
