package erase

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

func randomBytes(n int, seed byte) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

// TestOverwriteFile: a file with prior random content ends up all zeros,
// and the evidence lists the seeded samples that were checked.
func TestOverwriteFile(t *testing.T) {
	const size = 3<<20 + 1234
	path := filepath.Join(t.TempDir(), "disk.raw")
	if err := os.WriteFile(path, randomBytes(size, 1), 0o600); err != nil {
		t.Fatal(err)
	}
	o := &Overwrite{Seed: 42, BlockSize: 1 << 20}
	ev, err := o.Erase(context.Background(), Disk{Path: path, Kind: KindFile, Size: size})
	if err != nil {
		t.Fatalf("Erase: %v", err)
	}
	got, _ := os.ReadFile(path)
	if len(got) != size || !bytes.Equal(got, make([]byte, size)) {
		t.Fatalf("file not zeroed (len %d)", len(got))
	}
	if ev.Method != MethodOverwrite || ev.Pattern != "00" || ev.Bytes != size || ev.Seed != 42 || ev.SampleSize != DefaultSampleSize {
		t.Errorf("evidence: %+v", ev)
	}
	offs := ev.SampleOffsets
	if len(offs) != 2+DefaultSamples || ev.SamplesChecked != len(offs) || offs[0] != 0 || offs[1] != size-DefaultSampleSize {
		t.Fatalf("samples: checked %d of %v", ev.SamplesChecked, offs)
	}
	for _, o := range offs[2:] {
		if o%sectorSize != 0 || o < 0 || o > size-DefaultSampleSize {
			t.Errorf("random sample offset %d: not sector aligned or out of range", o)
		}
	}
	if ev.EraseDuration <= 0 || ev.VerifyDuration <= 0 || ev.Finished.Before(ev.Started) {
		t.Errorf("timings: %+v", ev)
	}
	// The same seed gives the same offsets: an auditor can recompute them.
	ev2, err := o.Erase(context.Background(), Disk{Path: path, Kind: KindFile})
	if err != nil || !slices.Equal(ev2.SampleOffsets, offs) {
		t.Errorf("seed 42 gave different offsets: %v", err)
	}
	// Seed 0 draws a fresh seed and records it.
	ev3, err := (&Overwrite{}).Erase(context.Background(), Disk{Path: path, Kind: KindFile})
	if err != nil || ev3.Seed == 0 || slices.Equal(ev3.SampleOffsets, offs) {
		t.Errorf("seed 0: got seed %d, err %v", ev3.Seed, err)
	}
}

func TestOverwritePattern(t *testing.T) {
	const size = 1<<20 + 3
	pattern := []byte{0xde, 0xad, 0xbe, 0xef, 0x42} // length does not divide the block size
	dev := NewFakeDevice("fake0", randomBytes(size, 2))
	o := &Overwrite{Pattern: pattern, BlockSize: 64 << 10, Open: func(string) (Device, error) { return dev, nil }}
	ev, err := o.Erase(context.Background(), Disk{Path: "fake0", Kind: KindFile})
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat(pattern, size/len(pattern)+1)[:size]
	if !bytes.Equal(dev.Bytes(), want) || ev.Pattern != "deadbeef42" || !dev.Closed() {
		t.Errorf("pattern not laid down from offset 0 (evidence %+v)", ev)
	}
}

