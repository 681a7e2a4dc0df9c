package opensm

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
)

// writeAtomic replaces path with data so that a reader (OpenSM on
// SIGHUP, or at start after a crash) sees either the old or the new
// file, never a torn one: a torn or empty file would make OpenSM fall
// back to ALL=full. Temp file in the same directory, fsync, rename,
// fsync of the directory so the rename survives a power cut.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer os.Remove(name) // no-op after a successful rename
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(name, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// sameContent reports whether path already holds data.
func sameContent(path string, data []byte) (bool, error) {
	old, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return bytes.Equal(old, data), err
}
