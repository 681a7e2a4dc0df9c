//go:build !(linux && (amd64 || arm64))

package diskio

import "os"

// DropCache is a no-op where posix_fadvise is not wired up; a read-back may
// then be served from the page cache.
func DropCache(*os.File) error { return nil }
