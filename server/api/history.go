package api

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/auth"
	"github.com/ibex-hpc/ibex/server/convert"
)

// histCursor is a position in (end time, id) order.
type histCursor struct {
	end time.Time
	id  uint64
}

func (c histCursor) String() string {
	if c.id == 0 {
		return ""
	}
	return fmt.Sprintf("%d:%d", c.end.UnixNano(), c.id)
}

func parseHistCursor(s string) (histCursor, error) {
	if s == "" {
		return histCursor{}, nil
	}
	ns, id, ok := strings.Cut(s, ":")
	n, err1 := strconv.ParseInt(ns, 10, 64)
	i, err2 := strconv.ParseUint(id, 10, 64)
	if !ok || err1 != nil || err2 != nil || i == 0 || len(s) > 48 {
		return histCursor{}, fmt.Errorf("cursor %q is not one this server returned", clip(s))
	}
	return histCursor{end: time.Unix(0, n).UTC(), id: i}, nil
}

func after(j *model.Job, c histCursor) bool {
	return c.id == 0 || cmp.Or(j.EndTime.Compare(c.end), cmp.Compare(j.ID, c.id)) > 0
}

func byEnd(a, b *model.Job) int { return cmp.Or(a.EndTime.Compare(b.EndTime), cmp.Compare(a.ID, b.ID)) }

// window is a History or Usage request's time bounds.
func window(since, until interface{ AsTime() time.Time }, hasSince, hasUntil bool) (from, to time.Time) {
	if hasSince {
		from = since.AsTime()
	}
	if hasUntil {
		to = until.AsTime()
	}
	return from, to
}

// history returns up to limit finished jobs of tenant ("" for all) that
// ended in [from, to), after cur, from the live state and this server's
// archive, merged in (end, id) order; more reports whether any are left.
func (a *API) history(from, to time.Time, tenant string, cur histCursor, limit int) (jobs []*model.Job, more bool, err error) {
	inWindow := func(j *model.Job) bool {
		return j.State.Terminal() && (from.IsZero() || !j.EndTime.Before(from)) && (to.IsZero() || j.EndTime.Before(to)) &&
			(tenant == "" || j.Tenant == tenant) && after(j, cur)
	}
	var live []*model.Job
	a.cfg.Store.Read(func(st *fsm.State) {
		for _, j := range st.Jobs {
			if inWindow(j) {
				live = append(live, j.Clone())
			}
		}
	})
	slices.SortFunc(live, byEnd)
	seen := map[uint64]bool{}
	for _, j := range live {
		seen[j.ID] = true
	}
	var archived []*model.Job
	if a.cfg.Archive != nil {
		pos := cur
		for len(archived) <= limit {
			page, nextEnd, nextID, err := a.cfg.Archive.Jobs(from, to, pos.end, pos.id, limit+1)
			next := histCursor{end: nextEnd, id: nextID}
			if err != nil {
				return nil, false, status.Errorf(codes.Internal, "reading the archive: %v", err)
			}
			for _, j := range page {
				if (tenant == "" || j.Tenant == tenant) && !seen[j.ID] {
					archived = append(archived, j)
				}
			}
			if next.id == 0 {
				break
			}
			pos = next
		}
	}
	all := append(live, archived...)
	slices.SortFunc(all, byEnd)
	if len(all) > limit {
		return all[:limit], true, nil
	}
	return all, false, nil
}

func (j *jobsService) History(ctx context.Context, req *pb.HistoryRequest) (*pb.HistoryResponse, error) {
	t := auth.Caller(ctx)
	tenant := req.Tenant
	if !t.Admin {
		if tenant != "" && tenant != t.Name {
			return nil, status.Errorf(codes.PermissionDenied, "only an admin may read another tenant's history")
		}
		tenant = t.Name
	}
	cur, err := parseHistCursor(req.Cursor)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	from, to := window(req.Since, req.Until, req.Since != nil, req.Until != nil)
	limit := min(int(req.PageSize), maxPageSize)
	if limit <= 0 {
		limit = defaultPageSize
	}
	jobs, more, err := j.a.history(from, to, tenant, cur, limit)
	if err != nil {
		return nil, err
	}
	out := &pb.HistoryResponse{}
	if j.a.cfg.Archive != nil {
		out.Warning = j.a.cfg.Archive.Warning()
	}
	page := newPage(uint32(limit))
	for _, job := range jobs {
		pj := convert.Job(job)
		if !page.add(pj) {
			more = true
			break
		}
		out.Jobs = append(out.Jobs, pj)
	}
	if more && len(out.Jobs) > 0 {
		last := jobs[len(out.Jobs)-1]
		out.NextCursor = histCursor{end: last.EndTime, id: last.ID}.String()
	}
	return out, nil
}

func (j *jobsService) Usage(ctx context.Context, req *pb.UsageRequest) (*pb.UsageResponse, error) {
	t := auth.Caller(ctx)
	tenant := ""
	if !t.Admin {
		tenant = t.Name
	}
	from, to := window(req.Since, req.Until, req.Since != nil, req.Until != nil)
	totals := map[string]*pb.TenantUsage{}
	var cur histCursor
	for {
		jobs, more, err := j.a.history(from, to, tenant, cur, maxPageSize)
		if err != nil {
			return nil, err
		}
		for _, job := range jobs {
			u := totals[job.Tenant]
			if u == nil {
				u = &pb.TenantUsage{Tenant: job.Tenant}
				totals[job.Tenant] = u
			}
			u.Jobs++
			switch job.State {
			case model.JobCompleted:
				u.Completed++
			case model.JobFailed:
				u.Failed++
			case model.JobCancelled:
				u.Cancelled++
			case model.JobTimeout:
				u.Timeout++
			}
			if !job.StartTime.IsZero() && job.EndTime.After(job.StartTime) {
				u.NodeHours += float64(len(job.Nodes)) * job.EndTime.Sub(job.StartTime).Hours()
			}
		}
		if !more || len(jobs) == 0 {
			break
		}
		last := jobs[len(jobs)-1]
		cur = histCursor{end: last.EndTime, id: last.ID}
		if err := ctx.Err(); err != nil {
			return nil, status.FromContextError(err).Err()
		}
	}
	out := &pb.UsageResponse{}
	if j.a.cfg.Archive != nil {
		out.Warning = j.a.cfg.Archive.Warning()
	}
	for _, name := range sortedKeys(totals) {
		out.Tenants = append(out.Tenants, totals[name])
	}
	return out, nil
}
