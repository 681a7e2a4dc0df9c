package walstore

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// Options tunes a Store; the zero value is the production default.
type Options struct {
	// SegmentSize is the size after which the current segment is sealed
	// and the next batch starts a new file. A batch is never split, so a
	// segment can exceed it by one batch. Smaller segments let compaction
	// free disk sooner; each new segment costs one extra directory fsync.
	// Zero means 64 MiB.
	SegmentSize int64
	// CacheSize is how many recently appended entries GetLog answers from
	// memory. Raft re-reads fresh entries to replicate them, so a small
	// ring saves a pread and a decode per follower. Zero means 1024;
	// negative disables the cache.
	CacheSize int
}

const (
	defaultSegmentSize = 64 << 20
	defaultCacheSize   = 1024

	metaFile   = "meta"
	stableFile = "stable"
	metaFirst  = "first-index"
)

var (
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("walstore: store is closed")
	// ErrNotContiguous is wrapped by StoreLogs when entries would leave a
	// gap or overwrite existing ones; raft must DeleteRange a suffix first.
	ErrNotContiguous = errors.New("walstore: log indexes are not contiguous")
	// ErrUnsupportedDelete is wrapped by DeleteRange for a range that is
	// neither a prefix nor a suffix of the log; raft never asks for one.
	ErrUnsupportedDelete = errors.New("walstore: only a prefix or a suffix of the log can be deleted")
)

// Store is a segmented write-ahead log implementing raft.LogStore,
// raft.MonotonicLogStore, raft.StableStore and io.Closer. It is safe for
// concurrent use.
//
// Locking: writeMu serializes log mutations and is held across disk I/O;
// mu guards the in-memory index and is held only briefly by writers, so
// GetLog (raft's replication goroutines) is not stalled behind the fsync of
// the batch being appended. The stable keys have their own lock so that a
// term change does not wait for a log append or vice versa.
type Store struct {
	dir  string
	opts Options
	lock *os.File

	writeMu sync.Mutex
	floor   uint64 // persisted logical first index (meta file); writeMu
	wbuf    []byte // encoding buffer reused across batches; writeMu
	// failed is set after an I/O error in a mutation. The disk may then
	// disagree with memory (and after a failed fsync the kernel may have
	// dropped the dirty pages), so writes are refused until a reopen
	// rescans the files. Guarded by writeMu.
	failed error

	mu     sync.RWMutex
	closed bool
	segs   []*segment // ascending; the last one is the one appended to
	first  uint64     // 0 when the log is empty
	last   uint64
	cache  []*raft.Log // ring indexed by Index % len(cache)

	stableMu sync.RWMutex
	kv       map[string][]byte

	// syncs counts flushes so tests can check the one-fdatasync promise.
	syncs struct{ data, dir, file atomic.Int64 }
}

var (
	_ raft.LogStore          = (*Store)(nil)
	_ raft.MonotonicLogStore = (*Store)(nil)
	_ raft.StableStore       = (*Store)(nil)
)

// Open opens or creates the store in dir and recovers it: a torn record at
// the end of the last segment (a crash mid-append) is cut off, while damage
// anywhere else makes Open fail rather than lose committed entries.
func Open(dir string, opts Options) (*Store, error) {
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = defaultSegmentSize
	}
	if opts.CacheSize == 0 {
		opts.CacheSize = defaultCacheSize
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("walstore: create %s: %w", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	s := &Store{dir: dir, opts: opts, lock: lock}
	if opts.CacheSize > 0 {
		s.cache = make([]*raft.Log, opts.CacheSize)
	}
	if err := s.recover(); err != nil {
		for _, seg := range s.segs {
			seg.f.Close()
		}
		lock.Close()
		return nil, err
	}
	return s, nil
}

// Close releases the files and the directory lock. Later calls return
// ErrClosed; closing twice is harmless.
func (s *Store) Close() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.stableMu.Lock()
	defer s.stableMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.kv = nil
	var err error
	for _, seg := range s.segs {
		if cerr := seg.f.Close(); err == nil {
			err = cerr
		}
	}
	s.segs = nil
	if cerr := s.lock.Close(); err == nil {
		err = cerr
	}
	return err
}

// IsMonotonic tells raft that this store cannot hold a gap, so after
// installing or restoring a snapshot raft deletes the whole log instead of
// leaving old entries behind and appending after a gap (which StoreLogs
// would reject, wedging the follower).
func (s *Store) IsMonotonic() bool { return true }

// FirstIndex returns the first index in the log, or 0 when it is empty.
func (s *Store) FirstIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, ErrClosed
	}
	return s.first, nil
}

// LastIndex returns the last index in the log, or 0 when it is empty.
func (s *Store) LastIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, ErrClosed
	}
	return s.last, nil
}

