package erase

import (
	"bytes"
	"fmt"
	"testing"
)

// patternCheck compares a run at a time; it must find exactly the byte the
// byte-wise definition finds, at any offset, pattern length and position.
func TestPatternCheckFindsTheFirstWrongByte(t *testing.T) {
	ref := func(pattern []byte, off int64, got []byte) (int, string, string) {
		for i, b := range got {
			if want := pattern[(off+int64(i))%int64(len(pattern))]; b != want {
				return i, fmt.Sprintf("%#02x", want), fmt.Sprintf("%#02x", b)
			}
		}
		return -1, "", ""
	}
	for _, pattern := range [][]byte{{0}, {0xa5, 0x5a, 0x01}, bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7}, 9)} {
		check := patternCheck(pattern)
		for _, off := range []int64{0, 1, 511, 4096, 1<<20 + 3} {
			for _, size := range []int{1, 100, patternRun, patternRun + 1, 3*patternRun + 17} {
				sample := make([]byte, size)
				for i := range sample {
					sample[i] = pattern[(off+int64(i))%int64(len(pattern))]
				}
				if i, _, _ := check(off, sample); i != -1 {
					t.Fatalf("pattern %x off %d size %d: a correct sample is wrong at %d", pattern, off, size, i)
				}
				for _, at := range []int{0, size / 2, size - 1} {
					bad := bytes.Clone(sample)
					bad[at] ^= 0xff
					gi, gw, gf := check(off, bad)
					ri, rw, rf := ref(pattern, off, bad)
					if gi != ri || gw != rw || gf != rf {
						t.Fatalf("pattern %x off %d size %d byte %d: got (%d %s %s), want (%d %s %s)", pattern, off, size, at, gi, gw, gf, ri, rw, rf)
					}
				}
			}
		}
	}
}
