package control

import "time"

// passGap is how long a loop waits, after a pass that took took and was
// woken by a change, before the next pass: at least minGap, else three
// times the pass, at most maxGap.
//
// Why not a fixed gap: a fixed 50 ms (jobs) or 100 ms (partitions) was
// the floor of every hop of a job's way (allocated → partition confirmed
// → launched: three hops, about 150 ms submit → running on an idle
// cluster, bench/agentpath), however cheap the passes were. A gap
// proportional to the pass keeps the loop's share of a core bounded (at
// most a quarter) so a burst of submissions still costs few passes when
// passes are expensive, and lets cheap passes follow each other closely.
func passGap(took, minGap, maxGap time.Duration) time.Duration {
	return min(max(3*took, minGap), maxGap)
}
