package testutil

import "path"

// BuildTags are the build tags `make build` uses (the Makefile's
// BUILDTAGS), so that tests and benchmarks that drive real processes run
// the binaries users get: urfave_cli_no_docs and grpcnotrace leave out
// code whose package init every `ibex` call would pay for.
// TestBuildSettingsMatchMakefile keeps the two in step.
const BuildTags = "urfave_cli_no_docs,grpcnotrace"

// StaticCommands are the commands `make build` links without cgo
// (CGO_ENABLED=0): the CLI, which is started once per submission. A
// static binary skips the dynamic loader and libc's thread start-up,
// about 0.8 ms of every call on this machine; the CLI needs neither (its
// only cgo user would be the host-name resolver, and Go's own reads the
// same /etc/hosts and resolv.conf). The server and the agent stay dynamic:
// they resolve job users through NSS (LDAP, SSSD), which needs cgo.
var StaticCommands = []string{"ibex"}

// buildEnv is the environment for building the main package pkg: cgo off
// for the StaticCommands.
func buildEnv(pkg string) []string {
	for _, c := range StaticCommands {
		if path.Base(path.Clean(pkg)) == c {
			return []string{"CGO_ENABLED=0"}
		}
	}
	return nil
}
