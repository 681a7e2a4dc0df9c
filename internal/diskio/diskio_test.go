package diskio

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSyncAndDrop(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("data")
	if err := Fdatasync(f); err != nil {
		t.Fatal(err)
	}
	if err := DropCache(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := Fdatasync(f); err == nil {
		t.Fatal("fdatasync of a closed file succeeded")
	}
}
