package agentpath

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ibex-hpc/ibex/client"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// Where a tiny job's node cycle goes, from the records ibexd keeps anyway:
// the jobs' submit/start/end times (stamped by the leader) and every node's
// chain-of-custody ledger (each hygiene step's start and the commit of its
// result, the partition confirmation, the stop of the job, the hand-out
// check, "cleaned"). Each node's events of the throughput run are put in
// time order, and every gap between two consecutive events is one phase
// "A -> B": the table prints each phase's median, mean and its share of
// all the node-time in the run. Nothing is added to ibexd for it, so the
// same breakdown is taken of a -base-ibexd binary.

// event is one point of a node's timeline.
type event struct {
	at   time.Time
	name string
}

// phaseStats is one phase's gaps, in ms.
type phaseStats struct {
	gaps []float64
}

// phases collects the timelines of every node since from and prints the
// breakdown; label names the mode.
func phases(c *client.Client, from time.Time, label string) string {
	ctx := c.Context(context.Background())
	timelines := map[string][]event{}
	// Jobs of the run: submit, start and end on each of their nodes.
	var after uint64
	for {
		r, err := c.Jobs.List(ctx, &pb.ListJobsRequest{States: []string{"completed", "failed"}, PageSize: 5000, AfterId: after})
		if err != nil {
			return fmt.Sprintf("phases: list jobs: %v\n", err)
		}
		for _, j := range r.Jobs {
			if j.SubmitTime.AsTime().Before(from) {
				continue
			}
			for _, n := range j.Nodes {
				timelines[n] = append(timelines[n],
					event{j.StartTime.AsTime(), "job started"},
					event{j.EndTime.AsTime(), "job ended"})
			}
		}
		if r.NextAfterId == 0 {
			break
		}
		after = r.NextAfterId
	}
	// Ledgers: each step's start (when the leader sent it) and its result.
	for node := range timelines {
		d, err := c.Fleet.NodeDetail(ctx, &pb.NodeDetailRequest{Node: node})
		if err != nil {
			return fmt.Sprintf("phases: node detail %s: %v\n", node, err)
		}
		for _, e := range d.Ledger {
			at := e.Time.AsTime()
			if at.Before(from) {
				continue
			}
			step := e.Step
			if !e.Ok {
				step += "(failed)"
			}
			if e.Start != nil && e.Start.IsValid() && !e.Start.AsTime().IsZero() && e.Start.AsTime().Before(at) && step != "cleaned" && step != "stop" {
				timelines[node] = append(timelines[node], event{e.Start.AsTime(), step + " sent"})
			}
			timelines[node] = append(timelines[node], event{at, step + " done"})
		}
	}
	stats := map[string]*phaseStats{}
	var total float64
	cycles := 0
	for _, tl := range timelines {
		sort.SliceStable(tl, func(i, k int) bool { return tl[i].at.Before(tl[k].at) })
		for i := 1; i < len(tl); i++ {
			// The idle time before a node's first job of the run and after
			// its last is not part of a cycle.
			name := tl[i-1].name + " -> " + tl[i].name
			gap := float64(tl[i].at.Sub(tl[i-1].at).Microseconds()) / 1000
			s := stats[name]
			if s == nil {
				s = &phaseStats{}
				stats[name] = s
			}
			s.gaps = append(s.gaps, gap)
			total += gap
			if tl[i].name == "job started" {
				cycles++
			}
		}
	}
	names := make([]string, 0, len(stats))
	for n := range stats {
		names = append(names, n)
	}
	sum := func(xs []float64) (t float64) {
		for _, x := range xs {
			t += x
		}
		return
	}
	slices.SortFunc(names, func(a, b string) int { return int(sum(stats[b].gaps) - sum(stats[a].gaps)) })
	var t strings.Builder
	fmt.Fprintf(&t, "\nphases of a node's cycle, %s: %d nodes, %d job starts after the first; node-time %.1f s, %.1f ms per cycle\n",
		label, len(timelines), cycles, total/1000, total/max(float64(cycles), 1))
	fmt.Fprintf(&t, "  %-52s %7s %9s %9s %7s\n", "phase (previous event -> next event)", "count", "p50 ms", "mean ms", "share")
	for _, n := range names {
		g := stats[n].gaps
		if sum(g) < total/500 {
			continue // below 0.2 %: noise
		}
		fmt.Fprintf(&t, "  %-52s %7d %9.2f %9.2f %6.1f%%\n", n, len(g), median(g), sum(g)/float64(len(g)), 100*sum(g)/total)
	}
	return t.String()
}
