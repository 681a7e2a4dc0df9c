package model

import (
	"bytes"
	"testing"
)

// patternAt doubles its first period by copy; it must equal the byte-wise
// definition at any offset, length and pattern.
func TestPatternAtMatchesTheDefinition(t *testing.T) {
	for _, pattern := range [][]byte{{0}, {0xa5, 0x5a, 0x01}, bytes.Repeat([]byte{9, 8, 7, 6, 5}, 12)} {
		for _, off := range []int64{0, 1, 2, 63, 4096, 1<<24 + 7} {
			for _, n := range []int{0, 1, 2, 3, 59, 60, 61, 4096, 4099} {
				want := make([]byte, n)
				for i := range want {
					want[i] = pattern[(off+int64(i))%int64(len(pattern))]
				}
				if got := patternAt(pattern, off, n); !bytes.Equal(got, want) {
					t.Fatalf("pattern %x off %d n %d: got %x, want %x", pattern, off, n, got, want)
				}
			}
		}
	}
}
