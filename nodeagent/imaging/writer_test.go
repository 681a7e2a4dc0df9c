package imaging

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const testSize = 1<<20 + 12345 // not a multiple of the buffer size: the tail chunk is short

func TestWriteHTTP(t *testing.T) {
	s := newServer(t, nil, func(s *server, _ int, w http.ResponseWriter, r *http.Request) { s.content(w, r) })
	data, img := testData(testSize, 1, s.srv.URL+"/rocky9.raw")
	s.data = data
	disk := NewFakeDisk("fake0", 8<<20)

	ev, err := testWriter().Write(context.Background(), img, disk)
	if err != nil {
		t.Fatalf("Write: %v\n%+v", err, ev)
	}
	if ev.Dirty || ev.Attempts != 1 || ev.Resumes != 0 || ev.Restarts != 0 {
		t.Errorf("evidence: %+v", ev)
	}
	if ev.BytesWritten != img.Size || ev.BytesFetched != img.Size || ev.SHA256 != img.SHA256 || ev.ReadBackSHA256 != img.SHA256 {
		t.Errorf("evidence bytes/digests: %+v", ev)
	}
	if ev.Target != "fake0" || ev.Image.Ref() != img.Ref() || !ev.Finished.After(ev.Started) || ev.WriteDuration <= 0 || ev.ReadBackDuration <= 0 {
		t.Errorf("evidence bookkeeping: %+v", ev)
	}
	if got := disk.Bytes(); !bytes.Equal(got, data) {
		t.Errorf("disk holds %d bytes, not the image", len(got))
	}
	if _, syncs, drops := disk.Counts(); syncs != 1 || drops != 1 {
		t.Errorf("want one fdatasync and one cache drop, got %d and %d", syncs, drops)
	}
	if reqs := s.requests(); len(reqs) != 1 || reqs[0].Range != "" {
		t.Errorf("requests: %+v", reqs)
	}
}

// TestWriteFileToFile uses the real Disk and the file:// source: the
// target file ends up exactly the image, even if it held more before.
func TestWriteFileToFile(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "image.raw")
	data, img := testData(testSize, 2, "file://"+src)
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "disk.raw")
	if err := os.WriteFile(dst, bytes.Repeat([]byte{0xee}, 3<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	disk, err := OpenDisk(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	if disk.IsBlockDevice() {
		t.Fatal("regular file reported as block device")
	}
	if c, _ := disk.Capacity(); c != -1 {
		t.Errorf("file capacity %d, want -1", c)
	}
	ev, err := testWriter().Write(context.Background(), img, disk)
	if err != nil {
		t.Fatalf("Write: %v\n%+v", err, ev)
	}
	got, _ := os.ReadFile(dst)
	if !bytes.Equal(got, data) {
		t.Errorf("target file is %d bytes and differs from the image", len(got))
	}
	if ev.ReadBackSHA256 != img.SHA256 || ev.Dirty {
		t.Errorf("evidence: %+v", ev)
	}
}

func TestResumeAfterDrop(t *testing.T) {
	const cutAt = 300_001
	s := newServer(t, nil, func(s *server, n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			cut(w, s.data, cutAt)
		}
		s.content(w, r)
	})
	data, img := testData(testSize, 3, s.srv.URL+"/img")
	s.data = data
	disk := NewFakeDisk("fake0", -1)
	var prog []Progress
	w := testWriter()
	w.Progress = func(p Progress) { prog = append(prog, p) }
	w.ProgressInterval = time.Nanosecond

	ev, err := w.Write(context.Background(), img, disk)
	if err != nil {
		t.Fatalf("Write: %v\n%+v", err, ev)
	}
	reqs := s.requests()
	if len(reqs) != 2 {
		t.Fatalf("want 2 requests, got %+v", reqs)
	}
	var from int64
	if _, err := fmt.Sscanf(reqs[1].Range, "bytes=%d-", &from); err != nil || from <= 0 || from > cutAt {
		t.Fatalf("second request Range %q: want bytes=N- with 0 < N <= %d", reqs[1].Range, cutAt)
	}
	if reqs[1].Status != http.StatusPartialContent || reqs[1].IfRange != `"img-v1"` {
		t.Errorf("second request: %+v, want 206 and If-Range with the ETag", reqs[1])
	}
	if ev.Attempts != 2 || ev.Resumes != 1 || ev.Restarts != 0 || len(ev.AttemptErrors) != 1 {
		t.Errorf("evidence: %+v", ev)
	}
	// Nothing was fetched twice: the resume started at the first byte
	// not yet received, which the drain made sure was also written.
	if ev.BytesFetched != img.Size || !bytes.Equal(disk.Bytes(), data) {
		t.Errorf("fetched %d of %d; disk equal: %v", ev.BytesFetched, img.Size, bytes.Equal(disk.Bytes(), data))
	}
	checkMonotonic(t, prog, img.Size)
}

// TestServerIgnoresRange: a server that answers a Range request with 200
// and the whole file must not be spliced in at the resume offset; Write
// starts over with a fresh hash (with the old hash state the digest could
// never match).
func TestServerIgnoresRange(t *testing.T) {
	s := newServer(t, nil, func(s *server, n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			cut(w, s.data, 500_000)
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(s.data)))
		w.Write(s.data) // 200, Range ignored
	})
	data, img := testData(testSize, 4, s.srv.URL+"/img")
	s.data = data
	disk := NewFakeDisk("fake0", -1)
	var prog []Progress
	w := testWriter()
	w.Progress = func(p Progress) { prog = append(prog, p) }
	w.ProgressInterval = time.Nanosecond

	ev, err := w.Write(context.Background(), img, disk)
	if err != nil {
		t.Fatalf("Write: %v\n%+v", err, ev)
	}
	reqs := s.requests()
	if len(reqs) != 2 || reqs[1].Range == "" || reqs[1].Status != http.StatusOK {
		t.Fatalf("requests: %+v", reqs)
	}
	if ev.Restarts != 1 || ev.Resumes != 0 || ev.Attempts != 2 || ev.SHA256 != img.SHA256 {
		t.Errorf("evidence: %+v", ev)
	}
	if ev.BytesFetched <= img.Size || !bytes.Equal(disk.Bytes(), data) {
		t.Errorf("fetched %d (want > %d after a restart); disk equal %v", ev.BytesFetched, img.Size, bytes.Equal(disk.Bytes(), data))
	}
	checkMonotonic(t, prog, img.Size)
}

