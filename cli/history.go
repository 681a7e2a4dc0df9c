package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// parseSince reads a window bound: a duration back from now ("24h", "30d",
// or Slurm's time forms) or an RFC 3339 / YYYY-MM-DD date.
func parseSince(flag, s string, now time.Time) (*timestamppb.Timestamp, error) {
	if s == "" {
		return nil, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(d); err == nil && n > 0 && n <= 36500 {
			return timestamppb.New(now.Add(-time.Duration(n) * 24 * time.Hour)), nil
		}
	}
	if d, err := ParseTimeLimit(s); err == nil {
		return timestamppb.New(now.Add(-d)), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return timestamppb.New(t), nil
		}
	}
	return nil, fmt.Errorf("--%s %q: want a duration back from now (24h, 7d) or a date (2026-12-01, RFC 3339)", flag, s)
}

// window reads --since and --until.
func window(c *ucli.Context) (since, until *timestamppb.Timestamp, err error) {
	now := time.Now()
	if since, err = parseSince("since", c.String("since"), now); err != nil {
		return nil, nil, err
	}
	if until, err = parseSince("until", c.String("until"), now); err != nil {
		return nil, nil, err
	}
	return since, until, nil
}

func historyCmd() *ucli.Command {
	return &ucli.Command{
		Name:  "history",
		Usage: "finished jobs in a time window, live and archived (like sacct)",
		Description: `Lists jobs that ended in the window, oldest first, with their state, exit code,
run time and node-hours. Jobs that left the replicated state (--job-retention)
come from the server's archive.

Examples:
   ibex history                  # the last 24 hours
   ibex history --since 7d --tenant alice --json`,
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "since", Aliases: []string{"S"}, Usage: "jobs that ended after this: a duration back (24h, 7d) or a date", Value: "24h"},
			&ucli.StringFlag{Name: "until", Aliases: []string{"E"}, Usage: "jobs that ended before this (default: now)"},
			&ucli.StringFlag{Name: "tenant", Aliases: []string{"u"}, Usage: "only this tenant's jobs (admins)"},
			jsonFlag,
		},
		Action: withClient(func(c *ucli.Context, cl *client) error {
			since, until, err := window(c)
			if err != nil {
				return err
			}
			now := time.Now()
			ctx, cancel := cl.ctx(c.Context)
			defer cancel()
			req := &pb.HistoryRequest{Since: since, Until: until, Tenant: c.String("tenant")}
			var jobs []*pb.Job
			warning := ""
			for {
				resp, err := cl.Jobs.History(ctx, req)
				if err != nil {
					return err
				}
				jobs, warning = append(jobs, resp.Jobs...), resp.Warning
				if resp.NextCursor == "" {
					break
				}
				req.Cursor = resp.NextCursor
			}
			if warning != "" {
				fmt.Fprintf(c.App.ErrWriter, "warning: %s\n", warning)
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, jobs...)
			}
			w := table(c.App.Writer)
			fmt.Fprintln(w, "JOBID\tNAME\tTENANT\tSTATE\tEXIT\tSTART\tEND\tELAPSED\tNODES\tNODE-HOURS")
			for _, j := range jobs {
				exit := "-"
				if j.HasExitCode {
					exit = strconv.Itoa(int(j.ExitCode))
				}
				run := elapsed(j, now)
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f\n", displayID(j), printable(j.Name), printable(j.Tenant), j.State, exit,
					fmtTime(j.StartTime, j.StartTime != nil), fmtTime(j.EndTime, j.EndTime != nil), fmtDuration(run),
					printable(orDash(j.Nodelist)), float64(j.NumNodes)*run.Hours())
			}
			return w.Flush()
		}),
	}
}

func usageCmd() *ucli.Command {
	return &ucli.Command{
		Name:  "usage",
		Usage: "finished jobs and node-hours per tenant over a time window",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "since", Aliases: []string{"S"}, Usage: "jobs that ended after this: a duration back (30d) or a date", Value: "30d"},
			&ucli.StringFlag{Name: "until", Aliases: []string{"E"}, Usage: "jobs that ended before this (default: now)"},
			jsonFlag,
		},
		Action: withClient(func(c *ucli.Context, cl *client) error {
			since, until, err := window(c)
			if err != nil {
				return err
			}
			ctx, cancel := cl.ctx(c.Context)
			defer cancel()
			resp, err := cl.Jobs.Usage(ctx, &pb.UsageRequest{Since: since, Until: until})
			if err != nil {
				return err
			}
			if resp.Warning != "" {
				fmt.Fprintf(c.App.ErrWriter, "warning: %s\n", resp.Warning)
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, resp.Tenants...)
			}
			w := table(c.App.Writer)
			fmt.Fprintln(w, "TENANT\tJOBS\tCOMPLETED\tFAILED\tCANCELLED\tTIMEOUT\tNODE-HOURS")
			for _, u := range resp.Tenants {
				fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%.2f\n", printable(u.Tenant), u.Jobs, u.Completed, u.Failed, u.Cancelled, u.Timeout, u.NodeHours)
			}
			return w.Flush()
		}),
	}
}
