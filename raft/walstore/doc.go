// Package walstore is a raft.LogStore and raft.StableStore for
// hashicorp/raft that costs exactly one fdatasync per StoreLogs batch.
//
// Why it exists: raft-boltdb commits every batch as a bbolt transaction,
// which is two fsyncs (data pages, then the meta page). Raft persists on the
// leader and then on the followers one after the other, so on a three-server
// cluster every submission pays at least four fsyncs of latency. On the
// machines ibex runs on an fdatasync costs milliseconds, so the log store,
// not the network or the FSM, bounds how fast jobs are accepted. A raft log
// is append-only with truncation at either end, which a plain write-ahead
// log handles with one write and one fdatasync per batch.
//
// hashicorp/raft-wal v0.4.1 does the same and is offered beside it
// (--log-store raftwal). raft/cluster's store_test.go runs the same crash
// tests on all three stores and `make bench-logstore` compares their
// throughput; this store stays the default because raft-wal v0.4.1 fails
// its crash-at-segment-roll test (it takes no more writes afterwards).
//
// On-disk layout of the directory given to Open:
//
//	00000000000000000001.wal  segment files, named by the index of their first
//	                          record; one length-prefixed, CRC32C-checked
//	                          record per raft.Log (see record.go)
//	meta                      the logical first index after compaction, so a
//	                          restart does not resurrect compacted entries
//	stable                    the StableStore's keys (CurrentTerm, votes, ...)
//	LOCK                      flock'ed so two processes cannot share the dir
//
// meta and stable are tiny and rewritten atomically (temp file, fsync,
// rename, directory fsync); they change only on elections and compaction,
// never on the append path.
//
// The log must be contiguous: StoreLogs rejects a gap, and DeleteRange
// supports only what raft does (drop a prefix after a snapshot, drop a suffix
// on a conflict, drop everything after installing a snapshot). The store
// therefore reports itself as a raft.MonotonicLogStore, which makes raft
// clear the log after installing a snapshot instead of relying on a gap.
package walstore