// TestWrongContentRange: a 206 for another range than asked is not
// trusted; the next attempt asks for the whole image.
func TestWrongContentRange(t *testing.T) {
	s := newServer(t, nil, func(s *server, n int, w http.ResponseWriter, r *http.Request) {
		switch n {
		case 1:
			cut(w, s.data, 200_000)
		case 2:
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", len(s.data)-1, len(s.data)))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(s.data)
		default:
			s.content(w, r)
		}
	})
	data, img := testData(testSize, 5, s.srv.URL+"/img")
	s.data = data
	disk := NewFakeDisk("fake0", -1)
	ev, err := testWriter().Write(context.Background(), img, disk)
	if err != nil {
		t.Fatalf("Write: %v\n%+v", err, ev)
	}
	reqs := s.requests()
	if len(reqs) != 3 || reqs[2].Range != "" || ev.Restarts != 1 || !bytes.Equal(disk.Bytes(), data) {
		t.Errorf("requests %+v, evidence %+v", reqs, ev)
	}
}

func TestCorruptedImageRefused(t *testing.T) {
	s := newServer(t, nil, func(s *server, _ int, w http.ResponseWriter, r *http.Request) { s.content(w, r) })
	data, img := testData(testSize, 6, s.srv.URL+"/img")
	bad := bytes.Clone(data)
	bad[777_777] ^= 0x01
	s.data = bad
	disk := NewFakeDisk("fake0", -1)
	ev, err := testWriter().Write(context.Background(), img, disk)
	var me *MismatchError
	if !errors.Is(err, ErrDigestMismatch) || !errors.As(err, &me) || me.Want != img.SHA256 || me.Got != ev.SHA256 {
		t.Fatalf("want ErrDigestMismatch with both digests, got %v", err)
	}
	if !ev.Dirty || ev.Attempts != 1 || ev.ReadBackSHA256 != "" {
		t.Errorf("a corrupted image leaves the disk dirty, is not retried, and is not read back: %+v", ev)
	}
}

