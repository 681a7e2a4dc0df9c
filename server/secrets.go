package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ibex-hpc/ibex/server/secretkey"
)

// secretsKeyName is the key file's name in a data directory, and next to
// the admin token when servers of one host share it (see loadSecrets).
const secretsKeyName = "secrets.key"

// loadSecrets loads this server's key-encryption key file (see
// server/secretkey), which seals the cluster CA key, the gossip key and
// BMC logins in the replicated state. Every server needs it before raft
// starts, since it must open what any leader sealed:
//
//   - --secrets-key-file names it (real deployments: outside the data
//     directory, out of its backups);
//   - else DATADIR/secrets.key, once there;
//   - a server bootstrapping alone (--dev too) creates that file;
//   - servers bootstrapping together with --peers share one, as they share
//     the admin token and the cluster CA: the first of --peers creates
//     secrets.key next to --admin-token-file, the others wait for it, and
//     each copies it to its DATADIR/secrets.key (the shared copy can then
//     go, like cluster-ca.pem);
//   - a joining server copies secrets.key next to --admin-token-file (where
//     it already needs the admin token) when it is there.
//
// Anything else is an error that names the flag.
func loadSecrets(ctx context.Context, cfg Config) (*secretkey.Keyring, error) {
	if path := cfg.SecretsKeyFile; path != "" {
		keys, err := secretkey.Load(path)
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("--secrets-key-file %s does not exist: copy it from the server that created it (every server needs the same file), "+
				"or make one for a new cluster with: (umask 077; head -c 32 /dev/urandom | base64 > %s)", path, path)
		}
		if err != nil {
			return nil, fmt.Errorf("secrets key file: %w", err)
		}
		return keys, nil
	}
	own := filepath.Join(cfg.DataDir, secretsKeyName)
	keys, err := secretkey.Load(own)
	if err == nil {
		return keys, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("secrets key file: %w", err)
	}
	if cfg.Bootstrap && len(cfg.Peers) == 0 && cfg.Join == "" {
		keys, err := secretkey.Create(own)
		if err != nil {
			return nil, fmt.Errorf("create the secrets key file: %w", err)
		}
		cfg.Logger.Info("created the key-encryption key file; a server that joins this cluster needs a copy (--secrets-key-file)", "file", own, "key", keys.Primary())
		return keys, nil
	}
	shared := own
	if cfg.AdminTokenFile != "" {
		shared = filepath.Join(filepath.Dir(cfg.AdminTokenFile), secretsKeyName)
	}
	missing := fmt.Errorf("this server has no key-encryption key, which it needs before it starts: the cluster CA key and gossip key in the replicated state are sealed with it. "+
		"Give it the cluster's key file with --secrets-key-file (the same file on every server: copy secrets.key from a running server's data directory), or put a copy at %s", own)
	if shared == own {
		return nil, missing
	}
	switch {
	case cfg.Bootstrap && len(cfg.Peers) > 0 && cfg.Join == "":
		if cfg.Peers[0].ID == cfg.NodeID {
			if _, err := secretkey.Create(shared); err != nil && !errors.Is(err, os.ErrExist) {
				return nil, fmt.Errorf("create the shared secrets key file: %w", err)
			}
		}
		if err := waitForFile(ctx, cfg, shared); err != nil {
			return nil, err
		}
	case cfg.Join != "":
		if _, err := os.Stat(shared); err != nil {
			return nil, missing
		}
	default:
		return nil, missing
	}
	if keys, err = secretkey.Load(shared); err != nil {
		return nil, fmt.Errorf("secrets key file: %w", err)
	}
	b, err := os.ReadFile(shared)
	if err != nil {
		return nil, err
	}
	if err := writePrivate(own, b); err != nil {
		return nil, fmt.Errorf("copy the secrets key file to %s: %w", own, err)
	}
	cfg.Logger.Info("copied the cluster's key-encryption key file into the data directory", "from", shared, "to", own, "key", keys.Primary())
	return secretkey.Load(own)
}

// waitForFile waits for the shared key file the first of --peers creates.
func waitForFile(ctx context.Context, cfg Config, path string) error {
	warned := time.Time{}
	for {
		_, err := secretkey.Load(path) // not only there: complete
		if err == nil {
			return nil
		}
		if time.Since(warned) > 15*time.Second {
			cfg.Logger.Warn("waiting for the cluster's key-encryption key file: the first server of --peers creates it; on other hosts copy it here (or give --secrets-key-file)",
				"file", path, "first", cfg.Peers[0].ID, "err", err)
			warned = time.Now()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the secrets key file %s: %w", path, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
