package trace

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// SizeMisses says, for the multi-node jobs of one range of sizes, how many
// missed the leaf lower bound and why:
//
//   - Placer: the nodes free when the job started allowed the bound, and
//     the job still spans more leaves (nodes kept for a hold or a
//     reservation, a lower switch preferred, a switch limit run out).
//   - AtOnce: the job started the moment it was submitted, on a cluster
//     whose free nodes did not allow the bound.
//   - Queued: the job waited, and when it started the free nodes did not
//     allow the bound; Held counts those that had been promised a start
//     (the head of a blocked queue).
type SizeMisses struct {
	Lo     int     `json:"min_nodes"`
	Hi     int     `json:"max_nodes"`
	Jobs   int     `json:"jobs"`
	AtLB   int     `json:"at_lower_bound"`
	Placer int     `json:"missed_placer"`
	AtOnce int     `json:"missed_at_once"`
	Queued int     `json:"missed_queued"`
	Held   int     `json:"missed_held"`
	Wait   float64 `json:"mean_wait_s"`
	BSLD   float64 `json:"mean_bounded_slowdown"`
}

// sizeRange is the power-of-two range of n: 2, 3-4, 5-8, ...
func sizeRange(n int) (lo, hi int) {
	lo, hi = 2, 2
	for hi < n {
		lo, hi = hi+1, hi*2
	}
	return lo, hi
}

// missesBySize fills m.Misses from the outcomes; lb gives each job's leaf
// lower bound.
func missesBySize(out []Outcome, lb func(int) int) []SizeMisses {
	var rows []SizeMisses
	idx := map[int]int{}
	for _, o := range out {
		j := o.Job
		if j.Nodes < 2 {
			continue
		}
		lo, hi := sizeRange(j.Nodes)
		i, ok := idx[lo]
		if !ok {
			i = len(rows)
			idx[lo] = i
			rows = append(rows, SizeMisses{Lo: lo, Hi: hi})
		}
		r := &rows[i]
		r.Jobs++
		w := (o.Start - j.Submit).Seconds()
		r.Wait += w
		r.BSLD += bsld(w, j.Run.Seconds())
		b := lb(j.Nodes)
		switch {
		case o.Leaves <= b:
			r.AtLB++
		case o.Room <= b:
			r.Placer++
		case o.Start == j.Submit:
			r.AtOnce++
		default:
			r.Queued++
			if o.Held {
				r.Held++
			}
		}
	}
	for i := range rows {
		rows[i].Wait /= float64(rows[i].Jobs)
		rows[i].BSLD /= float64(rows[i].Jobs)
	}
	sortRows(rows)
	return rows
}

func sortRows(rows []SizeMisses) {
	for i := 1; i < len(rows); i++ {
		for j := i; j > 0 && rows[j].Lo < rows[j-1].Lo; j-- {
			rows[j], rows[j-1] = rows[j-1], rows[j]
		}
	}
}

// WriteMisses prints, per policy and job size, where the multi-node jobs
// missed the leaf lower bound and why (see SizeMisses).
func WriteMisses(w io.Writer, r *Report) error {
	for _, m := range r.Results {
		fmt.Fprintf(w, "%s: misses of the leaf lower bound by job size\n", m.Policy)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "nodes\tjobs\tat LB\tmissed\tplacer\tat once\tqueued\t(held)\tmean wait\tmean bsld\t")
		for _, s := range m.Misses {
			label := fmt.Sprint(s.Lo)
			if s.Hi > s.Lo {
				label = fmt.Sprintf("%d-%d", s.Lo, s.Hi)
			}
			miss := s.Jobs - s.AtLB
			fmt.Fprintf(tw, "%s\t%d\t%.1f%%\t%d\t%d\t%d\t%d\t(%d)\t%s\t%.2f\t\n", label, s.Jobs, 100*float64(s.AtLB)/float64(s.Jobs),
				miss, s.Placer, s.AtOnce, s.Queued, s.Held, dur(s.Wait), s.BSLD)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(w, "placer: the free nodes allowed the bound; at once: started on submission on a fragmented cluster; queued: waited, then started fragmented (held: after a promise)")
	return err
}
