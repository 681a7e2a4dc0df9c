package cli

import (
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/nodeagent/bmc/credfile"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// `ibex nodes bmc set`: register a node's BMC with ibexd; and the --image
// flag of submit, alloc and run, which the BMC's deployments honour.

// imageFlag asks for a catalog image on the job's nodes.
func imageFlag() ucli.Flag {
	return &ucli.StringFlag{Name: "image", Usage: "catalog image `NAME:VERSION` the nodes must run (see `ibex images list`); nodes " +
		"that do not carry it are imaged through their BMC before the job starts"}
}

func bmcCmd() *ucli.Command {
	return &ucli.Command{
		Name:  "bmc",
		Usage: "nodes' BMCs, through which ibexd powers, boots and fences them (admin)",
		Subcommands: []*ucli.Command{{
			Name:      "set",
			Usage:     "register NODE's BMC with ibexd",
			ArgsUsage: "NODE",
			Description: `Registers the Redfish BMC of NODE: its base URL, which of its systems is the
node (--system, needed on BMCs with several), the login and optionally the CA
its certificate must chain to. The credentials file is JSON,
{"username": "...", "password": "..."}, readable by its owner only (chmod 600).

ibexd seals the login with its key-encryption key (--secrets-key-file) before
it enters the replicated state; it is never shown again (` + "`ibex nodes show`" + ` says
"credentials: set"). The node is then inspected through the BMC (its inventory
cross-checked with the node agent's report) and cleaned before anyone gets
it; registering a BMC again starts that over. A node that holds a job is
refused: drain it first.`,
			Flags: []ucli.Flag{
				&ucli.StringFlag{Name: "endpoint", Required: true, Usage: "the BMC's base `URL`, e.g. https://10.0.0.17"},
				&ucli.StringFlag{Name: "system", Usage: "the Redfish ComputerSystem `ID` (when the BMC has several)"},
				&ucli.StringFlag{Name: "credentials-file", Required: true, Usage: "JSON `FILE` with username and password, mode 0600"},
				&ucli.StringFlag{Name: "ca-file", Usage: "PEM `FILE` of the CA the BMC's certificate must chain to"},
			},
			Action: withClient(func(c *ucli.Context, cl *client) error {
				if err := exactArgs(c, 1, "one node name"); err != nil {
					return err
				}
				creds, err := credfile.Read(c.String("credentials-file"))
				if err != nil {
					return err
				}
				req := &pb.SetBMCRequest{Node: c.Args().First(), Endpoint: c.String("endpoint"), SystemId: c.String("system"),
					Username: creds.Username, Password: creds.Password.Reveal()}
				if f := c.String("ca-file"); f != "" {
					if req.CaPem, err = readSmallFile(f, model.MaxBMCCABytes); err != nil {
						return err
					}
				}
				ctx, cancel := cl.ctx(c.Context)
				defer cancel()
				n, err := cl.Nodes.SetBMC(ctx, req)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "Registered the BMC of %s; provisioning: %s\n", n.Name, n.Provision)
				return nil
			}),
		}},
	}
}

// readSmallFile reads a file of at most max bytes.
func readSmallFile(path string, max int) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(max)+1))
	if err != nil {
		return "", err
	}
	if len(b) > max {
		return "", fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return string(b), nil
}

// printBMC adds a node's BMC and provisioning to `ibex nodes show`.
func printBMC(w *tabwriter.Writer, b *pb.NodeBMC) {
	if b == nil {
		fmt.Fprintf(w, "BMC:\t-\n")
		return
	}
	sys := ""
	if b.SystemId != "" {
		sys = ", system " + printable(b.SystemId)
	}
	ca := ""
	if b.CaPinned {
		ca = ", CA pinned"
	}
	fmt.Fprintf(w, "BMC:\t%s%s, credentials: %s (key %s)%s\n", printable(b.Endpoint), sys, b.Credentials, printable(b.KeyId), ca)
	p := b.Provision
	if b.Step != "" {
		p += " (step " + b.Step + ")"
	}
	if b.JobId != 0 {
		p += fmt.Sprintf(", job %d", b.JobId)
	}
	if b.Image != "" {
		p += ", image " + printable(b.Image)
	}
	if b.Attempts > 0 {
		p += fmt.Sprintf(", attempt %d of %d", b.Attempts+1, b.AttemptBudget)
	}
	if b.Since != nil {
		p += ", since " + b.Since.AsTime().Local().Format(time.RFC3339)
	}
	fmt.Fprintf(w, "Provisioning:\t%s\n", p)
	if b.Reason != "" {
		fmt.Fprintf(w, "  why:\t%s\n", printable(b.Reason))
	}
}
