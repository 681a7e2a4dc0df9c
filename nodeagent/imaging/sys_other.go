//go:build !linux

package imaging

import "os"

const exclusiveBlockOpen = 0

// fdatasync falls back to fsync where fdatasync is not available.
func fdatasync(f *os.File) error { return f.Sync() }
