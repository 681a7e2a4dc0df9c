package agentgw

import (
	"net"
	"sync"
	"time"
)

// peerLimiter is a token bucket per peer address for calls made before
// the caller is authenticated (enrollment): a guessing client is slowed
// down without a raft entry or a signature per attempt. Buckets of peers
// that went quiet are forgotten.
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

// allow takes a token for the peer at addr (host:port; the port is
// ignored) and reports whether it had one.
func (l *peerLimiter) allow(addr string, now time.Time) bool {
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
	b.tokens--
	return true
}
