package walstore

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// segment is one append-only file of consecutive records. Only the last
// segment is ever written; earlier ones are sealed and only read or deleted.
type segment struct {
	base    uint64  // index of the first record, also the file name
	offsets []int64 // offsets[i] is where record base+i starts
	size    int64   // bytes of valid records: the next record goes here
	path    string
	f       *os.File
}

const segmentExt = ".wal"

// segmentName is zero-padded so names sort like the indexes they carry.
func segmentName(base uint64) string { return fmt.Sprintf("%020d%s", base, segmentExt) }

func parseSegmentName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, segmentExt)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	base, err := strconv.ParseUint(digits, 10, 64)
	return base, err == nil && base > 0
}

// last is the index of the segment's final record; the segment must not be
// empty.
func (s *segment) last() uint64 { return s.base + uint64(len(s.offsets)) - 1 }

// span locates the record for idx, which must be in the segment.
func (s *segment) span(idx uint64) (off, n int64) {
	i := idx - s.base
	off = s.offsets[i]
	end := s.size
	if i+1 < uint64(len(s.offsets)) {
		end = s.offsets[i+1]
	}
	return off, end - off
}

// scanError reports the first bad record of a segment. Fatal errors are not
// explained by a torn write (a valid record carrying the wrong index), so
// they stop Open even in the last segment.
type scanError struct {
	off   int64
	err   error
	fatal bool
}

func (e *scanError) Error() string { return fmt.Sprintf("at byte %d: %v", e.off, e.err) }
func (e *scanError) Unwrap() error { return e.err }

// scanSegment reads every record of f, which should start at index base, and
// returns the offsets of the valid prefix and its length. A non-nil
// *scanError describes what stopped the scan before the end of the file.
func scanSegment(f *os.File, base uint64) ([]int64, int64, *scanError) {
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, &scanError{err: err, fatal: true}
	}
	end := fi.Size()
	r := bufio.NewReaderSize(io.NewSectionReader(f, 0, end), 1<<20)
	var (
		offs []int64
		off  int64
		buf  = make([]byte, 0, 4096)
		next = base
	)
	for off < end {
		if end-off < headerSize {
			return offs, off, &scanError{off: off, err: errShortRecord}
		}
		buf = buf[:headerSize]
		if _, err := io.ReadFull(r, buf); err != nil {
			return offs, off, &scanError{off: off, err: err, fatal: true}
		}
		n, err := payloadLen(buf)
		if err != nil {
			return offs, off, &scanError{off: off, err: err}
		}
		if int64(n) > end-off-headerSize {
			return offs, off, &scanError{off: off, err: errShortRecord}
		}
		if cap(buf) < headerSize+n {
			nb := make([]byte, headerSize+n)
			copy(nb, buf)
			buf = nb
		}
		buf = buf[:headerSize+n]
		if _, err := io.ReadFull(r, buf[headerSize:]); err != nil {
			return offs, off, &scanError{off: off, err: err, fatal: true}
		}
		l, size, err := decodeRecord(buf)
		if err != nil {
			return offs, off, &scanError{off: off, err: err}
		}
		if l.Index != next {
			return offs, off, &scanError{off: off, fatal: true,
				err: fmt.Errorf("record has index %d, want %d", l.Index, next)}
		}
		offs = append(offs, off)
		off += int64(size)
		next++
	}
	return offs, off, nil
}

// listSegments returns the bases of the segment files in dir, ascending.
func listSegments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var bases []uint64
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, segmentExt) {
			continue
		}
		base, ok := parseSegmentName(name)
		if !ok {
			return nil, fmt.Errorf("walstore: unexpected file %s in %s", name, dir)
		}
		bases = append(bases, base)
	}
	return bases, nil // ReadDir sorts by name, and names sort by base
}

// createSegment makes a new, empty segment file for records from base on.
// The caller fsyncs the directory once the first batch is in it.
func createSegment(dir string, base uint64) (*segment, error) {
	path := filepath.Join(dir, segmentName(base))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("walstore: segment %s already exists", path)
		}
		return nil, fmt.Errorf("walstore: create segment: %w", err)
	}
	return &segment{base: base, path: path, f: f}, nil
}