func TestTruncatedImageRefused(t *testing.T) {
	data, img := testData(testSize, 7, "")
	short := data[:len(data)-4096]
	cases := []struct {
		name      string
		serve     func(w http.ResponseWriter, r *http.Request)
		wantDirty bool
	}{
		// Content-Length gives the truncation away before any write.
		{"content-length", func(w http.ResponseWriter, r *http.Request) {
			http.ServeContent(w, r, "x", time.Time{}, bytes.NewReader(short))
		}, false},
		// Chunked: found when the body ends cleanly too early.
		{"chunked-short", func(w http.ResponseWriter, r *http.Request) {
			w.Write(short)
		}, true},
		{"chunked-long", func(w http.ResponseWriter, r *http.Request) {
			w.Write(append(bytes.Clone(data), 1, 2, 3))
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, nil, func(_ *server, _ int, w http.ResponseWriter, r *http.Request) { tc.serve(w, r) })
			img := img
			img.SourceURL = s.srv.URL + "/img"
			ev, err := testWriter().Write(context.Background(), img, NewFakeDisk("fake0", -1))
			if !errors.Is(err, ErrSizeMismatch) {
				t.Fatalf("want ErrSizeMismatch, got %v", err)
			}
			if ev.Dirty != tc.wantDirty || ev.Attempts != 1 {
				t.Errorf("Dirty %v (want %v), attempts %d (size mismatches are not retried)", ev.Dirty, tc.wantDirty, ev.Attempts)
			}
		})
	}
	t.Run("file", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "img")
		os.WriteFile(p, short, 0o600)
		img := img
		img.SourceURL = "file://" + p
		if _, err := testWriter().Write(context.Background(), img, NewFakeDisk("fake0", -1)); !errors.Is(err, ErrSizeMismatch) {
			t.Fatalf("want ErrSizeMismatch, got %v", err)
		}
	})
}

func TestDiskErrors(t *testing.T) {
	s := newServer(t, nil, func(s *server, _ int, w http.ResponseWriter, r *http.Request) { s.content(w, r) })
	data, img := testData(testSize, 8, s.srv.URL+"/img")
	s.data = data

	t.Run("EIO", func(t *testing.T) {
		const bad = 654_321
		disk := NewFakeDisk("fake0", -1)
		disk.FailWriteAt(bad, nil)
		ev, err := testWriter().Write(context.Background(), img, disk)
		var de *DiskError
		if !errors.As(err, &de) || de.Op != "write" || de.Offset != bad || !errors.Is(err, syscall.EIO) {
			t.Fatalf("want a write DiskError at %d wrapping EIO, got %v", bad, err)
		}
		if !ev.Dirty || ev.Attempts != 1 || ev.BytesWritten > bad {
			t.Errorf("evidence: %+v", ev)
		}
	})
	t.Run("short write", func(t *testing.T) {
		disk := NewFakeDisk("fake0", -1)
		disk.ShortWriteAt(100_000)
		_, err := testWriter().Write(context.Background(), img, disk)
		var de *DiskError
		if !errors.As(err, &de) || de.Offset != 100_000 || !errors.Is(err, io.ErrShortWrite) {
			t.Fatalf("want ErrShortWrite at 100000, got %v", err)
		}
	})
	t.Run("sync", func(t *testing.T) {
		disk := NewFakeDisk("fake0", -1)
		disk.FailSync(syscall.EIO)
		ev, err := testWriter().Write(context.Background(), img, disk)
		var de *DiskError
		if !errors.As(err, &de) || de.Op != "sync" || !ev.Dirty {
			t.Fatalf("want a sync DiskError on a dirty disk, got %v, %+v", err, ev)
		}
	})
	t.Run("too small", func(t *testing.T) {
		disk := NewFakeDisk("fake0", img.Size-1)
		ev, err := testWriter().Write(context.Background(), img, disk)
		if !errors.Is(err, ErrSizeMismatch) || ev.Dirty || ev.Attempts != 0 {
			t.Fatalf("want a refusal before any fetch or write, got %v, %+v", err, ev)
		}
		if w, _, _ := disk.Counts(); w != 0 {
			t.Errorf("%d writes to a disk that is too small", w)
		}
	})
}

