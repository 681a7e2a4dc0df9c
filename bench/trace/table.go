package trace

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// WriteTable prints a report for people: one row per policy.
func WriteTable(w io.Writer, r *Report) error {
	fmt.Fprintf(w, "%s: %d jobs (%d records, %d bad, %d unusable, %d ran past their request), %d nodes on %d leaves of %d, %d levels\n",
		r.Trace, r.Jobs, r.Records, r.BadRecords, r.Skipped.Total(), r.Skipped.OverLimits, r.Nodes, r.Leaves, r.LeafSize, r.Levels)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "policy\tutil\tmean wait\tp95 wait\tmean bsld\tmakespan\tat LB\tat LB|room\texcess\tsim time\t")
	for _, m := range r.Results {
		fmt.Fprintf(tw, "%s\t%.1f%%\t%s\t%s\t%.2f\t%s\t%.1f%%\t%.1f%%\t%.3f\t%.2fs\t\n",
			m.Policy, 100*m.Utilization, dur(m.MeanWait), dur(m.P95Wait), m.MeanBSLD, dur(m.Makespan),
			100*m.AtLB, 100*m.AtLBRoom, m.MeanExcess, m.Elapsed)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, m := range r.Results {
		if m.Unstarted > 0 {
			fmt.Fprintf(w, "  %s: %d jobs never started\n", m.Policy, m.Unstarted)
		}
	}
	_, err := fmt.Fprintf(w, "elapsed %.2fs\n", r.Elapsed)
	return err
}

// dur prints seconds as a short duration: 42s, 17m03s, 5h07m, 12d03h.
func dur(s float64) string {
	d := time.Duration(s * float64(time.Second)).Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}
