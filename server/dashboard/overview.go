package dashboard

import (
	"sort"
	"time"

	"github.com/ibex-hpc/ibex/hostlist"
	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// Overview is the body of GET /api/v1/overview. API.md documents each field.
type Overview struct {
	Index     uint64    `json:"index"`
	Generated time.Time `json:"generated"`
	Viewer    Viewer    `json:"viewer"`
	// Aggregated says Nodes lists only the expanded leaves' nodes, and the
	// leaves' summaries stand for the rest.
	Aggregated bool       `json:"aggregated"`
	Fabric     Fabric     `json:"fabric"`
	Nodes      []NodeTile `json:"nodes"`
	Counts     Counts     `json:"counts"`
	Queue      JobList    `json:"queue"`
	Running    JobList    `json:"running"`
}

// Fabric is the picture: spines above leaves, and the links worth
// highlighting.
type Fabric struct {
	Spines []string `json:"spines"`
	Leaves []Leaf   `json:"leaves"`
	Links  []Link   `json:"links"`
}

// Leaf summarises the nodes under one leaf switch.
type Leaf struct {
	Name  string `json:"name"`
	Nodes int    `json:"nodes"`
	// States counts nodes by display state (ready, allocated, cleaning,
	// down, drained, draining).
	States map[string]int `json:"states"`
	// Tenants counts allocated nodes by tenant as the viewer may see it.
	Tenants  map[string]int `json:"tenants"`
	Expanded bool           `json:"expanded"`
	// Uplinks names the spines this leaf is cabled to; absent when it is
	// cabled to all of them (a fat tree), which keeps big overviews small.
	Uplinks []string `json:"uplinks,omitempty"`
}

// Link is a degraded or down link between two named ends (a spine and a
// leaf, or a leaf and a node). Healthy links are not listed: the fat tree
// implies them.
type Link struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Health string `json:"health"` // "degraded" or "down"
	Detail string `json:"detail,omitempty"`
}

// NodeTile is what one node's square in the picture needs.
type NodeTile struct {
	Name   string `json:"name"`
	Leaf   string `json:"leaf"`
	State  string `json:"state"`
	Tenant string `json:"tenant,omitempty"`
	Job    uint64 `json:"job,omitempty"`
}

// Counts are whole-cluster totals, exact even when lists are capped.
type Counts struct {
	Nodes map[string]int `json:"nodes"`
	Jobs  map[string]int `json:"jobs"`
}

// JobList is the head of a list of jobs and the list's full length.
type JobList struct {
	Total int      `json:"total"`
	Jobs  []JobRow `json:"jobs"`
}

// JobRow is one job as the viewer may see it. ID, Name and Nodelist are
// left out of other tenants' jobs.
type JobRow struct {
	ID          uint64    `json:"id,omitempty"`
	Name        string    `json:"name,omitempty"`
	Tenant      string    `json:"tenant"`
	State       string    `json:"state"`
	NumNodes    int       `json:"num_nodes"`
	Interactive bool      `json:"interactive,omitempty"`
	Nodelist    string    `json:"nodelist,omitempty"`
	SubmitTime  time.Time `json:"submit_time"`
	StartTime   time.Time `json:"start_time,omitzero"`
	TimeLimit   int64     `json:"time_limit_s"`
}

// jobRow shows j to v.
func jobRow(v Viewer, j *model.Job) JobRow {
	r := JobRow{Tenant: v.label(j.Tenant), State: string(j.State), NumNodes: j.NumNodes, Interactive: j.Interactive,
		SubmitTime: j.SubmitTime, StartTime: j.StartTime, TimeLimit: int64(j.TimeLimit / time.Second)}
	if v.sees(j.Tenant) {
		r.ID, r.Name = j.ID, j.Name
		if len(j.Nodes) > 0 {
			r.Nodelist = hostlist.Compress(j.Nodes)
		}
	}
	return r
}

// tile shows node n to v; owner is the tenant of the node's job, if any.
func tile(v Viewer, n *model.Node, owner string) NodeTile {
	t := NodeTile{Name: n.Name, Leaf: n.Leaf, State: n.DisplayState(), Tenant: v.label(owner)}
	if v.sees(owner) {
		t.Job = n.JobID
	}
	return t
}

// owner is the tenant whose job holds n, or "".
func owner(st *fsm.State, n *model.Node) string {
	if j, ok := st.Jobs[n.JobID]; ok && n.JobID != 0 {
		return j.Tenant
	}
	return ""
}

// buildOverview turns the state into what v may see. expand names leaves
// whose nodes to list even when the overview is aggregated.
func (h *Handler) buildOverview(st *fsm.State, v Viewer, expand map[string]bool) *Overview {
	nodes := st.SortedNodes()
	ov := &Overview{
		Index: st.Index, Generated: h.opts.now(), Viewer: v,
		Aggregated: len(nodes) > h.opts.AggregateAbove,
		Fabric:     Fabric{Spines: []string{}, Leaves: []Leaf{}, Links: []Link{}},
		Nodes:      []NodeTile{},
		Counts:     Counts{Nodes: map[string]int{}, Jobs: map[string]int{}},
	}
	var sw Switches
	if h.opts.Switches != nil {
		sw = h.opts.Switches()
		ov.Fabric.Spines = append(ov.Fabric.Spines, sw.Spines...)
	}
	if h.opts.Links != nil {
		ov.Fabric.Links = append(ov.Fabric.Links, h.opts.Links()...)
	}
	leaves := map[string]*Leaf{}
	for _, n := range nodes {
		who := owner(st, n)
		t := tile(v, n, who)
		ov.Counts.Nodes[t.State]++
		l := leaves[n.Leaf]
		if l == nil {
			l = &Leaf{Name: n.Leaf, States: map[string]int{}, Tenants: map[string]int{}, Expanded: !ov.Aggregated || expand[n.Leaf],
				Uplinks: sw.Uplinks[n.Leaf]}
			leaves[n.Leaf] = l
		}
		l.Nodes++
		l.States[t.State]++
		if t.Tenant != "" {
			l.Tenants[t.Tenant]++
		}
		if l.Expanded {
			ov.Nodes = append(ov.Nodes, t)
		}
	}
	for _, l := range leaves {
		ov.Fabric.Leaves = append(ov.Fabric.Leaves, *l)
	}
	sort.Slice(ov.Fabric.Leaves, func(i, j int) bool { return ov.Fabric.Leaves[i].Name < ov.Fabric.Leaves[j].Name })
	ov.Queue.Jobs, ov.Running.Jobs = []JobRow{}, []JobRow{}
	for _, j := range st.SortedJobs() {
		ov.Counts.Jobs[string(j.State)]++
		list := &ov.Running
		switch {
		case j.State == model.JobPending:
			list = &ov.Queue
		case !j.State.Active():
			continue
		}
		list.Total++
		if len(list.Jobs) < h.opts.MaxJobs {
			list.Jobs = append(list.Jobs, jobRow(v, j))
		}
	}
	return ov
}
