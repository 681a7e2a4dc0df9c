package agent

import (
	"os"
	"path/filepath"
)

// Enrolled reports whether dataDir holds a node certificate, i.e. whether
// an agent started on it would skip enrollment. It lets a supervisor (the
// simulated nodes of `ibexd --dev`) ask for a join token only when one is
// needed: an unused token would sit in the replicated state until it
// expires.
func Enrolled(dataDir string) bool {
	fi, err := os.Stat(filepath.Join(dataDir, certFile))
	return err == nil && fi.Mode().IsRegular()
}
