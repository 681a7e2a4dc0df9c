package health

import (
	"fmt"
	"time"
)

// interval is the growth of one port's counters between two reads.
type interval struct {
	dt time.Duration
	d  [nCounters]uint64
}

// portView is the rolling view of one port: its last counters, the
// growth over the last Window intervals, and its last known state.
type portView struct {
	last   Counters
	lastAt time.Time
	have   bool
	win    []interval // ring, oldest first once full
	next   int
	resets int // counter resets seen (reboots, perfquery -R)

	fails   int // consecutive failed reads
	lastErr string

	state PortState // last state read by smpquery; unknown after the link vanished
}

// observe adds one counter read taken at t.
func (p *portView) observe(t time.Time, c Counters, window int) {
	p.fails, p.lastErr = 0, ""
	if p.have && t.After(p.lastAt) {
		d, resets, rebase := deltas(p.last, c)
		p.resets += resets
		if !rebase {
			p.push(interval{dt: t.Sub(p.lastAt), d: d}, window)
		}
	}
	p.last, p.lastAt, p.have = c, t, true
}

func (p *portView) push(iv interval, window int) {
	if len(p.win) < window {
		p.win = append(p.win, iv)
		return
	}
	p.win[p.next] = iv
	p.next = (p.next + 1) % window
}

// fail records a failed read. The baseline is kept: the next good read
// measures growth over the longer interval, which is still correct.
func (p *portView) fail(err error) {
	p.fails++
	p.lastErr = err.Error()
}

// ErrorRates summarise one port's window.
type ErrorRates struct {
	// Per minute, averaged over Span.
	SymbolErrors, RcvErrors, XmitDiscards float64
	// LinkDowned is how often the link went down within Span.
	LinkDowned uint64
	// Span is the time the window covers; 0 before two reads.
	Span time.Duration
	// Saturated names PortCounters fields stuck at all ones.
	Saturated []string
}

func (p *portView) rates() ErrorRates {
	var r ErrorRates
	var sum [nCounters]uint64
	for _, iv := range p.win {
		r.Span += iv.dt
		for i, d := range iv.d {
			sum[i] += d
		}
	}
	if r.Span > 0 {
		mins := r.Span.Minutes()
		r.SymbolErrors = float64(sum[cSymbol]) / mins
		r.RcvErrors = float64(sum[cRcv]) / mins
		r.XmitDiscards = float64(sum[cXmitDiscards]) / mins
	}
	r.LinkDowned = sum[cLinkDowned]
	if p.have {
		for i, s := range p.last.saturated() {
			if s {
				r.Saturated = append(r.Saturated, counterNames[i])
			}
		}
	}
	return r
}

// problems lists why this port makes its link degraded.
func (p *portView) problems(where string, th Thresholds, failLimit int) []string {
	var out []string
	r := p.rates()
	over := func(what string, v, limit float64) {
		if v > limit {
			out = append(out, fmt.Sprintf("%s: %.1f %s/min over %v (limit %g)", where, v, what, r.Span.Round(time.Second), limit))
		}
	}
	over("symbol errors", r.SymbolErrors, th.SymbolErrors)
	over("receive errors", r.RcvErrors, th.RcvErrors)
	over("transmit discards", r.XmitDiscards, th.XmitDiscards)
	if r.LinkDowned >= th.Flaps {
		out = append(out, fmt.Sprintf("%s: link went down %d time(s) within %v", where, r.LinkDowned, r.Span.Round(time.Second)))
	}
	for _, s := range r.Saturated {
		out = append(out, fmt.Sprintf("%s: %s saturated, new errors are invisible (clear with perfquery -R)", where, s))
	}
	if p.fails >= failLimit {
		out = append(out, fmt.Sprintf("%s: counters unreadable %d times in a row: %s", where, p.fails, p.lastErr))
	}
	return out
}
