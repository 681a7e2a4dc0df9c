package testutil

import (
	"fmt"
	"os"
	"os/exec"
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
	build := exec.Command("go", append([]string{"build", "-o", dir + "/"}, pkgs...)...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build binaries:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	*binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
