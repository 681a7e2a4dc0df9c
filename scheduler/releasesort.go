package scheduler

import (
	"cmp"
	"slices"
)

// The first look into the future sorts the whole release list, one entry
// per busy host (some 50,000 on a half-busy 100,000-node fabric): a
// comparison sort took ~4 ms of a pass. The keys are nanosecond instants
// within a few days of each other, so a least-significant-digit radix
// sort over the span max-min needs 4 rounds of 12 bits: O(n) and
// about a tenth of the time. Only the time order matters (releases at the
// same instant are applied together: releases.go), and the sort is
// stable anyway.

const (
	radixBits = 12
	// radixMin is the list length below which a comparison sort is
	// cheaper than clearing and scanning the counts.
	radixMin = 512
)

// radixByAt sorts rel by at in place, using scratch (grown as needed) and
// returning it for reuse.
func radixByAt(rel, scratch []release) []release {
	if len(rel) < radixMin {
		slices.SortStableFunc(rel, func(a, b release) int { return cmp.Compare(a.at, b.at) })
		return scratch
	}
	lo, hi := rel[0].at, rel[0].at
	for _, r := range rel[1:] {
		lo, hi = min(lo, r.at), max(hi, r.at)
	}
	span := uint64(hi) - uint64(lo) // fits: hi >= lo
	if cap(scratch) < len(rel) {
		scratch = make([]release, len(rel))
	}
	scratch = scratch[:len(rel)]
	src, dst := rel, scratch
	var count [1 << radixBits]int
	for shift := uint(0); shift < 64 && span>>shift != 0; shift += radixBits {
		clear(count[:])
		for _, r := range src {
			count[(uint64(r.at)-uint64(lo))>>shift&(1<<radixBits-1)]++
		}
		pos := 0
		for d, c := range count {
			count[d] = pos
			pos += c
		}
		for _, r := range src {
			d := (uint64(r.at) - uint64(lo)) >> shift & (1<<radixBits - 1)
			dst[count[d]] = r
			count[d]++
		}
		src, dst = dst, src
	}
	if &src[0] != &rel[0] {
		copy(rel, src)
	}
	return scratch
}
