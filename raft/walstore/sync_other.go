//go:build !linux

package walstore

import "os"

// fdatasync falls back to fsync where the stdlib has no fdatasync.
func fdatasync(f *os.File) error { return f.Sync() }
