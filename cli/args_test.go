package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestInterspersed(t *testing.T) {
	cases := [][2][]string{
		{{"ibex", "drain", "node001", "--reason", "fan"}, {"ibex", "drain", "--reason", "fan", "node001"}},
		{{"ibex", "--addr", "x:1", "show", "3", "--json"}, {"ibex", "--addr", "x:1", "show", "--json", "3"}},
		{{"ibex", "submit", "-N", "4", "--", "cmd", "--reason", "x"}, {"ibex", "submit", "-N", "4", "--", "cmd", "--reason", "x"}},
		{{"ibex", "submit", "job.sh", "-N", "2"}, {"ibex", "submit", "-N", "2", "job.sh"}},
		{{"ibex", "tenant", "create", "bob", "--admin"}, {"ibex", "tenant", "create", "--admin", "bob"}},
		{{"ibex", "nosuch", "x", "--y"}, {"ibex", "nosuch", "x", "--y"}},
	}
	app := App()
	for _, c := range cases {
		if got := interspersed(app, c[0]); !slices.Equal(got, c[1]) {
			t.Errorf("interspersed(%q) = %q, want %q", c[0], got, c[1])
		}
	}
}

func TestPrintableEscapesTerminalControls(t *testing.T) {
	if got := printable("plain name é"); got != "plain name é" {
		t.Fatalf("printable changed plain text: %q", got)
	}
	got := printable("x\x1b[2K\r1\tfake\n\x00")
	if strings.ContainsAny(got, "\x1b\r\n\t\x00") || !strings.Contains(got, `\x1b`) {
		t.Fatalf("printable left control characters or lost them: %q", got)
	}
}

func TestFeatureListRefusesEmptyItems(t *testing.T) {
	if fs, err := featureList(" ib, gpu "); err != nil || len(fs) != 2 || fs[0] != "ib" || fs[1] != "gpu" {
		t.Fatalf("featureList: %q %v", fs, err)
	}
	if fs, err := featureList(""); err != nil || fs != nil {
		t.Fatalf("empty --constraint: %q %v", fs, err)
	}
	for _, bad := range []string{",,,", "ib,", ",gpu", "a,,b"} {
		if _, err := featureList(bad); err == nil {
			t.Errorf("featureList(%q) accepted", bad)
		}
	}
}

// TestOversizedScriptFailsBeforeUpload: a 100 MB "script" is refused from
// its size, before the CLI reads it.
func TestOversizedScriptFailsBeforeUpload(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big.sh")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(100 << 20); err != nil { // sparse: nothing is written
		t.Fatal(err)
	}
	f.Close()
	if _, _, err := scriptFile([]string{p}); err == nil || !strings.Contains(err.Error(), "at most 256 KiB") {
		t.Fatalf("100 MB script: err = %v", err)
	}
}

func TestOneLine(t *testing.T) {
	if got := oneLine("mpirun failed:\nrank 3\x1b[31m died", 64); got != "mpirun failed: rank 3 [31m died" {
		t.Fatalf("oneLine: %q", got)
	}
	long := strings.Repeat("é", 400) // 800 bytes
	got := oneLine(long, 511)
	if len(got) > 511 || !utf8.ValidString(got) {
		t.Fatalf("cut to %d bytes, valid %v", len(got), utf8.ValidString(got))
	}
}
