package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

func serversCmd() *ucli.Command {
	printServers := func(c *ucli.Context, resp *pb.ListServersResponse) error {
		if c.Bool("json") {
			return printJSON(c.App.Writer, resp.Servers...)
		}
		w := table(c.App.Writer)
		fmt.Fprintln(w, "ID\tRAFT\tAPI\tROLE\tSUFFRAGE")
		for _, s := range resp.Servers {
			role := "follower"
			if s.Leader {
				role = "leader"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", s.Id, s.RaftAddr, orDash(s.ApiAddr), role, s.Suffrage)
		}
		return w.Flush()
	}
	return &ucli.Command{
		Name:  "servers",
		Usage: "list or remove control-plane servers (admin)",
		Subcommands: []*ucli.Command{
			{
				Name:  "list",
				Usage: "list the raft members and which one leads",
				Flags: []ucli.Flag{jsonFlag},
				Action: withClient(func(c *ucli.Context, cl *client) error {
					ctx, cancel := cl.ctx(c.Context)
					defer cancel()
					resp, err := cl.Servers.List(ctx, &pb.ListServersRequest{})
					if err != nil {
						return err
					}
					return printServers(c, resp)
				}),
			},
			{
				Name:      "remove",
				Usage:     "remove a server from the cluster (to replace it: remove, then start a new one with --join)",
				ArgsUsage: "ID",
				Flags:     []ucli.Flag{jsonFlag},
				Action: withClient(func(c *ucli.Context, cl *client) error {
					if err := exactArgs(c, 1, "one server id"); err != nil {
						return err
					}
					ctx, cancel := cl.ctx(c.Context)
					defer cancel()
					resp, err := cl.Servers.Remove(ctx, &pb.RemoveServerRequest{Id: c.Args().First()})
					if err != nil {
						return err
					}
					return printServers(c, resp)
				}),
			},
		},
	}
}
