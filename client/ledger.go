package client

import (
	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// LedgerFromPB turns a node's ledger as the API sends it back into the
// model's entries, whose hash chain model.VerifyChain checks on the
// reader's side. Every hashed field must come back exactly: Start and End
// are unset (nil) in entries from before they were recorded and stay zero.
func LedgerFromPB(es []*pb.LedgerEntry) []model.LedgerEntry {
	out := make([]model.LedgerEntry, 0, len(es))
	for _, e := range es {
		m := model.LedgerEntry{Time: e.GetTime().AsTime(), Step: e.Step, Actor: e.Actor, OK: e.Ok, Evidence: e.Evidence,
			JobID: e.JobId, Tenant: e.Tenant, Seq: e.Seq, Prev: e.Prev, Hash: e.Hash}
		if e.Start != nil {
			m.Start = e.Start.AsTime()
		}
		if e.End != nil {
			m.End = e.End.AsTime()
		}
		out = append(out, m)
	}
	return out
}
