package cluster

import (
	"io"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/ibex-hpc/ibex/raft/fsm"
)

// Archive receives the records that fsm.ExpireRecords entries remove from
// the live state (raft/archive implements it). The FSM stays pure: this
// adapter does the I/O, on raft's apply goroutine, so a batch is stored
// before any snapshot can contain its removal.
type Archive interface {
	// BeginExpiry is called before an expiry entry is applied and
	// EndExpiry after it, with its result (nil if the entry failed).
	BeginExpiry()
	EndExpiry(*fsm.Expired) error
	// Restored is called after a snapshot replaced the state, with the
	// state's expiry mark.
	Restored(fsm.Expiry) error
}

// archivingFSM is raftFSM with expiries handed to an archive.
type archivingFSM struct {
	*raftFSM
	archive Archive
	log     hclog.Logger
}

// adapter is the raft.FSM for f: archiving when cfg has an archive.
func adapter(f *fsm.FSM, cfg Config) raft.FSM {
	if cfg.Archive == nil {
		return (*raftFSM)(f)
	}
	return &archivingFSM{raftFSM: (*raftFSM)(f), archive: cfg.Archive, log: cfg.Logger}
}

func (a *archivingFSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand || !fsm.IsExpiry(l.Data) {
		return a.raftFSM.Apply(l)
	}
	a.archive.BeginExpiry()
	res := (*fsm.FSM)(a.raftFSM).ApplyEntry(l.Index, l.Data)
	e, _ := res.Value.(*fsm.Expired)
	if res.Err != nil {
		e = nil
	}
	if err := a.archive.EndExpiry(e); err != nil {
		// Other servers still hold the records; this archive notes the
		// gap when the next batch arrives.
		a.log.Error("archive: expired records not stored on this server", "index", l.Index, "error", err)
	}
	return res
}

func (a *archivingFSM) Restore(rc io.ReadCloser) error {
	if err := a.raftFSM.Restore(rc); err != nil {
		return err
	}
	if err := a.archive.Restored((*fsm.FSM)(a.raftFSM).ExpiryMark()); err != nil {
		a.log.Error("archive: cannot record the records this snapshot expired before it", "error", err)
	}
	return nil
}