// TestReadBack: writes the disk acknowledged but did not keep are caught
// only by the read-back, which is why it is on by default.
func TestReadBack(t *testing.T) {
	s := newServer(t, nil, func(s *server, _ int, w http.ResponseWriter, r *http.Request) { s.content(w, r) })
	data, img := testData(testSize, 9, s.srv.URL+"/img")
	s.data = data
	for _, tc := range []struct {
		name  string
		fault func(*FakeDisk)
	}{
		{"bit flip", func(d *FakeDisk) { d.CorruptAt(123_456) }},
		{"writes ignored", func(d *FakeDisk) { d.IgnoreWrites() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			disk := NewFakeDisk("fake0", 4<<20)
			tc.fault(disk)
			ev, err := testWriter().Write(context.Background(), img, disk)
			if !errors.Is(err, ErrReadBackMismatch) || !ev.Dirty || ev.SHA256 != img.SHA256 || ev.ReadBackSHA256 == img.SHA256 {
				t.Fatalf("want ErrReadBackMismatch after a good stream, got %v, %+v", err, ev)
			}
			disk = NewFakeDisk("fake0", 4<<20)
			tc.fault(disk)
			w := testWriter()
			w.SkipReadBack = true
			ev, err = w.Write(context.Background(), img, disk)
			if err != nil || ev.ReadBackSHA256 != "" || ev.ReadBackDuration != 0 {
				t.Errorf("with SkipReadBack the fault goes unseen: %v, %+v", err, ev)
			}
		})
	}
	t.Run("read EIO", func(t *testing.T) {
		disk := NewFakeDisk("fake0", -1)
		disk.FailReadAt(999_999, nil)
		_, err := testWriter().Write(context.Background(), img, disk)
		var de *DiskError
		if !errors.As(err, &de) || de.Op != "read" || de.Offset != 999_999 {
			t.Fatalf("want a read DiskError at 999999, got %v", err)
		}
	})
}

func TestContextCancel(t *testing.T) {
	s := newServer(t, nil, func(s *server, _ int, w http.ResponseWriter, r *http.Request) { s.content(w, r) })
	data, img := testData(4<<20, 10, s.srv.URL+"/img")
	s.data = data

	t.Run("slow disk", func(t *testing.T) {
		disk := NewFakeDisk("slow", -1)
		disk.SetWriteDelay(50 * time.Millisecond) // 64 writes: >3 s uncancelled
		ctx, cancel := context.WithCancel(context.Background())
		var once sync.Once
		w := testWriter()
		w.Progress = func(Progress) { once.Do(cancel) }
		w.ProgressInterval = time.Nanosecond
		start := time.Now()
		ev, err := w.Write(ctx, img, disk)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("want context.Canceled, got %v", err)
		}
		if d := time.Since(start); d > 1500*time.Millisecond {
			t.Errorf("cancel took %v to take effect", d)
		}
		if !ev.Dirty || ev.BytesWritten >= img.Size {
			t.Errorf("evidence: %+v", ev)
		}
	})
	t.Run("during back-off", func(t *testing.T) {
		s := newServer(t, nil, func(_ *server, _ int, w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "busy", http.StatusServiceUnavailable)
		})
		img := img
		img.SourceURL = s.srv.URL + "/img"
		w := testWriter()
		w.Backoff, w.MaxBackoff = time.Hour, time.Hour
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		ev, err := w.Write(ctx, img, NewFakeDisk("fake0", -1))
		if !errors.Is(err, context.DeadlineExceeded) || ev.Attempts != 1 || ev.Dirty {
			t.Fatalf("want DeadlineExceeded during the first back-off, got %v, %+v", err, ev)
		}
	})
}

func TestRetriesBounded(t *testing.T) {
	for _, tc := range []struct {
		code, attempts int
	}{
		{http.StatusInternalServerError, 4},
		{http.StatusTooManyRequests, 4},
		{http.StatusNotFound, 1}, // retrying a 404 cannot help
	} {
		s := newServer(t, nil, func(_ *server, _ int, w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "no", tc.code)
		})
		_, img := testData(1000, 11, s.srv.URL+"/img")
		w := testWriter()
		w.MaxAttempts = 4
		ev, err := w.Write(context.Background(), img, NewFakeDisk("fake0", -1))
		var se *SourceError
		var he *HTTPStatusError
		if !errors.As(err, &se) || !errors.As(err, &he) || he.Code != tc.code || se.Attempts != tc.attempts || ev.Attempts != tc.attempts {
			t.Errorf("HTTP %d: want %d attempts, got %v, %+v", tc.code, tc.attempts, err, ev)
		}
		if got := len(s.requests()); got != tc.attempts {
			t.Errorf("HTTP %d: %d requests", tc.code, got)
		}
	}
}

func TestProgressMonotonic(t *testing.T) {
	s := newServer(t, nil, func(s *server, _ int, w http.ResponseWriter, r *http.Request) { s.content(w, r) })
	data, img := testData(2<<20, 12, s.srv.URL+"/img")
	s.data = data
	disk := NewFakeDisk("fake0", -1)
	disk.SetWriteDelay(2 * time.Millisecond)
	var prog []Progress
	var times []time.Time
	w := testWriter()
	w.ProgressInterval = 10 * time.Millisecond
	w.Progress = func(p Progress) { prog, times = append(prog, p), append(times, time.Now()) }
	if _, err := w.Write(context.Background(), img, disk); err != nil {
		t.Fatal(err)
	}
	checkMonotonic(t, prog, img.Size)
	// Rate limit: within a phase, reports are at least ProgressInterval
	// apart, except the phase's final one.
	for i := 1; i < len(prog); i++ {
		final := prog[i].Done == prog[i].Total
		if prog[i].Phase == prog[i-1].Phase && !final && times[i].Sub(times[i-1]) < 9*time.Millisecond {
			t.Errorf("reports %d and %d only %v apart", i-1, i, times[i].Sub(times[i-1]))
		}
	}
	if n := len(prog); n < 3 {
		t.Errorf("only %d progress reports for a ~70ms write", n)
	}
}

