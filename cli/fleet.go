package cli

import (
	"fmt"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"
	"google.golang.org/protobuf/types/known/durationpb"

	ibexclient "github.com/ibex-hpc/ibex/client"
	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// Commands for node agents, images and node hygiene (admin).

func agentCmd() *ucli.Command {
	return &ucli.Command{
		Name:  "agent",
		Usage: "enroll node agents (admin)",
		Subcommands: []*ucli.Command{{
			Name:      "token",
			Usage:     "create a single-use join token for NODE's agent",
			ArgsUsage: "NODE",
			Description: `Prints what ibex-agent needs to enroll: the token (valid once, for this
node, until --ttl), the cluster CA's SHA-256 pin (the agent checks the server
against it before sending the token), and the servers' agent addresses.

On real machines (ibexd without --simulate) NODE may be a new name: the
agent's enrollment creates the node, and the port GUIDs it reports place it
on the imported fabric (see ibexd --help).`,
			Flags: []ucli.Flag{&ucli.DurationFlag{Name: "ttl", Usage: "how long the token is valid", Value: time.Hour}, jsonFlag},
			Action: withClient(func(c *ucli.Context, cl *client) error {
				if err := exactArgs(c, 1, "one node name"); err != nil {
					return err
				}
				ctx, cancel := cl.ctx(c.Context)
				defer cancel()
				resp, err := cl.Fleet.CreateJoinToken(ctx, &pb.CreateJoinTokenRequest{Node: c.Args().First(), Ttl: durationpb.New(c.Duration("ttl"))})
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return printOneJSON(c.App.Writer, resp)
				}
				fmt.Fprintf(c.App.Writer, "token:        %s\nca-pin:       %s\nagent-addrs:  %s\ngossip-seeds: %s\n",
					resp.Token, resp.CaPin, strings.Join(resp.AgentAddrs, ","), strings.Join(resp.GossipSeeds, ","))
				return nil
			}),
		}},
	}
}

func imagesCmd() *ucli.Command {
	return &ucli.Command{
		Name:  "images",
		Usage: "the OS image catalog: the public one (admins add) and your own (tenants add)",
		Subcommands: []*ucli.Command{
			{
				Name:      "add",
				Usage:     "add an image (an admin: to the public catalog; a tenant: to its own, http(s) only); agents refuse bytes whose size, SHA-256 or block hashes differ",
				ArgsUsage: "NAME:VERSION",
				Flags: []ucli.Flag{
					&ucli.StringFlag{Name: "sha256", Required: true, Usage: "64 lowercase hex digits"},
					&ucli.Uint64Flag{Name: "size", Required: true, Usage: "exact size in bytes"},
					&ucli.StringFlag{Name: "url", Required: true, Usage: "http(s):// or file:// source"},
					&ucli.StringFlag{Name: "file", Usage: "a local copy of the image `PATH`, read to record its block hashes (default: read --url)"},
				},
				Action: withClient(func(c *ucli.Context, cl *client) error {
					if err := exactArgs(c, 1, "NAME:VERSION"); err != nil {
						return err
					}
					name, version, ok := strings.Cut(c.Args().First(), ":")
					if !ok {
						return fmt.Errorf("image must be NAME:VERSION, got %q", c.Args().First())
					}
					ctx, cancel := cl.ctx(c.Context)
					defer cancel()
					req := &pb.Image{Name: name, Version: version, Size: c.Uint64("size"), Sha256: c.String("sha256"), SourceUrl: c.String("url")}
					if err := imageBlocks(ctx, req, c.String("file")); err != nil {
						return err
					}
					img, err := cl.Fleet.AddImage(ctx, req)
					if err != nil {
						return err
					}
					if img.Owner != "" {
						fmt.Fprintf(c.App.Writer, "Added %s:%s (yours: only your jobs see and run it)\n", img.Name, img.Version)
					} else {
						fmt.Fprintf(c.App.Writer, "Added %s:%s\n", img.Name, img.Version)
					}
					return nil
				}),
			},
			{
				Name:  "list",
				Usage: "list the catalog",
				Flags: []ucli.Flag{jsonFlag},
				Action: withClient(func(c *ucli.Context, cl *client) error {
					ctx, cancel := cl.ctx(c.Context)
					defer cancel()
					resp, err := cl.Fleet.ListImages(ctx, &pb.ListImagesRequest{})
					if err != nil {
						return err
					}
					if c.Bool("json") {
						return printJSON(c.App.Writer, resp.Images...)
					}
					w := table(c.App.Writer)
					fmt.Fprintln(w, "IMAGE\tSIZE\tSHA256\tOWNER\tSOURCE")
					for _, i := range resp.Images {
						owner := i.Owner
						if owner == "" {
							owner = "(public)"
						}
						fmt.Fprintf(w, "%s:%s\t%d\t%.16s…\t%s\t%s\n", i.Name, i.Version, i.Size, i.Sha256, owner, i.SourceUrl)
					}
					return w.Flush()
				}),
			},
			imagesRemoveCmd(), // tenantimage.go
		},
	}
}

