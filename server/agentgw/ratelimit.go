package agentgw

import (
	"net"
	"sync"
	"time"
)

// peerLimiter is a token bucket per peer address for refused calls made
// before the caller is authenticated (enrollment with a bad token): a
// guessing client is slowed down, while a rack of machines enrolling at
// once from one address (a NAT, or the simulated nodes of --dev) is not.
// Buckets of peers that went quiet are forgotten.
type peerLimiter struct {
	rate  float64 // tokens per second
	burst float64

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newPeerLimiter(rate, burst float64) *peerLimiter {
	return &peerLimiter{rate: rate, burst: burst, buckets: map[string]*bucket{}}
}

// allow reports whether the peer at addr (host:port; the port is ignored)
// has a token left; it takes none.
func (l *peerLimiter) allow(addr string, now time.Time) bool {
	return l.take(addr, now, 0)
}

// fail takes a token for a refused call of the peer at addr.
func (l *peerLimiter) fail(addr string, now time.Time) {
	l.take(addr, now, 1)
}

func (l *peerLimiter) take(addr string, now time.Time, cost float64) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute {
		for h, b := range l.buckets {
			if now.Sub(b.last) > time.Minute {
				delete(l.buckets, h)
			}
		}
		l.swept = now
	}
	b := l.buckets[host]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[host] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens -= cost
	return true
}
