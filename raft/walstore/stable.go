package walstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrKeyNotFound is what Get and GetUint64 return for a missing key. Its
// text must be exactly "not found": raft compares err.Error() against that
// string to tell a fresh server (no CurrentTerm, no LastVoteTerm yet) from
// a broken store, as raft-boltdb's ErrKeyNotFound does. Never wrap it.
var ErrKeyNotFound = errors.New("not found")

// Set stores val under key. Every call rewrites the stable file atomically
// (temp file, fsync, rename, directory fsync): raft sets keys only when the
// term changes or it votes, and must not forget a vote after a crash.
func (s *Store) Set(key, val []byte) error {
	s.stableMu.Lock()
	defer s.stableMu.Unlock()
	if s.kv == nil {
		return ErrClosed
	}
	k := string(key)
	old, had := s.kv[k]
	s.kv[k] = append([]byte{}, val...)
	if err := s.writeFileAtomic(stableFile, encodeKV(s.kv)); err != nil {
		if had {
			s.kv[k] = old
		} else {
			delete(s.kv, k)
		}
		return err
	}
	return nil
}

// Get returns a copy of key's value, or ErrKeyNotFound.
func (s *Store) Get(key []byte) ([]byte, error) {
	s.stableMu.RLock()
	defer s.stableMu.RUnlock()
	if s.kv == nil {
		return nil, ErrClosed
	}
	v, ok := s.kv[string(key)]
	if !ok {
		return nil, ErrKeyNotFound
	}
	return bytes.Clone(v), nil
}

// SetUint64 stores val as 8 big-endian bytes, like raft-boltdb.
func (s *Store) SetUint64(key []byte, val uint64) error {
	return s.Set(key, encodeUint64(val))
}

// GetUint64 returns key's value, or 0 and ErrKeyNotFound.
func (s *Store) GetUint64(key []byte) (uint64, error) {
	v, err := s.Get(key)
	if err != nil {
		return 0, err
	}
	return decodeUint64(string(key), v)
}

func encodeUint64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func decodeUint64(key string, v []byte) (uint64, error) {
	if len(v) != 8 {
		return 0, fmt.Errorf("walstore: value of %q is %d bytes, not a uint64", key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}
