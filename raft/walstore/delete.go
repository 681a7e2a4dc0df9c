package walstore

import (
	"fmt"
	"os"
	"sort"
)

// DeleteRange removes entries from through to inclusive. Raft asks for
// three shapes, and only those are supported:
//
//   - a prefix, after a snapshot (compactLogs): the floor is persisted
//     first, then segments wholly below it are unlinked; entries in a
//     partially covered segment stay on disk but are invisible;
//   - a suffix, when a follower's log conflicts with the leader's:
//     later segments are unlinked newest first and the segment holding
//     from is truncated at from's record, so a crash at any point leaves a
//     prefix of the old log;
//   - everything, after installing or restoring a snapshot.
//
// The parts of [from, to] outside the log are ignored, as in
// raft.InmemStore. A range strictly inside the log would leave a hole and
// fails with ErrUnsupportedDelete.
func (s *Store) DeleteRange(from, to uint64) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	if s.first == 0 || from > to || to < s.first || from > s.last {
		return nil
	}
	lo, hi := max(from, s.first), min(to, s.last)
	switch {
	case lo == s.first && hi == s.last:
		return s.deleteAll()
	case lo == s.first:
		return s.deletePrefix(hi)
	case hi == s.last:
		return s.deleteSuffix(lo)
	default:
		return fmt.Errorf("%w: DeleteRange(%d, %d) would leave a hole in the log [%d, %d]", ErrUnsupportedDelete, from, to, s.first, s.last)
	}
}

// deleteAll empties the log. The floor moves past the old last index before
// any unlink, so a crash half way leaves only invisible segments, which
// the next Open removes.
func (s *Store) deleteAll() error {
	if err := s.setFloor(s.last + 1); err != nil {
		return s.fail(err)
	}
	s.mu.Lock()
	dropped := s.segs
	s.segs, s.first, s.last = nil, 0, 0
	clear(s.cache)
	s.mu.Unlock()
	return s.removeSegments(dropped)
}

// deletePrefix makes hi+1 the first index.
func (s *Store) deletePrefix(hi uint64) error {
	if err := s.setFloor(hi + 1); err != nil {
		return s.fail(err)
	}
	s.mu.Lock()
	k := 0
	for k < len(s.segs)-1 && s.segs[k].last() <= hi {
		k++
	}
	dropped := s.segs[:k:k]
	s.segs = append([]*segment(nil), s.segs[k:]...)
	s.first = hi + 1
	s.mu.Unlock()
	return s.removeSegments(dropped)
}

// removeSegments closes and unlinks segments no reader can reach any more,
// then makes the unlinks durable with one directory fsync.
func (s *Store) removeSegments(segs []*segment) error {
	if len(segs) == 0 {
		return nil
	}
	for _, seg := range segs {
		seg.f.Close()
		if err := os.Remove(seg.path); err != nil {
			return s.fail(fmt.Errorf("walstore: remove %s: %w", seg.path, err))
		}
	}
	if err := s.syncDir(); err != nil {
		return s.fail(fmt.Errorf("walstore: sync %s: %w", s.dir, err))
	}
	return nil
}

// deleteSuffix makes lo-1 the last index; lo > first.
func (s *Store) deleteSuffix(lo uint64) error {
	i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].base > lo }) - 1
	seg := s.segs[i]
	keep := i + 1 // segments kept
	if lo == seg.base {
		keep = i // lo > first >= segs[0].base, so i > 0 here
	}
	// Unpublish first: once readers cannot reach the entries, the files
	// can be closed and truncated without holding mu across the I/O.
	s.mu.Lock()
	dropped := s.segs[keep:]
	s.segs = s.segs[:keep:keep]
	s.last = lo - 1
	clear(s.cache)
	var truncAt int64 = -1
	if keep == i+1 {
		truncAt = seg.offsets[lo-seg.base]
		seg.offsets = seg.offsets[:lo-seg.base]
		seg.size = truncAt
	}
	s.mu.Unlock()

	// Newest first, each unlink durable before the next, so the disk
	// always holds a prefix of the old log.
	for j := len(dropped) - 1; j >= 0; j-- {
		if err := s.removeSegments(dropped[j : j+1]); err != nil {
			return err
		}
	}
	if truncAt >= 0 {
		if err := seg.f.Truncate(truncAt); err != nil {
			return s.fail(fmt.Errorf("walstore: truncate %s: %w", seg.path, err))
		}
		if err := s.fdatasync(seg.f); err != nil {
			return s.fail(fmt.Errorf("walstore: sync %s: %w", seg.path, err))
		}
	}
	return nil
}
