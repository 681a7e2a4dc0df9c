package cli

import (
	"fmt"
	"strings"

	ucli "github.com/urfave/cli/v2"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// `ibex images remove`: a tenant removes its own image, an admin any.
func imagesRemoveCmd() *ucli.Command {
	return &ucli.Command{
		Name:      "remove",
		Usage:     "remove an image no job asks for and no node carries (a tenant: its own; an admin: any)",
		ArgsUsage: "NAME:VERSION",
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
			if _, err := cl.Fleet.RemoveImage(ctx, &pb.RemoveImageRequest{Name: name, Version: version}); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "Removed %s:%s\n", name, version)
			return nil
		}),
	}
}
