package imaging

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"syscall"
	"testing"

	"github.com/ibex-hpc/ibex/internal/testutil"
)

// TestWriteBlockDevice exercises FileDisk's block-device path (exclusive
// open, capacity from the kernel) on a loop device.
func TestWriteBlockDevice(t *testing.T) {
	const capacity = 4 << 20
	dev, backing := testutil.LoopDevice(t, make([]byte, capacity))
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
