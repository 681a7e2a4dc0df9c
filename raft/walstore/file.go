package walstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"

	"github.com/ibex-hpc/ibex/internal/diskio"
)

// The meta and stable files share one format: a magic, a count, the
// length-prefixed key/value pairs sorted by key, and a CRC32C of everything
// before it. They are only ever replaced by rename, so a bad CRC is real
// corruption, never a torn write.
const kvMagic = "IBXKV001"

func encodeKV(m map[string][]byte) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b := []byte(kvMagic)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(keys)))
	for _, k := range keys {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(k)))
		b = append(b, k...)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(m[k])))
		b = append(b, m[k]...)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

var errBadKV = errors.New("malformed key/value file")

func decodeKV(b []byte) (map[string][]byte, error) {
	if len(b) < len(kvMagic)+8 || !bytes.HasPrefix(b, []byte(kvMagic)) {
		return nil, errBadKV
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, fmt.Errorf("%w: checksum mismatch", errBadKV)
	}
	p := body[len(kvMagic):]
	count := binary.LittleEndian.Uint32(p)
	p = p[4:]
	next := func() ([]byte, bool) {
		if len(p) < 4 {
			return nil, false
		}
		n := binary.LittleEndian.Uint32(p)
		if uint64(n) > uint64(len(p)-4) {
			return nil, false
		}
		v := bytes.Clone(p[4 : 4+n])
		p = p[4+n:]
		return v, true
	}
	m := make(map[string][]byte, min(count, 1024))
	for range count {
		k, ok1 := next()
		v, ok2 := next()
		if !ok1 || !ok2 {
			return nil, errBadKV
		}
		if v == nil {
			v = []byte{}
		}
		m[string(k)] = v
	}
	if len(p) != 0 {
		return nil, errBadKV
	}
	return m, nil
}

// readKV loads dir/name; a missing file is an empty map.
func readKV(dir, name string) (map[string][]byte, error) {
	path := filepath.Join(dir, name)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string][]byte{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("walstore: read %s: %w", path, err)
	}
	m, err := decodeKV(b)
	if err != nil {
		return nil, fmt.Errorf("walstore: %s: %w", path, err)
	}
	return m, nil
}

// tmpSuffix marks half-written replacements; Open deletes leftovers.
const tmpSuffix = ".tmp"

// writeFileAtomic replaces dir/name with data so that after a crash the file
// holds either the old or the new contents: write a temp file, fsync it,
// rename it over the old one, fsync the directory so the rename is durable.
func (s *Store) writeFileAtomic(name string, data []byte) error {
	path := filepath.Join(s.dir, name)
	tmp := path + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("walstore: write %s: %w", path, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
		s.syncs.file.Add(1)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = s.syncDir()
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("walstore: write %s: %w", path, err)
	}
	return nil
}

// syncDir makes creations, renames and unlinks in the directory durable.
func (s *Store) syncDir() error {
	d, err := os.Open(s.dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	s.syncs.dir.Add(1)
	return err
}

// fdatasync flushes a segment after an append or truncation.
func (s *Store) fdatasync(f *os.File) error {
	s.syncs.data.Add(1)
	return diskio.Fdatasync(f)
}
