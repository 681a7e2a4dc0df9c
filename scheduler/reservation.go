package scheduler

import (
	"slices"
	"time"
)

// Reservation books Nodes nodes for Tenant from Start to End. Before Start
// its nodes run only jobs that end by Start; during it they run only the
// tenant's jobs that name it. Hosts pins the nodes; when it is empty,
// Schedule picks them (topology-aware, among nodes that will be free by
// Start) and reports the choice in Plan.Pins so the caller can store it.
type Reservation struct {
	Name     string
	Tenant   string
	Nodes    int
	Features []string
	Start    time.Time
	End      time.Time
	Hosts    []string
}

// Pin is the nodes Schedule chose for a reservation without Hosts.
type Pin struct {
	Reservation string
	Nodes       []string
}

type resv struct {
	*Reservation
	hosts []int32
}

// conflicts reports whether a job not belonging to the reservation, running
// over [start, end), would overlap it.
func (rv *resv) conflicts(r *Request, start, end time.Time) bool {
	if r != nil && r.Reservation == rv.Name && r.Tenant == rv.Tenant {
		return false
	}
	return start.Before(rv.End) && end.After(rv.Start)
}

// pin resolves every live reservation to hosts: given hosts first, then the
// others in start order, each avoiding those before it.
func (ps *pass) pin(s *Snapshot, plan *Plan) {
	var todo []*Reservation
	for i := range s.Reservations {
		r := &s.Reservations[i]
		if !r.End.After(ps.now) || r.Nodes <= 0 && len(r.Hosts) == 0 {
			continue
		}
		if len(r.Hosts) == 0 {
			todo = append(todo, r)
			continue
		}
		rv := &resv{Reservation: r}
		for _, name := range r.Hosts {
			if h, ok := ps.t.hostIdx[name]; ok {
				rv.hosts = append(rv.hosts, h)
			}
		}
		ps.res = append(ps.res, rv)
	}
	slices.SortStableFunc(todo, func(a, b *Reservation) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return natCompare(a.Name, b.Name)
	})
	for _, r := range todo {
		at := r.Start
		if at.Before(ps.now) {
			at = ps.now
		}
		prof := ps.future(at)
		for _, o := range ps.res {
			if r.Start.Before(o.End) && r.End.After(o.Start) {
				prof.setAll(o.hosts, false, nil)
			}
		}
		hs := prof.view(r.Features).place(r.Nodes, 0)
		if hs == nil {
			plan.Unpinned = append(plan.Unpinned, r.Name)
			continue
		}
		ps.res = append(ps.res, &resv{Reservation: r, hosts: hs})
		plan.Pins = append(plan.Pins, Pin{Reservation: r.Name, Nodes: ps.names(hs)})
	}
}

// placeInReservation places a job that names a reservation: only inside it,
// only while it is active, and only if the job ends before it does.
func (ps *pass) placeInReservation(r *Request) []int32 {
	var rv *resv
	for _, o := range ps.res {
		if o.Name == r.Reservation && o.Tenant == r.Tenant {
			rv = o
		}
	}
	if rv == nil || ps.now.Before(rv.Start) || ps.now.Add(r.walltime()).After(rv.End) {
		return nil
	}
	tmp := newOccupancy(ps.t)
	copy(tmp.lfree, ps.occ.lfree)
	for _, h := range rv.hosts {
		if ps.occ.free[h] {
			tmp.set(h, true)
		}
	}
	return ps.placeOn(tmp.view(r.Features), r, ps.now, 0)
}
