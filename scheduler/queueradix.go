package scheduler

import (
	"math"
	"slices"
)

// With the priority order, nearly every job of a long queue has a
// priority of its own (age is continuous), and the comparison sort of
// 10,000 keys was ~1.5 ms of a pass. A least-significant-digit radix sort
// by the priority's bits orders them in O(n), stable, highest first; then
// only runs of equal priority need the rest of the comparison (submission,
// ID, position), by a comparison sort of each run. The order is the one
// compareQ gives, since priority is its first criterion.

// prioRadixMin is the queue length below which a comparison sort is
// cheaper than the radix rounds.
const prioRadixMin = 512

// prioBits maps a priority to bits whose unsigned order is the reverse of
// the priority's (highest first); ok is false for NaN, whose comparisons
// the radix sort cannot reproduce. -0 is +0, as the comparison sees them.
func prioBits(p float64) (bits uint64, ok bool) {
	if p != p {
		return 0, false
	}
	if p == 0 {
		p = 0 // -0
	}
	b := math.Float64bits(p)
	if b>>63 == 0 {
		b |= 1 << 63 // non-negative: above every negative
	} else {
		b = ^b // negative: larger magnitude lower
	}
	return ^b, true
}

// sortByPrio sorts keys as compareQ orders them, reporting false (keys
// untouched) when it cannot: a NaN priority, or too few keys to gain.
func sortByPrio(keys []qkey) bool {
	if len(keys) < prioRadixMin {
		return false
	}
	bits := make([]uint64, len(keys))
	lo, hi := uint64(math.MaxUint64), uint64(0)
	for i, k := range keys {
		b, ok := prioBits(k.prio)
		if !ok {
			return false
		}
		bits[i] = b
		lo, hi = min(lo, b), max(hi, b)
	}
	span := hi - lo
	src, dst := keys, make([]qkey, len(keys))
	sbits, dbits := bits, make([]uint64, len(keys))
	var count [1 << radixBits]int
	for shift := uint(0); shift < 64 && span>>shift != 0; shift += radixBits {
		clear(count[:])
		for _, b := range sbits {
			count[(b-lo)>>shift&(1<<radixBits-1)]++
		}
		pos := 0
		for d, c := range count {
			count[d] = pos
			pos += c
		}
		for i, b := range sbits {
			d := (b - lo) >> shift & (1<<radixBits - 1)
			dst[count[d]], dbits[count[d]] = src[i], b
			count[d]++
		}
		src, dst = dst, src
		sbits, dbits = dbits, sbits
	}
	if &src[0] != &keys[0] {
		copy(keys, src)
	}
	// Runs of equal priority: the rest of the comparison.
	for i := 0; i < len(keys); {
		j := i + 1
		for j < len(keys) && keys[j].prio == keys[i].prio {
			j++
		}
		if j-i > 1 {
			slices.SortFunc(keys[i:j], compareQ)
		}
		i = j
	}
	return true
}
