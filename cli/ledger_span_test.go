package cli

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// TestLedgerSpan: the START and TOOK columns of `ibex nodes history`,
// and "-" for entries from before they were recorded.
func TestLedgerSpan(t *testing.T) {
	end := time.Date(2026, 3, 1, 11, 19, 0, 0, time.Local)
	e := func(start time.Time) *pb.LedgerEntry {
		return &pb.LedgerEntry{Time: timestamppb.New(end), Start: timestamppb.New(start), End: timestamppb.New(end)}
	}
	for _, tc := range []struct {
		e           *pb.LedgerEntry
		start, took string
	}{
		{&pb.LedgerEntry{Time: timestamppb.New(end)}, "-", "-"},
		{e(end.Add(-90 * time.Second)), "11:17:30", "1m30s"},
		{e(end.Add(-1500 * time.Millisecond)), "11:18:58", "1.5s"},
		{e(end), "11:19:00", "0s"},
		{e(end.Add(-26 * time.Hour)), "2026-02-28T09:19:00", "26h0m0s"},
	} {
		if start, took := ledgerSpan(tc.e); start != tc.start || took != tc.took {
			t.Errorf("got %s %s, want %s %s", start, took, tc.start, tc.took)
		}
	}
}
