package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ibex-hpc/ibex/server/secretkey"
)

// loadSecrets loads this server's key-encryption key file (see
// server/secretkey), which seals BMC logins in the replicated state. A
// server bootstrapping a cluster alone (--dev included) creates it in its
// data directory; servers of a multi-server cluster must all be given the
// same file. Without one a server still runs, but can neither register a
// BMC nor, as leader, open a BMC login (nodes with BMCs then fail their
// inspection or fencing with a message saying so).
func loadSecrets(cfg Config) (*secretkey.Keyring, error) {
	path, explicit := cfg.SecretsKeyFile, cfg.SecretsKeyFile != ""
	if !explicit {
		path = filepath.Join(cfg.DataDir, "secrets.key")
	}
	alone := cfg.Bootstrap && len(cfg.Peers) == 0 && cfg.Join == ""
	keys, created, err := secretkey.LoadOrCreate(path, alone)
	switch {
	case err == nil && created:
		cfg.Logger.Info("created the key-encryption key file; give every server of this cluster a copy (--secrets-key-file)", "file", path, "key", keys.Primary())
		return keys, nil
	case err == nil:
		return keys, nil
	case errors.Is(err, os.ErrNotExist) && !explicit:
		cfg.Logger.Warn("no secrets key file: this server cannot seal or open BMC logins; give it the cluster's with --secrets-key-file", "file", path)
		return nil, nil
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("--secrets-key-file %s does not exist: copy it from the server that created it (every server needs the same file), "+
			"or make one for a new cluster with: (umask 077; head -c 32 /dev/urandom | base64 > %s)", path, path)
	default:
		return nil, fmt.Errorf("secrets key file: %w", err)
	}
}
