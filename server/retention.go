package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/archive"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/auth"
	"github.com/ibex-hpc/ibex/server/convert"
)

// Retention keeps the replicated state bounded: the leader proposes
// fsm.ExpireRecords for finished jobs and ledger entries older than
// Config.JobRetention, and every server's raft adapter moves what that
// removes into its own archive (DATADIR/archive, see raft/archive), which
// `ibex show JOB` and `ibex nodes history NODE` fall back to.
//
// A server that caught up from a snapshot (a new or long-lagging server)
// has no archive of what expired before that snapshot: other servers do.
// Its lookups that miss say so instead of claiming the record never existed.

const (
	// maxArchivedLedger is how many archived entries NodeDetail adds in
	// front of a node's live ledger (the latest ones).
	maxArchivedLedger = 500
)

// openArchive opens this server's archive in DATADIR/archive.
func openArchive(cfg Config) (*archive.Archive, error) {
	a, err := archive.Open(filepath.Join(cfg.DataDir, "archive"))
	if err != nil {
		return nil, err
	}
	if st := a.Stats(); st.TornBytes > 0 {
		cfg.Logger.Warn("archive: dropped the torn tail of an interrupted append; raft re-applies it", "bytes", st.TornBytes)
	}
	return a, nil
}

// startRetention runs the expiry loop while this server leads.
func (s *Server) startRetention(ctx context.Context, wg *sync.WaitGroup) {
	if s.cfg.JobRetention <= 0 {
		return
	}
	wg.Add(1)
	go func() { defer wg.Done(); s.retention(ctx) }()
}

// retentionEvery is once a minute, or ten times per retention period when
// that is shorter than ten minutes (tests).
func retentionEvery(r time.Duration) time.Duration {
	return min(time.Minute, max(r/10, 20*time.Millisecond))
}

func (s *Server) retention(ctx context.Context) {
	log := s.log.With("component", "retention")
	t := time.NewTicker(retentionEvery(s.cfg.JobRetention))
	defer t.Stop()
	for {
		s.expireDue(ctx, log)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// expireDue proposes expiries while records older than the retention
// period are live; it proposes nothing when none are.
func (s *Server) expireDue(ctx context.Context, log *slog.Logger) {
	before := s.store.Now().Add(-s.cfg.JobRetention)
	var jobs, ledger int
	s.fsm.Read(func(st *fsm.State) { jobs, ledger = st.ExpiryBacklog(before) })
	limit := fsm.ExpiryLimit(jobs, ledger)
	for due := jobs+ledger > 0; due && ctx.Err() == nil; {
		v, err := s.store.Apply(ctx, &fsm.ExpireRecords{Before: before, Limit: limit})
		if err != nil {
			log.Warn("expire records", "err", err)
			return
		}
		e := v.(*fsm.Expired)
		if e.Seq != 0 {
			log.Info("archived expired records", "jobs", len(e.Jobs), "ledger_entries", len(e.Ledger), "ended_before", before.Format(time.RFC3339))
		}
		due = e.More
	}
}

// archivedJob answers Jobs.Get for a job that is not live: from this
// server's archive if the caller may see it, else the live lookup's error
// miss, saying when this archive may lack the job.
func (s *Server) archivedJob(ctx context.Context, id uint64, miss error) (*pb.Job, error) {
	if s.archive == nil {
		return nil, miss
	}
	j, err := s.archive.Job(id)
	if err != nil && !errors.Is(err, archive.ErrNotFound) {
		return nil, status.Errorf(codes.Internal, "job %d: %v", id, err)
	}
	if t := auth.Caller(ctx); j != nil && t != nil && (t.Admin || j.Tenant == t.Name) {
		return convert.Job(j), nil
	}
	var next uint64
	s.fsm.Read(func(st *fsm.State) { next = st.NextJobID })
	if note, _ := s.archiveGapNote(); note != "" && id < next {
		return nil, status.Errorf(codes.NotFound, "job %d not found (%s)", id, note)
	}
	return nil, miss
}

// archiveGapNote says what this server's archive misses, or "", and the
// time before which records may be missing.
func (s *Server) archiveGapNote() (string, time.Time) {
	var before time.Time
	for _, g := range s.archive.Gaps() {
		if g.Before.After(before) {
			before = g.Before
		}
	}
	if before.IsZero() {
		return "", before
	}
	return fmt.Sprintf("this server caught up from a snapshot and has no archive of some records that ended before %s; another server may have it: retry with --stale against it",
		before.Format(time.RFC3339)), before
}

// archivedLedger is the node's latest archived ledger entries, to put in
// front of its live ledger. Notes (step "archive") say when older entries
// are left out or this server's archive has a gap.
func (s *Server) archivedLedger(node string) []*pb.LedgerEntry {
	if s.archive == nil {
		return nil
	}
	_, total, _ := s.archive.NodeLedger(node, 0, 1)
	start := max(0, total-maxArchivedLedger)
	es, _, err := s.archive.NodeLedger(node, start, maxArchivedLedger)
	var out []*pb.LedgerEntry
	note := func(at time.Time, text string) {
		out = append(out, &pb.LedgerEntry{Time: timestamppb.New(at), Step: "archive", Actor: "ibexd", Ok: true, Evidence: text})
	}
	if gap, at := s.archiveGapNote(); gap != "" {
		note(at, gap) // sorted among the entries: older ones may be missing
	}
	var first time.Time
	if len(es) > 0 {
		first = es[0].Time
	}
	if start > 0 {
		note(first, fmt.Sprintf("%d older archived entries not shown", start))
	}
	if err != nil {
		note(first, fmt.Sprintf("reading the archive: %v", err))
		out[len(out)-1].Ok = false
	}
	for _, e := range es {
		out = append(out, convert.LedgerEntry(e))
	}
	return out
}

// archiveLookup is the API's view of this server's archive.
type archiveLookup struct{ s *Server }

func (a archiveLookup) Job(ctx context.Context, id uint64, miss error) (*pb.Job, error) {
	return a.s.archivedJob(ctx, id, miss)
}
func (a archiveLookup) Ledger(node string) []*pb.LedgerEntry { return a.s.archivedLedger(node) }

func (a archiveLookup) Jobs(from, to, afterEnd time.Time, afterID uint64, limit int) ([]*model.Job, time.Time, uint64, error) {
	if a.s.archive == nil {
		return nil, time.Time{}, 0, nil
	}
	jobs, next, err := a.s.archive.Jobs(from, to, archive.Cursor{End: afterEnd, ID: afterID}, limit)
	return jobs, next.End, next.ID, err
}

func (a archiveLookup) Warning() string {
	if a.s.archive == nil {
		return ""
	}
	note, _ := a.s.archiveGapNote()
	return note
}
