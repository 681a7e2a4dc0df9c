package version

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFormat(t *testing.T) {
	vcs := []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}}
	for _, tc := range []struct {
		name     string
		override string
		bi       *debug.BuildInfo
		want     string
	}{
		{"nothing known", "", nil, "devel"},
		{"local build without VCS data", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, GoVersion: "go1.26.8"}, "devel (go1.26.8)"},
		{"go install of a release", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}, GoVersion: "go1.26.8"}, "v1.2.3 (go1.26.8)"},
		{"make build stamps the version", "v1.3.0-4-gabc", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}, GoVersion: "go1.26.8"}, "v1.3.0-4-gabc (go1.26.8)"},
		{"a modified checkout", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, GoVersion: "go1.26.8", Settings: vcs}, "devel (commit 0123456789ab, modified, go1.26.8)"},
		{"a clean checkout", "v2", &debug.BuildInfo{Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "false"}}}, "v2 (commit abc)"},
	} {
		if got := format(tc.override, tc.bi); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	// The test binary itself has build info: the go version at least.
	if s := String(); !strings.Contains(s, "go1.") {
		t.Errorf("String() = %q", s)
	}
}
