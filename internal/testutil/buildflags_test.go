package testutil

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestBuildSettingsMatchMakefile: the binaries tests and benchmarks drive
// are built as `make build` builds them, or a benchmark would measure a
// CLI users never run (without the tags, with cgo: 2 ms slower to start).
func TestBuildSettingsMatchMakefile(t *testing.T) {
	b, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	mk := string(b)
	assign := func(name string) string {
		m := regexp.MustCompile(`(?m)^` + name + ` :?= *(.*)$`).FindStringSubmatch(mk)
		if m == nil {
			t.Fatalf("the Makefile sets no %s", name)
		}
		return strings.TrimSpace(m[1])
	}
	if got := assign("BUILDTAGS"); got != BuildTags {
		t.Errorf("Makefile BUILDTAGS = %q, testutil.BuildTags = %q: change both", got, BuildTags)
	}
	var static []string
	for _, p := range strings.Fields(assign("STATIC_CMDS")) {
		static = append(static, strings.TrimPrefix(p, "./cmd/"))
	}
	if !slices.Equal(static, StaticCommands) {
		t.Errorf("Makefile STATIC_CMDS = %q, testutil.StaticCommands = %q: change both", static, StaticCommands)
	}
	if !strings.Contains(mk, "\tCGO_ENABLED=0 $(GO) build -tags $(BUILDTAGS) -ldflags \"$(LDFLAGS)\" -o $(BIN)/ $(STATIC_CMDS)\n") {
		t.Error("the Makefile's build target no longer links $(STATIC_CMDS) with CGO_ENABLED=0")
	}
}

func TestBuildEnv(t *testing.T) {
	for pkg, want := range map[string]string{
		"../cmd/ibex":        "CGO_ENABLED=0",
		"../../cmd/ibex/":    "CGO_ENABLED=0",
		"../cmd/ibexd":       "",
		"../cmd/ibex-agent":  "",
		"./cmd/ibex-trace":   "",
		"github.com/x/ibexd": "",
	} {
		if got := strings.Join(buildEnv(pkg), " "); got != want {
			t.Errorf("buildEnv(%q) = %q, want %q", pkg, got, want)
		}
	}
}
