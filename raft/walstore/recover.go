package walstore

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// recover rebuilds the in-memory index from dir. Segments are scanned in
// order; each must continue the previous one exactly. The newest segment
// may end in a torn record (a crash during its last append, which was
// therefore never acknowledged): it is truncated there. Anything else that
// fails a check is corruption of acknowledged entries, and Open refuses to
// start rather than hand raft a log with entries silently missing.
func (s *Store) recover() error {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("walstore: %w", err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), tmpSuffix) {
			os.Remove(filepath.Join(s.dir, e.Name()))
		}
	}
	meta, err := readKV(s.dir, metaFile)
	if err != nil {
		return err
	}
	if v, ok := meta[metaFirst]; ok {
		if s.floor, err = decodeUint64(metaFirst, v); err != nil {
			return fmt.Errorf("walstore: %s: %w", filepath.Join(s.dir, metaFile), err)
		}
	}
	if s.kv, err = readKV(s.dir, stableFile); err != nil {
		return err
	}

	bases, err := listSegments(s.dir)
	if err != nil {
		return err
	}
	dirty := false // a file was truncated or removed: fsync the directory
	for i, base := range bases {
		path := filepath.Join(s.dir, segmentName(base))
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("walstore: open segment: %w", err)
		}
		seg := &segment{base: base, path: path, f: f}
		var serr *scanError
		seg.offsets, seg.size, serr = scanSegment(f, base)
		isLast := i == len(bases)-1
		if serr != nil {
			if !isLast || serr.fatal {
				f.Close()
				return fmt.Errorf("walstore: segment %s is corrupt %v; only a torn record at the end of the newest segment can be repaired, so refusing to start (restore this server from a snapshot or a peer)", path, serr)
			}
			// A crash interrupted the last append: the batch was never
			// acknowledged, so dropping its torn tail loses nothing.
			if err := f.Truncate(seg.size); err != nil {
				f.Close()
				return fmt.Errorf("walstore: truncate torn tail of %s: %w", path, err)
			}
			if err := s.fdatasync(f); err != nil {
				f.Close()
				return fmt.Errorf("walstore: truncate torn tail of %s: %w", path, err)
			}
		}
		if len(seg.offsets) == 0 {
			f.Close()
			if !isLast {
				return fmt.Errorf("walstore: segment %s is empty but is not the newest segment; refusing to start", path)
			}
			// Created, then crashed before its first batch was durable.
			if err := os.Remove(path); err != nil {
				return fmt.Errorf("walstore: remove empty segment: %w", err)
			}
			dirty = true
			continue
		}
		if n := len(s.segs); n > 0 && s.segs[n-1].last()+1 != base {
			f.Close()
			return fmt.Errorf("walstore: segment %s starts at index %d but the previous segment ends at %d; refusing to start", path, base, s.segs[n-1].last())
		}
		s.segs = append(s.segs, seg)
	}

	// Finish a compaction that crashed after moving the floor but before
	// unlinking every segment below it.
	k := 0
	for k < len(s.segs) && s.segs[k].last() < s.floor {
		s.segs[k].f.Close()
		if err := os.Remove(s.segs[k].path); err != nil {
			return fmt.Errorf("walstore: remove compacted segment: %w", err)
		}
		k++
		dirty = true
	}
	s.segs = s.segs[k:]
	if dirty {
		if err := s.syncDir(); err != nil {
			return fmt.Errorf("walstore: sync %s: %w", s.dir, err)
		}
	}
	if len(s.segs) > 0 {
		s.first = max(s.floor, s.segs[0].base)
		s.last = s.segs[len(s.segs)-1].last()
	}
	return nil
}