// nodeSubcommands are `ibex nodes show|history|watch|label|revoke|bmc`.
func nodeSubcommands() []*ucli.Command {
	return []*ucli.Command{
		bmcCmd(), // bmc.go
		{
			Name:      "show",
			Usage:     "a node's state, hardware, firmware, image, task progress and recent hygiene (admin)",
			ArgsUsage: "NODE",
			Flags:     []ucli.Flag{jsonFlag},
			Action: withClient(func(c *ucli.Context, cl *client) error {
				d, err := nodeDetail(c, cl)
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return printOneJSON(c.App.Writer, d)
				}
				printNodeDetail(c, d)
				return nil
			}),
		},
		{
			Name:      "history",
			Usage:     "a node's chain of custody: every step with its tenancy, actor and evidence",
			ArgsUsage: "NODE",
			Description: `Admins see the whole ledger; the tenant holding a node sees what happened to
it since the previous tenancy ended (the previous tenant's name redacted).
--verify checks the chain: every entry's hash, and that each entry follows
the one before it, so an edited or removed entry is reported.`,
			Flags: []ucli.Flag{jsonFlag, &ucli.BoolFlag{Name: "verify", Usage: "check the hash chain and exit non-zero if it is broken"}},
			Action: withClient(func(c *ucli.Context, cl *client) error {
				d, err := nodeDetail(c, cl)
				if err != nil {
					return err
				}
				if c.Bool("verify") {
					n, err := model.VerifyChain(ibexclient.LedgerFromPB(d.Ledger))
					if err != nil {
						return fmt.Errorf("%s: chain of custody broken after %d verified entries: %w", d.Node.GetName(), n, err)
					}
					fmt.Fprintf(c.App.Writer, "%s: chain of custody verified: %d entries\n", d.Node.GetName(), n)
					return nil
				}
				if c.Bool("json") {
					return printJSON(c.App.Writer, d.Ledger...)
				}
				w := table(c.App.Writer)
				fmt.Fprintln(w, "SEQ\tTIME\tSTEP\tOK\tSTART\tTOOK\tACTOR\tJOB\tTENANT\tEVIDENCE")
				for _, e := range d.Ledger {
					job, seq := "-", "-"
					if e.JobId != 0 {
						job = fmt.Sprint(e.JobId)
					}
					if e.Seq != 0 {
						seq = fmt.Sprint(e.Seq)
					}
					start, took := ledgerSpan(e)
					fmt.Fprintf(w, "%s\t%s\t%s\t%v\t%s\t%s\t%s\t%s\t%s\t%s\n", seq, e.Time.AsTime().Local().Format("2006-01-02 15:04:05"), printable(e.Step), e.Ok,
						start, took, printable(e.Actor), job, printable(orDash(e.Tenant)), printable(e.Evidence))
				}
				return w.Flush()
			}),
		},
		{
			Name:      "watch",
			Usage:     "redraw a node's state and task progress every second (Ctrl-C to stop)",
			ArgsUsage: "NODE",
			Flags:     []ucli.Flag{&ucli.IntFlag{Name: "count", Usage: "stop after this many updates (0: never)"}},
			Action: withClient(func(c *ucli.Context, cl *client) error {
				for i := 0; c.Int("count") == 0 || i < c.Int("count"); i++ {
					if i > 0 {
						time.Sleep(time.Second)
					}
					d, err := nodeDetail(c, cl)
					if err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "%s  %-10s %s\n", time.Now().Format("15:04:05"), d.Node.State, progressLine(d.Progress))
				}
				return nil
			}),
		},
		{
			Name:      "label",
			Usage:     "set a node's feature labels (admin); jobs ask for them with --constraint",
			ArgsUsage: "NODE [FEATURE,FEATURE...]",
			Description: `Replaces NODE's labels, e.g. ` + "`ibex nodes label node005 gpu,a100`" + `;
with no features the labels are cleared.`,
			Action: withClient(func(c *ucli.Context, cl *client) error {
				if c.NArg() < 1 || c.NArg() > 2 {
					return fmt.Errorf("label takes a node and a comma-separated feature list")
				}
				var fs []string
				if c.NArg() == 2 {
					fs = splitList(c.Args().Get(1))
				}
				ctx, cancel := cl.ctx(c.Context)
				defer cancel()
				n, err := cl.Nodes.Label(ctx, &pb.LabelRequest{Node: c.Args().First(), Features: fs})
				if err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "Node %s features: %s\n", n.Name, orDash(strings.Join(n.Features, ",")))
				return nil
			}),
		},
		{
			Name:      "revoke",
			Usage:     "revoke a node agent's certificate and drain the node (admin)",
			ArgsUsage: "NODE",
			Flags:     []ucli.Flag{&ucli.StringFlag{Name: "reason", Required: true, Usage: "why"}},
			Action: withClient(func(c *ucli.Context, cl *client) error {
				if err := exactArgs(c, 1, "one node name"); err != nil {
					return err
				}
				ctx, cancel := cl.ctx(c.Context)
				defer cancel()
				n, err := cl.Fleet.Revoke(ctx, &pb.RevokeRequest{Node: c.Args().First(), Reason: c.String("reason")})
				if err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "Revoked the agent of %s; node %s\n", n.Name, n.State)
				return nil
			}),
		},
	}
}