// checkMonotonic: per phase, Done never decreases and ends at Total;
// rates are finite and non-negative; the write phase comes first.
func checkMonotonic(t *testing.T, prog []Progress, total int64) {
	t.Helper()
	if len(prog) == 0 {
		t.Fatal("no progress reports")
	}
	last := map[Phase]int64{}
	var phases []Phase
	for i, p := range prog {
		if p.Total != total || p.Rate < 0 || p.Done > total {
			t.Errorf("report %d: %+v", i, p)
		}
		prev, seen := last[p.Phase]
		if !seen {
			phases = append(phases, p.Phase)
		} else if p.Done < prev {
			t.Errorf("report %d: %s Done went back from %d to %d", i, p.Phase, prev, p.Done)
		}
		last[p.Phase] = p.Done
	}
	if phases[0] != PhaseWrite {
		t.Errorf("phases %v", phases)
	}
	for ph, d := range last {
		if d != total {
			t.Errorf("%s ended at %d of %d", ph, d, total)
		}
	}
}

func TestInvalidImageNotFetched(t *testing.T) {
	s := newServer(t, nil, func(_ *server, _ int, w http.ResponseWriter, _ *http.Request) {})
	_, img := testData(10, 13, s.srv.URL+"/img")
	img.Name = "../../etc"
	_, err := testWriter().Write(context.Background(), img, NewFakeDisk("fake0", -1))
	if !errors.Is(err, ErrInvalidImage) || !strings.Contains(err.Error(), "..") || len(s.requests()) != 0 {
		t.Fatalf("want ErrInvalidImage before any request, got %v", err)
	}
}

// TestStalledSource: a server that stops sending without closing the
// connection is abandoned after StallTimeout and the image resumed.
func TestStalledSource(t *testing.T) {
	s := newServer(t, nil, func(s *server, n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.Header().Set("Content-Length", fmt.Sprint(len(s.data)))
			w.Header().Set("ETag", `"img-v1"`)
			w.Write(s.data[:100_000])
			w.(http.Flusher).Flush()
			<-r.Context().Done() // hang until the client gives up
			return
		}
		s.content(w, r)
	})
	data, img := testData(testSize, 14, s.srv.URL+"/img")
	s.data = data
	w := testWriter()
	w.StallTimeout = 100 * time.Millisecond
	disk := NewFakeDisk("fake0", -1)
	ev, err := w.Write(context.Background(), img, disk)
	if err != nil {
		t.Fatalf("Write: %v\n%+v", err, ev)
	}
	if ev.Attempts != 2 || ev.Resumes != 1 || !strings.Contains(ev.AttemptErrors[0], "stalled") || !bytes.Equal(disk.Bytes(), data) {
		t.Errorf("evidence: %+v", ev)
	}
}

// memSource serves an image from memory, resuming anywhere.
type memSource struct{ data []byte }

func (m memSource) Open(_ context.Context, off int64) (io.ReadCloser, int64, error) {
	return io.NopCloser(bytes.NewReader(m.data[off:])), off, nil
}

// TestSlowDiskIsNotAStall: waiting for the disk pauses the stall
// watchdog, so a disk slower than StallTimeout per write does not cause
// retries. The source is in memory so that only the disk is slow.
func TestSlowDiskIsNotAStall(t *testing.T) {
	data, img := testData(256<<10, 15, "https://images.example.net/img")
	disk := NewFakeDisk("slow", -1)
	disk.SetWriteDelay(250 * time.Millisecond)
	w := testWriter()
	w.StallTimeout = 100 * time.Millisecond
	w.OpenSource = func(Image) (Source, error) { return memSource{data}, nil }
	ev, err := w.Write(context.Background(), img, disk)
	if err != nil || ev.Attempts != 1 || !bytes.Equal(disk.Bytes(), data) {
		t.Fatalf("want one clean attempt, got %v, %+v", err, ev)
	}
}
