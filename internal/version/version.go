// Package version says which build of ibex is running, for every
// binary's --version: the release the Makefile stamps in (Version, set with
// -ldflags -X), else the module version Go recorded (go install
// ...@v1.2.3), else "devel"; with the VCS revision and whether the tree had
// uncommitted changes, when the build recorded them.
package version

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// Version is set at link time by `make build`:
//
//	go build -ldflags "-X github.com/ibex-hpc/ibex/internal/version.Version=v1.2.3"
var Version string

// String is the one-line version: "v1.2.3 (commit 0123456789ab, modified,
// go1.26.8)".
func String() string {
	bi, _ := debug.ReadBuildInfo()
	return format(Version, bi)
}

func format(override string, bi *debug.BuildInfo) string {
	v := override
	var details []string
	if bi != nil {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		var rev string
		var modified bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if rev != "" {
			details = append(details, "commit "+rev[:min(len(rev), 12)])
		}
		if modified {
			details = append(details, "modified")
		}
		if bi.GoVersion != "" {
			details = append(details, bi.GoVersion)
		}
	}
	if v == "" {
		v = "devel"
	}
	if len(details) == 0 {
		return v
	}
	return fmt.Sprintf("%s (%s)", v, strings.Join(details, ", "))
}
