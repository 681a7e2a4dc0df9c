package imaging

import (
	"strings"
	"testing"
)

func validImage() Image {
	return Image{Name: "rocky9-hpc", Version: "2024.06.1+cuda12", Size: 1 << 30,
		SHA256: strings.Repeat("ab", 32), SourceURL: "https://images.example.net/rocky9-hpc/2024.06.1.raw"}
}

func TestParseContentRange(t *testing.T) {
	for _, tc := range []struct {
		in                 string
		first, last, total int64
		ok                 bool
	}{
		{"bytes 0-99/100", 0, 99, 100, true},
		{"bytes 10-99/*", 10, 99, -1, true},
		{"bytes 10-99/99", 0, 0, 0, false},
		{"bytes 10-9/100", 0, 0, 0, false},
		{"bytes -1-9/100", 0, 0, 0, false},
		{"bytes */100", 0, 0, 0, false},
		{"items 0-9/10", 0, 0, 0, false},
		{"", 0, 0, 0, false},
	} {
		f, l, tot, err := parseContentRange(tc.in)
		if (err == nil) != tc.ok || tc.ok && (f != tc.first || l != tc.last || tot != tc.total) {
			t.Errorf("%q: got %d %d %d %v", tc.in, f, l, tot, err)
		}
	}
}

func TestBackoff(t *testing.T) {
	w := &Writer{Backoff: 100, MaxBackoff: 1000}
	var got []int64
	for n := 1; n <= 6; n++ {
		got = append(got, int64(w.backoff(n)))
	}
	want := []int64{100, 200, 400, 800, 1000, 1000}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("backoff schedule %v, want %v", got, want)
		}
	}
	if d := (&Writer{}).backoff(100); d != DefaultMaxBackoff {
		t.Errorf("default cap: %v", d)
	}
	if (&Writer{BufferSize: 1}).bufferSize() != bufferAlign || (&Writer{}).bufferSize() != DefaultBufferSize {
		t.Error("buffer size rounding")
	}
}