// GetLog reads entry index into log with a single pread (or from the cache
// of recent appends), or returns raft.ErrLogNotFound. The returned slices
// belong to the caller but, for cached entries, are shared with the slices
// passed to StoreLogs, as with raft.LogCache; neither side may modify them.
func (s *Store) GetLog(index uint64, log *raft.Log) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	if s.first == 0 || index < s.first || index > s.last {
		return raft.ErrLogNotFound
	}
	if n := uint64(len(s.cache)); n > 0 {
		if c := s.cache[index%n]; c != nil && c.Index == index {
			*log = *c
			return nil
		}
	}
	i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].base > index }) - 1
	seg := s.segs[i]
	off, n := seg.span(index)
	buf := make([]byte, n)
	if _, err := seg.f.ReadAt(buf, off); err != nil {
		return fmt.Errorf("walstore: read log %d from %s at byte %d: %w", index, seg.path, off, err)
	}
	l, size, err := decodeRecord(buf)
	if err == nil && (size != len(buf) || l.Index != index) {
		err = fmt.Errorf("record holds index %d in %d of %d bytes", l.Index, size, len(buf))
	}
	if err != nil {
		return fmt.Errorf("walstore: read log %d from %s at byte %d: %w", index, seg.path, off, err)
	}
	*log = l
	return nil
}

// StoreLog appends one entry; see StoreLogs.
func (s *Store) StoreLog(log *raft.Log) error { return s.StoreLogs([]*raft.Log{log}) }

// StoreLogs appends logs, which must continue the log without a gap (or
// start anywhere when it is empty), with one write and one fdatasync. When
// the batch opens a new segment the directory is fsynced as well, once.
// Entries are durable when it returns nil.
func (s *Store) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	start := logs[0].Index
	if start == 0 {
		return fmt.Errorf("%w: index 0 is not a valid raft index", ErrNotContiguous)
	}
	for i, l := range logs {
		if l.Index != start+uint64(i) {
			return fmt.Errorf("%w: batch has index %d after %d", ErrNotContiguous, l.Index, logs[i-1].Index)
		}
	}
	// last and first change only under writeMu, which we hold.
	if s.last != 0 && start != s.last+1 {
		return fmt.Errorf("%w: batch starts at index %d but the log ends at %d", ErrNotContiguous, start, s.last)
	}

	buf := s.wbuf[:0]
	rel := make([]int64, len(logs))
	for i, l := range logs {
		rel[i] = int64(len(buf))
		var err error
		if buf, err = appendRecord(buf, l); err != nil {
			return err
		}
	}
	if cap(buf) <= 4<<20 {
		s.wbuf = buf[:0] // keep small buffers, let big ones go
	} else {
		s.wbuf = nil
	}

	var seg *segment
	newSeg := false
	if n := len(s.segs); n > 0 && s.segs[n-1].size < s.opts.SegmentSize {
		seg = s.segs[n-1]
	} else {
		if s.first == 0 && s.floor > start {
			// The log was emptied (snapshot install) and restarts below
			// the old floor; lower it first or the entries would be
			// invisible after a restart.
			if err := s.setFloor(start); err != nil {
				return s.fail(err)
			}
		}
		var err error
		if seg, err = createSegment(s.dir, start); err != nil {
			return s.fail(err)
		}
		newSeg = true
	}
	if _, err := seg.f.WriteAt(buf, seg.size); err != nil {
		return s.fail(s.abandon(seg, newSeg, fmt.Errorf("walstore: append to %s: %w", seg.path, err)))
	}
	if err := s.fdatasync(seg.f); err != nil {
		return s.fail(s.abandon(seg, newSeg, fmt.Errorf("walstore: sync %s: %w", seg.path, err)))
	}
	if newSeg {
		if err := s.syncDir(); err != nil {
			return s.fail(s.abandon(seg, newSeg, fmt.Errorf("walstore: sync %s: %w", s.dir, err)))
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if newSeg {
		s.segs = append(s.segs, seg)
	}
	for _, r := range rel {
		seg.offsets = append(seg.offsets, seg.size+r)
	}
	seg.size += int64(len(buf))
	if s.first == 0 {
		s.first = start
	}
	s.last = logs[len(logs)-1].Index
	if n := uint64(len(s.cache)); n > 0 {
		for _, l := range logs[max(0, len(logs)-len(s.cache)):] {
			c := *l
			s.cache[l.Index%n] = &c
		}
	}
	return nil
}

// abandon closes a segment created for a batch that failed.
func (s *Store) abandon(seg *segment, created bool, err error) error {
	if created {
		seg.f.Close()
	}
	return err
}

// writable reports why the log cannot be mutated, if it cannot. Callers
// hold writeMu.
func (s *Store) writable() error {
	if s.closed {
		return ErrClosed
	}
	if s.failed != nil {
		return fmt.Errorf("walstore: refusing writes after an earlier I/O error; reopen the store: %w", s.failed)
	}
	return nil
}

// fail records err as the reason the store stops taking writes.
func (s *Store) fail(err error) error {
	s.failed = err
	return err
}

// setFloor persists the logical first index. Callers hold writeMu.
func (s *Store) setFloor(first uint64) error {
	data := encodeKV(map[string][]byte{metaFirst: encodeUint64(first)})
	if err := s.writeFileAtomic(metaFile, data); err != nil {
		return err
	}
	s.floor = first
	return nil
}
