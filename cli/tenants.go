package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

func tenantCmd() *ucli.Command {
	return &ucli.Command{
		Name:  "tenant",
		Usage: "manage tenants (admin)",
		Subcommands: []*ucli.Command{
			{
				Name:      "create",
				Usage:     "create a tenant and print its token (shown once; only its digest is stored)",
				ArgsUsage: "NAME",
				Flags:     []ucli.Flag{&ucli.BoolFlag{Name: "admin", Usage: "the tenant may see everything and drain nodes"}, jsonFlag},
				Action: withClient(func(c *ucli.Context, cl *client) error {
					if err := exactArgs(c, 1, "one tenant name"); err != nil {
						return err
					}
					ctx, cancel := cl.ctx(c.Context)
					defer cancel()
					resp, err := cl.Tenants.Create(ctx, &pb.CreateTenantRequest{Name: c.Args().First(), Admin: c.Bool("admin")})
					if err != nil {
						return err
					}
					if c.Bool("json") {
						return printOneJSON(c.App.Writer, resp)
					}
					fmt.Fprintln(c.App.Writer, resp.Token)
					return nil
				}),
			},
			{
				Name:  "list",
				Usage: "list tenants",
				Action: withClient(func(c *ucli.Context, cl *client) error {
					ctx, cancel := cl.ctx(c.Context)
					defer cancel()
					resp, err := cl.Tenants.List(ctx, &pb.ListTenantsRequest{})
					if err != nil {
						return err
					}
					w := table(c.App.Writer)
					fmt.Fprintln(w, "TENANT\tADMIN")
					for _, t := range resp.Tenants {
						fmt.Fprintf(w, "%s\t%v\n", t.Name, t.Admin)
					}
					return w.Flush()
				}),
			},
		},
	}
}

func whoamiCmd() *ucli.Command {
	return &ucli.Command{
		Name:  "whoami",
		Usage: "print the tenant your token belongs to",
		Action: withClient(func(c *ucli.Context, cl *client) error {
			ctx, cancel := cl.ctx(c.Context)
			defer cancel()
			t, err := cl.Tenants.WhoAmI(ctx, &pb.WhoAmIRequest{})
			if err != nil {
				return err
			}
			role := "tenant"
			if t.Admin {
				role = "admin"
			}
			fmt.Fprintf(c.App.Writer, "%s (%s)\n", t.Name, role)
			return nil
		}),
	}
}
