package hca

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadAttrWhole: a file is read whole at every size around the first
// buffer's edge and up to the limit, one past the limit is refused (not
// cut), and a missing file is fs.ErrNotExist, as with os.Open.
func TestReadAttrWhole(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{0, 1, 511, 512, 513, 1024, 4097, maxAttrSize - 1, maxAttrSize} {
		want := strings.Repeat("x", n)
		p := filepath.Join(dir, "a")
		if err := os.WriteFile(p, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := readAttr(p)
		if err != nil || got != want {
			t.Fatalf("%d bytes: got %d bytes, err %v", n, len(got), err)
		}
	}
	p := filepath.Join(dir, "big")
	if err := os.WriteFile(p, make([]byte, maxAttrSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := readAttr(p); err == nil {
		t.Fatalf("a %d-byte file read as %d bytes without an error", maxAttrSize+1, len(got))
	}
	if _, err := readAttr(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: err %v, want fs.ErrNotExist", err)
	}
	if _, err := readAttr(dir); err == nil {
		t.Fatal("a directory read as an attribute")
	}
}
