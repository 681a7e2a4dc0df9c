package imaging

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// loopDevice attaches a loop device over a zeroed file of size bytes, or
// skips: it is the one way a test can exercise FileDisk's block-device
// path (exclusive open, capacity from the kernel) without hardware.
func loopDevice(t *testing.T, size int64) (dev, backing string) {
	t.Helper()
	if testing.Short() {
		t.Skip("loop device test skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		t.Skip("loop device test needs root")
	}
	if _, err := exec.LookPath("losetup"); err != nil {
		t.Skip("loop device test needs losetup (util-linux)")
	}
	backing = filepath.Join(t.TempDir(), "backing.img")
	if err := os.WriteFile(backing, make([]byte, size), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "--find", "--show", backing).CombinedOutput()
	if err != nil {
		t.Skipf("cannot attach a loop device: %v: %s", err, out)
	}
	dev = strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "--detach", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup --detach %s: %v: %s", dev, err, out)
		}
	})
	return dev, backing
}

func TestWriteBlockDevice(t *testing.T) {
	const capacity = 4 << 20
	dev, backing := loopDevice(t, capacity)
	s := newServer(t, nil, func(s *server, _ int, w http.ResponseWriter, r *http.Request) { s.content(w, r) })
	data, img := testData(testSize, 20, s.srv.URL+"/img")
	s.data = data

	disk, err := OpenDisk(dev)
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	if c, err := disk.Capacity(); !disk.IsBlockDevice() || c != capacity || err != nil {
		t.Fatalf("block device: %v, capacity %d, %v", disk.IsBlockDevice(), c, err)
	}
	// The exclusive open keeps a second writer (or a mount) off the disk.
	if d2, err := OpenDisk(dev); !errors.Is(err, syscall.EBUSY) {
		if d2 != nil {
			d2.Close()
		}
		t.Errorf("second exclusive open: want EBUSY, got %v", err)
	}
	ev, err := testWriter().Write(context.Background(), img, disk)
	if err != nil {
		t.Fatalf("Write: %v\n%+v", err, ev)
	}
	got, _ := os.ReadFile(backing)
	if !bytes.Equal(got[:len(data)], data) || len(got) != capacity {
		t.Error("device does not start with the image")
	}

	big := img
	big.Size = capacity + 1
	if _, err := testWriter().Write(context.Background(), big, disk); !errors.Is(err, ErrSizeMismatch) {
		t.Errorf("image larger than the device: %v", err)
	}
}
