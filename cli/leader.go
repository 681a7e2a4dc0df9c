package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
)

// leaderFile is where the CLI remembers which of the servers in addrs
// leads (client.WithLeaderFile), so that a call goes to the leader
// directly instead of through a follower that forwards it: one file per
// address list in the user's cache directory ($XDG_CACHE_HOME/ibex). It
// is "" for a single address, where there is nothing to choose.
func leaderFile(addrs string) string {
	if !strings.Contains(addrs, ",") {
		return ""
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	sum := sha256.Sum256([]byte(addrs))
	return filepath.Join(dir, "ibex", "leader-"+hex.EncodeToString(sum[:8]))
}
