package server

import (
	"context"
	"time"

	"github.com/ibex-hpc/ibex/raft/fsm"
)

// flushCommits works around a property of hashicorp/raft's pipelined
// replication: followers learn the commit index only with the next
// AppendEntries that carries entries, so after a burst of writes the last
// batch stays unapplied on followers until something else is written
// (heartbeats carry no commit index). Stale reads and convergence checks
// would see that lag forever on an idle cluster. When the log has been
// quiet for a moment after a write, the leader appends a barrier, whose
// replication carries the commit index of everything before it.
func (s *Server) flushCommits(ctx context.Context) {
	const quiet = 200 * time.Millisecond
	var flushed, last uint64
	t := time.NewTicker(quiet)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var idx uint64
		s.fsm.Read(func(st *fsm.State) { idx = st.Index })
		if idx != last { // still busy: wait for a quiet tick
			last = idx
			continue
		}
		if idx == flushed {
			continue
		}
		bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := s.cluster.Barrier(bctx); err == nil {
			flushed = idx
		}
		cancel()
	}
}
