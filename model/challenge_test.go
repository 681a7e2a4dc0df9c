package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

func TestEraseOffsets(t *testing.T) {
	offs, ss := EraseOffsets(10000, 4096, []uint64{0, 1, 1 << 60})
	if ss != 4096 || len(offs) != 5 || offs[0] != 0 || offs[1] != 10000-4096 {
		t.Fatalf("offsets %v, sample size %d", offs, ss)
	}
	for _, o := range offs[2:] {
		if o%SectorSize != 0 || o < 0 || o+int64(ss) > 10000 {
			t.Errorf("offset %d outside the disk or unaligned", o)
		}
	}
	if offs, ss := EraseOffsets(100, 4096, []uint64{5}); ss != 100 || len(offs) != 2 || offs[1] != 0 {
		t.Errorf("tiny disk: %v %d", offs, ss)
	}
}

func TestBlockHasherMatchesWholeAndBlocks(t *testing.T) {
	data := bytes.Repeat([]byte{1, 2, 3}, 1<<20) // 3 MiB
	h := NewBlockHasher(1 << 20)
	for off := 0; off < len(data); off += 777777 { // writes across block edges
		h.Write(data[off:min(off+777777, len(data))])
	}
	sum, size := h.Sum()
	whole := sha256.Sum256(data)
	if sum != hex.EncodeToString(whole[:]) || size != int64(len(data)) || len(h.Blocks) != 3 {
		t.Fatalf("sum %s size %d blocks %d", sum, size, len(h.Blocks))
	}
	b1 := sha256.Sum256(data[1<<20 : 2<<20])
	if h.Blocks[1] != hex.EncodeToString(b1[:]) {
		t.Fatal("block 1's hash is wrong")
	}
	img := Image{Name: "x", Version: "1", Size: size, SHA256: sum, SourceURL: "file:///x", BlockSize: 1 << 20, Blocks: h.Blocks}
	if err := img.ValidateBlocks(); err != nil {
		t.Fatal(err)
	}
	img.Blocks = img.Blocks[:2]
	if err := img.ValidateBlocks(); err == nil {
		t.Fatal("a short block list validated")
	}
}

func TestImageBlockSizeBoundsTheList(t *testing.T) {
	for _, size := range []int64{1, 1 << 20, 5 << 30, 100 << 30, 1 << 42} {
		bs := ImageBlockSize(size)
		if n := ImageBlockCount(size, bs); n > MaxImageBlocks && bs < MaxImageBlockSize {
			t.Errorf("size %d: %d blocks of %d", size, n, bs)
		}
	}
}

func TestParseAnswerBounds(t *testing.T) {
	if _, err := ParseAnswer([]byte(`{"nonce":"` + strings.Repeat("a", 600) + `"}`)); err == nil {
		t.Error("a 600-byte nonce parsed")
	}
	many := `{"nonce":"n","image":{"blocks":[` + strings.Repeat(`{"index":1},`, 300) + `{"index":1}]}}`
	if _, err := ParseAnswer([]byte(many)); err == nil {
		t.Error("301 blocks parsed")
	}
	if _, err := ParseAnswer([]byte(`{"nonce":"n","procs":{"checked":["x"]}}`)); err != nil {
		t.Error(err)
	}
	for _, n := range []string{"0", "-1", "1048577"} {
		if _, err := ParseAnswer([]byte(`{"nonce":"n","reruns":{"interrupted":` + n + `}}`)); err == nil {
			t.Errorf("%s interrupted runs parsed", n)
		}
	}
}

func FuzzParseAnswer(f *testing.F) {
	f.Add([]byte(`{"nonce":"0123456789abcdef0123456789abcdef","erase":{"method":"overwrite","pattern":"00","disk_size":4096,"bytes_erased":4096,"sample_size":512,"samples":[{"offset":0,"sha256":"x"}]}}`))
	f.Add([]byte(`{"nonce":"n","reruns":{"interrupted":2,"last_started":"2026-11-27T08:00:00Z","again":"2026-11-27T08:00:05Z"}}`))
	f.Add([]byte(`{"nonce":"n","firmware":{"devices":[{"device":"mlx5_0","psid":"MT_1","readings":[{"source":"sysfs-fw_ver","version":"1"}]}]},"pkeys":{"ports":[{"port":"mlx5_0/1","keys":[32767]}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseAnswer(b)
		if err != nil {
			return
		}
		c := Challenge{Nonce: a.Nonce, Draws: []uint64{1, 2}, SampleSize: 512, Pins: map[string]string{"MT_1": "1"}, PKeys: true}
		_, _ = CheckErase(c, a, 0)
		_, _ = CheckFirmware(c, a)
		_, _ = CheckHandout(c, a, nil)
		if r := a.Reruns; r != nil {
			from := time.Date(2026, 11, 27, 8, 0, 1, 0, time.UTC)
			to := from.Add(time.Second)
			if s, e := r.RerunSpan(from, to); s.Before(from) || e.Before(s) || e.After(to) {
				t.Fatalf("rerun span %v..%v outside %v..%v", s, e, from, to)
			}
		}
	})
}
