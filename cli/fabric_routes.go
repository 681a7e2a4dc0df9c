package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// printIsolationRoutes says whether the switches' forwarding tables
// enforce link isolation (`ibex fabric health`).
func printIsolationRoutes(c *ucli.Context, r *pb.IsolationRoutes) {
	if r == nil || r.Time == nil {
		return
	}
	w := c.App.Writer
	when := r.Time.AsTime().Local().Format("2006-01-02 15:04:05")
	switch {
	case r.Error != "":
		fmt.Fprintf(w, "Link isolation routes (%s): NOT ENFORCED: %s\n", when, r.Error)
	case !r.Loaded:
		fmt.Fprintf(w, "Link isolation routes (%s): no job holds cables; the subnet manager routes by itself\n", when)
	case len(r.Violations) == 0 && len(r.Conflicts) == 0:
		fmt.Fprintf(w, "Link isolation routes (%s): enforced for job(s) %v, tables read back from the switches and checked\n", when, r.Jobs)
	default:
		fmt.Fprintf(w, "Link isolation routes (%s): loaded for job(s) %v, %d conflict(s), %d violation(s) in the tables read back\n", when, r.Jobs, len(r.Conflicts), len(r.Violations))
	}
	for _, s := range r.Conflicts {
		fmt.Fprintf(w, "  conflict: %s\n", s)
	}
	for _, s := range r.Violations {
		fmt.Fprintf(w, "  violation: %s\n", s)
	}
}
