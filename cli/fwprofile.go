package cli

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	ucli "github.com/urfave/cli/v2"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// `ibex firmware profile add|list|remove` (admin approves; anyone lists)
// and the --firmware-profile flag of submit, alloc and run.

func firmwareProfileFlag() ucli.Flag {
	return &ucli.StringFlag{Name: "firmware-profile", Usage: "an approved firmware profile `NAME` the nodes run for this job (see `ibex firmware profile list`); " +
		"applied before the job starts, the baseline restored and verified before the nodes are clean again"}
}

func firmwareCmd() *ucli.Command {
	return &ucli.Command{
		Name:  "firmware",
		Usage: "firmware profiles tenants may ask for (admin approves)",
		Subcommands: []*ucli.Command{{
			Name:  "profile",
			Usage: "approved firmware profiles",
			Subcommands: []*ucli.Command{
				profileAddCmd(),
				{
					Name:  "list",
					Usage: "list the approved profiles",
					Flags: []ucli.Flag{jsonFlag},
					Action: withClient(func(c *ucli.Context, cl *client) error {
						ctx, cancel := cl.ctx(c.Context)
						defer cancel()
						resp, err := cl.Fleet.ListFirmwareProfiles(ctx, &pb.ListFirmwareProfilesRequest{})
						if err != nil {
							return err
						}
						if c.Bool("json") {
							return printJSON(c.App.Writer, resp.Profiles...)
						}
						return printProfiles(c, resp.Profiles)
					}),
				},
				{
					Name:      "remove",
					Usage:     "withdraw a profile no job asks for and no node runs (admin)",
					ArgsUsage: "NAME",
					Action: withClient(func(c *ucli.Context, cl *client) error {
						if err := exactArgs(c, 1, "one profile name"); err != nil {
							return err
						}
						ctx, cancel := cl.ctx(c.Context)
						defer cancel()
						if _, err := cl.Fleet.RemoveFirmwareProfile(ctx, &pb.RemoveFirmwareProfileRequest{Name: c.Args().First()}); err != nil {
							return err
						}
						fmt.Fprintf(c.App.Writer, "Removed firmware profile %s\n", c.Args().First())
						return nil
					}),
				},
			},
		}},
	}
}

func profileAddCmd() *ucli.Command {
	return &ucli.Command{
		Name:      "add",
		Usage:     "approve a firmware profile (admin)",
		ArgsUsage: "NAME",
		Description: `An hca profile names, for HCAs of one board id (--psid), the firmware they
run (--version, with the image file's --sha256 and its --file name in the
agents' firmware directory; omit all three to keep the baseline pin's
firmware) and/or mstconfig settings (--set KEY=VALUE, repeatable). A bios
profile (--kind bios) holds Redfish BIOS attributes (--set Attr=Value), which
the leader applies through the nodes' BMCs (nodes need one: ibex nodes bmc set).

  ibex firmware profile add sriov --psid MT_0000000223 --set SRIOV_EN=1 --set NUM_OF_VFS=8
  ibex firmware profile add turbo-off --kind bios --set ProcTurboMode=Disabled
  ibex firmware profile add cx6-new --psid MT_0000000223 --version 20.32.1010 \
      --sha256 <64 hex> --file fw-ConnectX6-20.32.1010.bin`,
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "kind", Value: "hca", Usage: "hca or bios"},
			&ucli.StringFlag{Name: "psid", Usage: "the HCA board id (PSID) the rule is for"},
			&ucli.StringFlag{Name: "version", Usage: "firmware version the HCAs run"},
			&ucli.StringFlag{Name: "sha256", Usage: "SHA-256 of the firmware image file (64 lowercase hex)"},
			&ucli.StringFlag{Name: "file", Usage: "the image's file name in the agents' firmware directory"},
			&ucli.StringSliceFlag{Name: "set", Usage: "a setting `KEY=VALUE` (mstconfig parameter, or BIOS attribute); repeatable"},
			&ucli.StringFlag{Name: "description", Usage: "what the profile is for"},
			jsonFlag,
		},
		Action: withClient(func(c *ucli.Context, cl *client) error {
			if err := exactArgs(c, 1, "one profile name"); err != nil {
				return err
			}
			settings := map[string]string{}
			for _, kv := range c.StringSlice("set") {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return fmt.Errorf("--set %q: want KEY=VALUE", kv)
				}
				if _, dup := settings[k]; dup {
					return fmt.Errorf("--set %s given twice", k)
				}
				settings[k] = v
			}
			req := &pb.FirmwareProfile{Name: c.Args().First(), Kind: c.String("kind"), Description: c.String("description")}
			switch req.Kind {
			case "bios":
				if c.String("psid") != "" || c.String("version") != "" {
					return fmt.Errorf("a bios profile takes only --set Attr=Value")
				}
				req.Bios = settings
			default:
				req.Hca = []*pb.HCAProfileRule{{Psid: c.String("psid"), Version: c.String("version"), Sha256: c.String("sha256"),
					File: c.String("file"), Config: settings}}
			}
			ctx, cancel := cl.ctx(c.Context)
			defer cancel()
			p, err := cl.Fleet.AddFirmwareProfile(ctx, req)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printOneJSON(c.App.Writer, p)
			}
			fmt.Fprintf(c.App.Writer, "Approved firmware profile %s (%s)\n", p.Name, p.Kind)
			return nil
		}),
	}
}

func printProfiles(c *ucli.Context, ps []*pb.FirmwareProfile) error {
	w := table(c.App.Writer)
	fmt.Fprintln(w, "NAME\tKIND\tCHANGES\tAPPROVED BY\tDESCRIPTION")
	for _, p := range ps {
		var changes []string
		for _, r := range p.Hca {
			what := r.Psid + ":"
			if r.Version != "" {
				what += " fw " + r.Version
			}
			for _, k := range slices.Sorted(maps.Keys(r.Config)) {
				what += " " + k + "=" + r.Config[k]
			}
			changes = append(changes, what)
		}
		for _, k := range slices.Sorted(maps.Keys(p.Bios)) {
			changes = append(changes, k+"="+p.Bios[k])
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", p.Name, p.Kind, strings.Join(changes, "; "), p.ApprovedBy, p.Description)
	}
	return w.Flush()
}
