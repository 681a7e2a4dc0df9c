package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// RunWithBinaries builds the main packages pkgs (paths relative to the
// test's package) into a fresh directory, runs the tests with that
// directory (mode 0755: jobs running as an unprivileged user call the CLI
// from it) and exits with their code. It is the body of a TestMain that
// drives real processes; binDir receives the directory before m.Run.
func RunWithBinaries(m *testing.M, binDir *string, pkgs ...string) {
	dir, err := os.MkdirTemp("", "ibex-test-bin")
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "binaries directory:", err)
		os.Exit(1)
	}
	if err := buildBinaries(dir, pkgs); err != nil {
		fmt.Fprintln(os.Stderr, "build binaries:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	*binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildBinaries builds pkgs into dir as `make build` does (BuildTags; cgo
// off for the StaticCommands): the ones with the same environment in one
// go build.
func buildBinaries(dir string, pkgs []string) error {
	groups := map[string][]string{}
	var order []string
	for _, p := range pkgs {
		k := strings.Join(buildEnv(p), " ")
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], p)
	}
	for _, k := range order {
		build := exec.Command("go", append([]string{"build", "-tags", BuildTags, "-o", dir + "/"}, groups[k]...)...)
		build.Env = append(os.Environ(), strings.Fields(k)...)
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("go build %s: %w", strings.Join(groups[k], " "), err)
		}
	}
	return nil
}
