//go:build !(linux && (amd64 || arm64))

package imaging

import "os"

// dropCache is a no-op where posix_fadvise is not wired up; read-back may
// then be served from the page cache.
func dropCache(*os.File) error { return nil }
