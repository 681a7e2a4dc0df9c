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
	if r.Fabric != "" {
		fmt.Fprintf(w, "on fabric %s: %d compute hosts (%d infrastructure hosts left out), leaves of up to %d\n", r.Fabric, r.Nodes, r.Infra, r.LeafSize)
	}
	if r.MaxIsolated > 0 {
		fmt.Fprintf(w, "POLICY+links: every multi-node job link-isolated (scheduler/links.go); at most %d nodes can run isolated, %d bigger jobs ran without\n", r.MaxIsolated, r.TooBigToIsolate)
	}
	pods := r.Levels >= 3
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "policy\tutil\tmean wait\tp95 wait\tmean bsld\tmakespan\tat leaf LB\texcess leaves\t"
	if pods {
		head += "at pod LB\texcess pods\t"
	}
	fmt.Fprintln(tw, head+"sim time\t")
	for _, m := range r.Results {
		fmt.Fprintf(tw, "%s\t%.1f%%\t%s\t%s\t%.2f\t%s\t%.1f%%\t%.3f\t",
			m.Policy, 100*m.Utilization, dur(m.MeanWait), dur(m.P95Wait), m.MeanBSLD, dur(m.Makespan),
			100*m.AtLB, m.MeanExcess)
		if pods {
			fmt.Fprintf(tw, "%.1f%%\t%.3f\t", 100*m.AtPodLB, m.MeanExcessPods)
		}
		fmt.Fprintf(tw, "%.2fs\t\n", m.Elapsed)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "at leaf LB: share of all multi-node jobs on the fewest leaves their size needs (real leaf sizes); goal: >= 95% with mean bsld <= EASY's")
	fmt.Fprintln(w, "at leaf LB by the job's lower bound (jobs in the bucket):")
	for _, m := range r.Results {
		fmt.Fprintf(w, "  %-10s", m.Policy)
		for _, b := range buckets(m.BySize) {
			fmt.Fprintf(w, "  %s %5.1f%% (%d)", b.label, 100*b.at/float64(b.jobs), b.jobs)
		}
		fmt.Fprintln(w)
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

type bucket struct {
	label  string
	jobs   int
	at     float64 // jobs at the bound
	lo, hi int
}

// buckets groups size classes by powers of two of the bound (1, 2, 3-4,
// 5-8, ...) so the table stays one line per policy.
func buckets(cs []SizeClass) []bucket {
	var out []bucket
	for _, c := range cs {
		lo, hi := 1, 1
		for hi < c.LB {
			lo, hi = hi+1, hi*2
		}
		if len(out) == 0 || out[len(out)-1].lo != lo {
			label := fmt.Sprintf("LB%d", lo)
			if hi > lo {
				label = fmt.Sprintf("LB%d-%d", lo, hi)
			}
			out = append(out, bucket{label: label, lo: lo, hi: hi})
		}
		b := &out[len(out)-1]
		b.jobs += c.Jobs
		b.at += c.AtLB * float64(c.Jobs)
	}
	return out
}
