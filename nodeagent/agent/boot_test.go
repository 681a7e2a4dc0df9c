package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// TestBootReport: a verified image task leaves the boot record; booted
// from disk, the agent reports the image it names with the digest of what
// the disk holds (a changed disk shows); in the ramdisk it says so; after
// an erase there is no image to report.
func TestBootReport(t *testing.T) {
	dir := t.TempDir()
	diskPath := filepath.Join(dir, "disk")
	img := []byte(strings.Repeat("image bytes ", 1000))
	disk := append(append([]byte{}, img...), make([]byte, 4096)...)
	if err := os.WriteFile(diskPath, disk, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(img)
	sha := hex.EncodeToString(sum[:])
	newAgent := func(mode BootMode) *Agent {
		a := &Agent{ReadDisk: func(p string) (io.ReaderAt, error) { return os.Open(p) }, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		a.cfg = Config{Disk: diskPath, BootMode: mode, BootRecord: filepath.Join(dir, "boot-record.json")}
		return a
	}
	task := &pb.ImageTask{Image: &pb.Image{Name: "alma", Version: "8", Size: uint64(len(img)), Sha256: sha, SourceUrl: "file:///x"}}

	ram := newAgent(BootRamdisk)
	ram.imageWritten(task, &savedResult{OK: false})
	if _, err := os.Stat(ram.cfg.BootRecord); err == nil {
		t.Fatal("a failed image task left a boot record")
	}
	ram.imageWritten(task, &savedResult{OK: true})
	if r := ram.bootReport(context.Background()); r.GetMode() != "ramdisk" || r.GetImage() != "" {
		t.Fatalf("ramdisk report %v", r)
	}

	if r := newAgent(BootDisk).bootReport(context.Background()); r.GetMode() != "disk" || r.GetImage() != "alma:8" || r.GetSha256() != sha || r.GetError() != "" {
		t.Fatalf("disk report %v, want alma:8 with %s", r, sha)
	}
	disk[100] ^= 0xff
	os.WriteFile(diskPath, disk, 0o600)
	if r := newAgent(BootDisk).bootReport(context.Background()); r.GetSha256() == sha || !strings.Contains(r.GetError(), "not the "+sha) {
		t.Fatalf("changed disk reported %v", r)
	}
	newAgent(BootDisk).diskErasing()
	if r := newAgent(BootDisk).bootReport(context.Background()); r.GetImage() != "" || !strings.Contains(r.GetError(), "no boot record") {
		t.Fatalf("after an erase: %v", r)
	}
	if r := newAgent("").bootReport(context.Background()); r != nil {
		t.Fatalf("an agent without a boot mode reported %v", r)
	}
}

func TestBootConfig(t *testing.T) {
	for _, tc := range []struct {
		mode   BootMode
		record string
		ok     bool
	}{{"", "", true}, {BootDisk, "/r", true}, {BootRamdisk, "/r", true}, {BootDisk, "", false}, {"floppy", "/r", false}} {
		if err := (Config{BootMode: tc.mode, BootRecord: tc.record}).checkBoot(); (err == nil) != tc.ok {
			t.Errorf("mode %q record %q: %v", tc.mode, tc.record, err)
		}
	}
}

// FuzzParseBootRecord: the boot record is read at every boot from a file
// a tenant's job could have written (root jobs own the disk): never a
// panic, and what it accepts is a bounded, well-formed record.
func FuzzParseBootRecord(f *testing.F) {
	f.Add([]byte(`{"image":"alma:8","size":12000,"sha256":"` + strings.Repeat("ab", 32) + `"}`))
	f.Add([]byte(`{"image":"","size":-1}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := parseBootRecord(b)
		if err != nil {
			return
		}
		if len(b) > maxBootRecordBytes || rec.Size <= 0 || rec.Image == "" || len(rec.Image) > 256 || len(rec.SHA256) != 64 {
			t.Fatalf("accepted %q as %+v", b, rec)
		}
	})
}