// TestOverwriteLyingDevice: a device that acknowledges writes and keeps
// the old data is caught by the read-back.
func TestOverwriteLyingDevice(t *testing.T) {
	dev := NewFakeDevice("liar", randomBytes(2<<20, 3))
	dev.IgnoreWrites()
	o := &Overwrite{Seed: 7, Open: func(string) (Device, error) { return dev, nil }}
	ev, err := o.Erase(context.Background(), Disk{Path: "liar", Kind: KindFile})
	var ve *VerifyError
	if !errors.Is(err, ErrVerify) || !errors.As(err, &ve) {
		t.Fatalf("want a VerifyError, got %v", err)
	}
	if ve.BadSamples != ve.Checked || ve.Checked != len(ev.SampleOffsets) || ve.Offset != 0 || ve.Want != "0x00" {
		t.Errorf("VerifyError %+v, %d offsets", ve, len(ev.SampleOffsets))
	}

	// Over a blank device, zeros cannot tell a liar from an erase; a
	// pattern can.
	blank := NewFakeDevice("blank-liar", make([]byte, 1<<20))
	blank.IgnoreWrites()
	open := func(string) (Device, error) { return blank, nil }
	if _, err := (&Overwrite{Open: open}).Erase(context.Background(), Disk{Path: "x"}); err != nil {
		t.Fatalf("zeros over zeros: %v", err)
	}
	if _, err := (&Overwrite{Pattern: []byte{0xa5}, Open: open}).Erase(context.Background(), Disk{Path: "x"}); !errors.Is(err, ErrVerify) {
		t.Fatalf("a pattern must expose the liar, got %v", err)
	}
}

func TestOverwriteFailures(t *testing.T) {
	ctx := context.Background()
	t.Run("EIO", func(t *testing.T) {
		dev := NewFakeDevice("bad", make([]byte, 1<<20))
		dev.FailWriteAt(300_000)
		_, err := (&Overwrite{BlockSize: 64 << 10, Open: func(string) (Device, error) { return dev, nil }}).Erase(ctx, Disk{Path: "bad"})
		var de *DeviceError
		if !errors.As(err, &de) || de.Op != "write" || de.Offset != 300_000 || !errors.Is(err, syscall.EIO) {
			t.Fatalf("want write EIO at 300000, got %v", err)
		}
	})
	t.Run("sync", func(t *testing.T) {
		dev := NewFakeDevice("bad", make([]byte, 1<<20))
		dev.FailSync(syscall.EIO)
		_, err := (&Overwrite{Open: func(string) (Device, error) { return dev, nil }}).Erase(ctx, Disk{Path: "bad"})
		var de *DeviceError
		if !errors.As(err, &de) || de.Op != "sync" {
			t.Fatalf("want sync DeviceError, got %v", err)
		}
	})
	t.Run("size mismatch", func(t *testing.T) {
		dev := NewFakeDevice("d", make([]byte, 1<<20))
		_, err := (&Overwrite{Open: func(string) (Device, error) { return dev, nil }}).Erase(ctx, Disk{Path: "d", Size: 2 << 20})
		if err == nil {
			t.Fatal("want an error when inventory and device disagree on size")
		}
	})
	t.Run("cancel", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		dev := NewFakeDevice("d", randomBytes(1<<20, 4))
		_, err := (&Overwrite{Open: func(string) (Device, error) { return dev, nil }}).Erase(cctx, Disk{Path: "d"})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("want context.Canceled, got %v", err)
		}
	})
	t.Run("not a disk", func(t *testing.T) {
		if _, err := (&Overwrite{}).Erase(ctx, Disk{Path: t.TempDir()}); err == nil {
			t.Fatal("a directory is not an erase target")
		}
	})
}

func TestFake(t *testing.T) {
	f := &Fake{}
	boom := errors.New("boom")
	f.FailNext(nil, boom)
	d := Disk{Path: "/dev/nvme0n1", Kind: KindNVMe, Size: 100}
	if ev, err := f.Erase(context.Background(), d); err != nil || ev.Bytes != 100 || ev.Method != MethodFake {
		t.Errorf("first call: %+v %v", ev, err)
	}
	if _, err := f.Erase(context.Background(), d); err != boom {
		t.Errorf("second call: %v", err)
	}
	if _, err := f.Erase(context.Background(), d); err != nil {
		t.Errorf("third call: %v", err)
	}
	if len(f.Calls()) != 3 {
		t.Errorf("calls: %v", f.Calls())
	}
}
