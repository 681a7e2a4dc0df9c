//go:build !linux

package diskio

import "os"

// ExclusiveBlockOpen has no meaning outside Linux.
const ExclusiveBlockOpen = 0

// Fdatasync falls back to fsync where fdatasync is not available.
func Fdatasync(f *os.File) error { return f.Sync() }