func nodeDetail(c *ucli.Context, cl *client) (*pb.NodeDetailResponse, error) {
	if err := exactArgs(c, 1, "one node name"); err != nil {
		return nil, err
	}
	ctx, cancel := cl.ctx(c.Context)
	defer cancel()
	return cl.Fleet.NodeDetail(ctx, &pb.NodeDetailRequest{Node: c.Args().First()})
}

func printNodeDetail(c *ucli.Context, d *pb.NodeDetailResponse) {
	w := table(c.App.Writer)
	n := d.Node
	job := "-"
	if n.JobId != 0 {
		job = fmt.Sprint(n.JobId)
	}
	fmt.Fprintf(w, "Node:\t%s\nState:\t%s\nReason:\t%s\nLeaf:\t%s\nJob:\t%s\nAgent:\t%s\nImage:\t%s\nTask:\t%s\n",
		n.Name, n.State, orDash(n.DrainReason), orDash(n.Leaf), job, d.Agent, orDash(d.Image), progressLine(d.Progress))
	printBMC(w, d.Bmc) // bmc.go
	if inv := d.Inventory; inv != nil {
		for _, h := range inv.Hcas {
			fmt.Fprintf(w, "HCA %s:\tfirmware %s, PSID %s, GUID %s\n", h.Name, h.FwVersion, orDash(h.Psid), orDash(h.NodeGuid))
			for _, p := range h.Ports {
				fmt.Fprintf(w, "  port %d:\t%s, %s, GUID %s\n", p.Number, p.State, p.Rate, orDash(p.Guid))
			}
		}
		for _, f := range inv.BmcFirmware {
			v := f.Version
			if !f.Known {
				v += " (not reported by the BMC)"
			}
			fmt.Fprintf(w, "BMC firmware %s:\t%s\n", f.Name, v)
		}
	}
	w.Flush()
	if k := len(d.Ledger); k > 0 {
		fmt.Fprintf(c.App.Writer, "Last hygiene step: %s ok=%v (%s); `ibex nodes history %s` for all %d\n",
			d.Ledger[k-1].Step, d.Ledger[k-1].Ok, d.Ledger[k-1].Time.AsTime().Local().Format(time.RFC3339), n.Name, k)
	}
}

// progressLine draws a task's progress as a bar.
func progressLine(p *pb.TaskProgress) string {
	if p == nil {
		return "-"
	}
	if p.Total == 0 {
		return fmt.Sprintf("%s: %d bytes", p.Id, p.Done)
	}
	const width = 30
	frac := float64(p.Done) / float64(p.Total)
	filled := int(frac * width)
	if filled > width {
		filled = width
	}
	return fmt.Sprintf("%s [%s%s] %5.1f%%", p.Id, strings.Repeat("#", filled), strings.Repeat(".", width-filled), frac*100)
}

// splitList splits "a,b, c" into its non-empty items.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// ledgerSpan is an entry's START and TOOK columns: when its step began
// (the time of day, with the date when that differs from the entry's)
// and how long it ran until its end; "-" for entries from before they
// were recorded.
func ledgerSpan(e *pb.LedgerEntry) (start, took string) {
	if e.Start == nil || e.End == nil {
		return "-", "-"
	}
	s, end := e.Start.AsTime().Local(), e.End.AsTime().Local()
	start = s.Format("15:04:05")
	if s.Format(time.DateOnly) != e.Time.AsTime().Local().Format(time.DateOnly) {
		start = s.Format("2006-01-02T15:04:05")
	}
	d := end.Sub(s)
	switch {
	case d >= time.Minute:
		d = d.Round(time.Second)
	case d >= time.Second:
		d = d.Round(time.Millisecond)
	}
	return start, d.String()
}
