package cli

import (
	"fmt"
	"time"

	ucli "github.com/urfave/cli/v2"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

func allocCmd() *ucli.Command {
	return &ucli.Command{
		Name:  "alloc",
		Usage: "create an interactive allocation and print its nodes",
		Description: `Reserves whole nodes for you without running anything on them; it ends with
` + "`ibex release ALLOC`" + ` or at its time limit. By default alloc waits until the nodes
are granted. Example: ibex alloc -N 8 -t 1h`,
		Flags: []ucli.Flag{
			&ucli.IntFlag{Name: "nodes", Aliases: []string{"N"}, Usage: "number of whole nodes", Value: 1},
			&ucli.StringFlag{Name: "time", Aliases: []string{"t"}, Usage: "time limit: 30m, 2h, MM, HH:MM:SS or D-HH:MM:SS", Value: "1h"},
			&ucli.StringFlag{Name: "name", Usage: "allocation name"},
			&ucli.StringFlag{Name: "switches", Usage: "at most `[LEVEL:]N[@WAIT]` switches (leaf switches, or pod: pods), waiting up to WAIT for such a placement"},
			&ucli.StringFlag{Name: "constraint", Aliases: []string{"C"}, Usage: "node `FEATURES` every node must carry, comma-separated"},
			imageFlag(), firmwareProfileFlag(), isolationFlag(),
			&ucli.BoolFlag{Name: "no-wait", Usage: "print the id and return at once"},
			&ucli.DurationFlag{Name: "wait", Usage: "how long to wait for the nodes", Value: 10 * time.Minute},
			jsonFlag,
		},
		Action: withClient(func(c *ucli.Context, cl *client) error {
			req, err := jobRequest(c, true)
			if err != nil {
				return err
			}
			ctx, cancel := cl.ctx(c.Context)
			resp, err := cl.Jobs.Submit(ctx, req)
			cancel()
			if err != nil {
				return err
			}
			id := resp.JobId
			if c.Bool("no-wait") {
				return report(c, cl, id)
			}
			if !c.Bool("json") {
				fmt.Fprintf(c.App.ErrWriter, "allocation %d queued, waiting for nodes...\n", id)
			}
			deadline := time.Now().Add(c.Duration("wait"))
			for {
				ctx, cancel := cl.ctx(c.Context)
				j, err := cl.Jobs.Get(ctx, &pb.GetJobRequest{JobId: id})
				cancel()
				if err != nil {
					return err
				}
				switch {
				case j.State == "running":
					return report(c, cl, id)
				case j.State != "pending" && j.State != "scheduled":
					return fmt.Errorf("allocation %d ended as %s: %s", id, j.State, orDash(j.Reason))
				case time.Now().After(deadline):
					return fmt.Errorf("allocation %d still %s after %s; it stays queued (release it with `ibex release %d`)", id, j.State, c.Duration("wait"), id)
				}
				time.Sleep(200 * time.Millisecond)
			}
		}),
	}
}

func report(c *ucli.Context, cl *client, id uint64) error {
	ctx, cancel := cl.ctx(c.Context)
	defer cancel()
	j, err := cl.Jobs.Get(ctx, &pb.GetJobRequest{JobId: id})
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printOneJSON(c.App.Writer, j)
	}
	if j.Nodelist == "" {
		fmt.Fprintf(c.App.Writer, "Allocation %d %s\n", id, j.State)
		return nil
	}
	fmt.Fprintf(c.App.Writer, "Allocation %d granted: %s\n", id, j.Nodelist)
	return nil
}

func releaseCmd() *ucli.Command {
	return &ucli.Command{
		Name:      "release",
		Usage:     "end an interactive allocation",
		ArgsUsage: "ALLOC",
		Action: withClient(func(c *ucli.Context, cl *client) error {
			id, err := jobArg(c, "one allocation id")
			if err != nil {
				return err
			}
			ctx, cancel := cl.ctx(c.Context)
			defer cancel()
			if _, err := cl.Jobs.Release(ctx, &pb.ReleaseRequest{JobId: id, RequestId: newRequestID()}); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "Released allocation %d\n", id)
			return nil
		}),
	}
}
