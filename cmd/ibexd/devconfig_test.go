package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/cli"
)

// A user's own CLI config (pointing at a real cluster) survives --dev;
// one an earlier --dev wrote is replaced; --cli-config is obeyed.
func TestDevLeavesTheUsersConfigAlone(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	dev := cli.Config{Addr: "127.0.0.1:7700", Token: "dev-token", Dev: true}

	// Nothing there: written in place.
	got, howto, err := writeDevCLIConfig(path, false, dev)
	if err != nil || got != path || howto != "" {
		t.Fatalf("fresh: %q %q %v", got, howto, err)
	}
	// An earlier --dev's config: replaced in place.
	dev.Token = "dev-token-2"
	if got, _, _ = writeDevCLIConfig(path, false, dev); got != path {
		t.Fatalf("earlier dev config not replaced: wrote %s", got)
	}
	if c, _ := cli.LoadConfig(path); c.Token != "dev-token-2" {
		t.Fatalf("token %q", c.Token)
	}

	// The user's config for a real cluster: kept, dev.json written beside it.
	mine := cli.Config{Addr: "ibex.example.org:7700", Token: "real"}
	if err := cli.WriteConfig(path, mine); err != nil {
		t.Fatal(err)
	}
	got, howto, err = writeDevCLIConfig(path, false, dev)
	if err != nil || got != filepath.Join(dir, "dev.json") || !strings.Contains(howto, "IBEX_CONFIG="+got) {
		t.Fatalf("user config: wrote %q, howto %q, %v", got, howto, err)
	}
	if c, _ := cli.LoadConfig(path); c != mine {
		t.Fatalf("user's config changed: %+v", c)
	}
	if c, _ := cli.LoadConfig(got); c.Token != "dev-token-2" {
		t.Fatalf("dev.json: %+v", c)
	}
	// A file that is not even JSON is not ours to replace either.
	os.WriteFile(path, []byte("not json"), 0o600)
	if got, _, _ = writeDevCLIConfig(path, false, dev); got == path {
		t.Fatal("replaced an unreadable config")
	}
	// --cli-config given: written where asked.
	if got, _, _ = writeDevCLIConfig(path, true, dev); got != path {
		t.Fatalf("explicit path: wrote %s", got)
	}
}
