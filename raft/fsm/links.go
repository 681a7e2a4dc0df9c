package fsm

import (
	"slices"
	"strings"

	"github.com/ibex-hpc/ibex/model"
)

// Link isolation (scheduler/links.go): an isolated job's allocation
// carries the uplinks ("leaf>spine") the scheduler chose for it, and the
// state records them on the job (model.Job.Links) for as long as it holds
// its nodes. The scheduler reads them back from the active jobs, so what a
// job holds is replicated with its allocation and never recomputed from a
// fabric that may have changed since.
//
// The FSM checks what it can without the fabric: only isolated jobs hold
// links, each link leaves one of the job's own leaf switches, no link is
// listed twice, and no link is held by another active job. The last one
// is the invariant: two plans made from the same stale view cannot both
// get a cable.

// Limits on Allocate.Links, so a bad plan cannot bloat the log: a job
// holds at most (its nodes) links per leaf, and names are switch names.
const (
	maxLinkName = 256
	maxLinks    = 1 << 16
)

// IsolationLinks mirrors scheduler.IsolationLinks (the FSM does not
// import the scheduler).
const IsolationLinks = "links"

// checkIsolation validates a submitted job's isolation mode.
func checkIsolation(j *model.Job) error {
	switch j.Isolation {
	case "", IsolationLinks:
		return nil
	}
	return errorf(ErrInvalid, "unknown isolation %q (want links, or none)", j.Isolation)
}

// checkLinks validates an allocation's links for job j on nodes.
func (s *State) checkLinks(j *model.Job, nodes, links []string) error {
	if len(links) == 0 {
		return nil
	}
	if j.Isolation != IsolationLinks {
		return errorf(ErrInvalid, "job %d is not link-isolated: its allocation cannot hold links", j.ID)
	}
	if len(links) > maxLinks {
		return errorf(ErrInvalid, "allocation of job %d holds %d links, the limit is %d", j.ID, len(links), maxLinks)
	}
	leaves := map[string]bool{}
	for _, n := range nodes {
		leaves[s.Nodes[n].Leaf] = true
	}
	seen := make(map[string]bool, len(links))
	for _, l := range links {
		leaf, spine, ok := strings.Cut(l, ">")
		if !ok || leaf == "" || spine == "" || len(l) > maxLinkName {
			return errorf(ErrInvalid, "link %.64q: want LEAF>SPINE of at most %d bytes", l, maxLinkName)
		}
		if !leaves[leaf] {
			return errorf(ErrInvalid, "link %s does not leave one of job %d's leaf switches", l, j.ID)
		}
		if seen[l] {
			return errorf(ErrInvalid, "link %s twice in the plan of job %d", l, j.ID)
		}
		seen[l] = true
	}
	for id := range s.idx.active {
		o := s.Jobs[id]
		for _, l := range o.Links {
			if seen[l] {
				return errorf(ErrConflict, "link %s is held by job %d", l, o.ID)
			}
		}
	}
	return nil
}

// sortedLinks is the copy of links the job records.
func sortedLinks(links []string) []string {
	if len(links) == 0 {
		return nil
	}
	out := slices.Clone(links)
	slices.Sort(out)
	return out
}
