package imaging

import (
	"sync/atomic"
	"time"
)

// progress rate-limits Progress callbacks for one phase. It is used from
// one goroutine at a time (the disk writer, then the caller), so it needs
// no lock; a nil *progress ignores everything.
type progress struct {
	fn      func(Progress)
	every   time.Duration
	phase   Phase
	total   int64
	attempt *atomic.Int32

	start, last      time.Time
	moved, lastMoved int64
	lastDone         int64
}

func (w *Writer) newProgress(phase Phase, total int64, attempt *atomic.Int32) *progress {
	if w.Progress == nil {
		return nil
	}
	every := w.ProgressInterval
	if every <= 0 {
		every = DefaultProgressInterval
	}
	now := time.Now()
	return &progress{fn: w.Progress, every: every, phase: phase, total: total, attempt: attempt, start: now, last: now}
}

// report records that moved more bytes were transferred and the phase has
// reached done, and calls the callback if the interval has passed or force
// is set (a phase's last report).
func (p *progress) report(done, moved int64, force bool) {
	if p == nil {
		return
	}
	p.moved += moved
	now := time.Now()
	if !force && now.Sub(p.last) < p.every {
		return
	}
	done = max(done, p.lastDone)
	var rate float64
	if dt := now.Sub(p.last).Seconds(); dt > 0 {
		rate = float64(p.moved-p.lastMoved) / dt
	}
	pr := Progress{Phase: p.phase, Done: done, Total: p.total, Rate: rate, Elapsed: now.Sub(p.start)}
	if p.attempt != nil {
		pr.Attempt = int(p.attempt.Load())
	}
	p.last, p.lastMoved, p.lastDone = now, p.moved, done
	p.fn(pr)
}
