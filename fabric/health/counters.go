package health

// Counters are the port counters that tell a sound cable from a bad one.
// Other counters (data, packets, XmitWait) measure load, not health.
type Counters struct {
	// SymbolErrors: minor link errors on receive (bad encoding, CRC of
	// the physical layer): a dirty or failing cable or transceiver.
	SymbolErrors uint64
	// LinkDowned: times the link went down (training failed, cable
	// pulled, peer rebooted). Any increase means the link flapped.
	LinkDowned uint64
	// RcvErrors: packets received with errors and dropped.
	RcvErrors uint64
	// XmitDiscards: packets discarded on transmit (port down, head of
	// queue timeout: a stuck peer or heavy congestion).
	XmitDiscards uint64
	// Extended is true when the values come from PortCountersExtended
	// (64 bits), false for PortCounters, whose error counters are 16 bits
	// (LinkDowned 8) and saturate at all ones.
	Extended bool
}

// Counter indexes, in the order of counterNames.
const (
	cSymbol = iota
	cLinkDowned
	cRcv
	cXmitDiscards
	nCounters
)

// counterNames are perfquery's field names.
var counterNames = [nCounters]string{"SymbolErrorCounter", "LinkDownedCounter", "PortRcvErrors", "PortXmitDiscards"}

// basicBits are the widths of the PortCounters fields (IBA 16.1.3.5).
var basicBits = [nCounters]uint{16, 8, 16, 16}

func (c Counters) values() [nCounters]uint64 {
	return [nCounters]uint64{c.SymbolErrors, c.LinkDowned, c.RcvErrors, c.XmitDiscards}
}

// bits returns the width of counter i.
func (c Counters) bits(i int) uint {
	if c.Extended {
		return 64
	}
	return basicBits[i]
}

// Saturated reports which counters are stuck at all ones: a saturated
// PortCounters field stops counting (IBA 16.1.3.5), so new errors are
// invisible until someone clears it (perfquery -R).
func (c Counters) saturated() [nCounters]bool {
	var s [nCounters]bool
	for i, v := range c.values() {
		if b := c.bits(i); b < 64 && v == 1<<b-1 {
			s[i] = true
		}
	}
	return s
}

// deltas returns how much each counter grew from prev to cur.
//
// Port counters never wrap: PortCounters saturate and the 64-bit extended
// ones would take centuries. So a value lower than before means the
// counter was reset (perfquery -R, an HCA or switch reboot, a firmware
// update) and counting restarted from zero: the growth is the new value.
// A switch between basic and extended counters (the collector fell back)
// is a change of baseline, not growth: rebase reports it.
func deltas(prev, cur Counters) (d [nCounters]uint64, resets int, rebase bool) {
	if prev.Extended != cur.Extended {
		return d, 0, true
	}
	p, c := prev.values(), cur.values()
	for i := range d {
		if c[i] >= p[i] {
			d[i] = c[i] - p[i]
		} else {
			d[i] = c[i]
			resets++
		}
	}
	return d, resets, false
}
