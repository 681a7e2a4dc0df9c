// Package cli is the `ibex` command line: job submission, queue and node
// inspection, and admin commands, over the gRPC API.
package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// DefaultAddr is where the CLI looks for ibexd when nothing else is set.
const DefaultAddr = "127.0.0.1:7700"

// Config is the CLI's config file: where ibexd is, the caller's token, and
// how to trust the server (trust.go).
type Config struct {
	Addr  string `json:"addr"`
	Token string `json:"token"`
	// CAPin is the cluster CA's pin ("sha256:<hex>"), CAFile a PEM file of
	// CAs, Plaintext for a server started with --plaintext or --insecure.
	CAPin     string `json:"ca_pin,omitempty"`
	CAFile    string `json:"ca_file,omitempty"`
	Plaintext bool   `json:"plaintext,omitempty"`
	// Dev marks a config `ibexd --dev` wrote, which the next --dev may
	// replace; any other config is the user's and is left alone.
	Dev bool `json:"dev,omitempty"`
}

// DefaultConfigPath is $XDG_CONFIG_HOME/ibex/config.json (~/.config/...).
func DefaultConfigPath() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "ibex", "config.json")
}

// LoadConfig reads a config file. A missing file is not an error.
func LoadConfig(path string) (Config, error) {
	var c Config
	if path == "" {
		return c, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("read config: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("config %s is not valid JSON: %w", path, err)
	}
	return c, nil
}

// WriteConfig writes a config file readable only by its owner, since it
// holds a token.
func WriteConfig(path string, c Config) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return os.Rename(tmp, path)
}
