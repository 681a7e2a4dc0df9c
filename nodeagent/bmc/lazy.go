package bmc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Defaults of Lazy.
const (
	// DefaultDialTimeout bounds one connection attempt (service root and
	// login). A BMC that has not answered by then is treated as down for
	// now, rather than holding up whatever asked.
	DefaultDialTimeout = 10 * time.Second
	// DefaultRetryMin and DefaultRetryMax bound the wait between
	// connection attempts to a BMC that is down; it doubles per failure.
	// Calls made in between fail at once with the last error.
	DefaultRetryMin = 30 * time.Second
	DefaultRetryMax = 10 * time.Minute
)

// Lazy is a BMC that connects on first use and again after failures, for
// long-running callers like the node agent: a BMC that is down (powered
// off, rebooting, unplugged) must neither delay the agent's start by a
// full HTTP timeout nor stay disabled until the agent restarts.
//
// Each call connects if needed (at most DialTimeout, and only one
// connection attempt at a time however many callers wait on it), then
// delegates to the connected Redfish. After a failed attempt, calls fail
// at once with that error until the retry wait has passed. Lazy implements
// BMC and VirtualMedia; it is safe for concurrent use.
type Lazy struct {
	cfg Config
	// DialTimeout, RetryMin and RetryMax override the defaults when set
	// before first use.
	DialTimeout time.Duration
	RetryMin    time.Duration
	RetryMax    time.Duration

	// dial and now are replaced by tests.
	dial func(context.Context, Config) (lazyTarget, error)
	now  func() time.Time

	mu       sync.Mutex
	b        lazyTarget
	dialing  chan struct{} // closed when the attempt under way ends
	lastErr  error
	nextTry  time.Time
	wait     time.Duration
	attempts int
	closed   bool
}

// lazyTarget is what Lazy delegates to: a *Redfish, or a fake in tests.
type lazyTarget interface {
	BMC
	VirtualMedia
}

var (
	_ BMC          = (*Lazy)(nil)
	_ VirtualMedia = (*Lazy)(nil)
)

// NewLazy checks cfg (without contacting the BMC) and returns a Lazy for
// it. A CA file that cannot be read is reported here too, since retrying
// would not fix it.
func NewLazy(cfg Config) (*Lazy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if _, err := cfg.tlsConfig(); err != nil {
		return nil, err
	}
	return &Lazy{cfg: cfg}, nil
}

// Connect makes a connection attempt now unless one is under way or the
// BMC is connected, and waits for it (or ctx). Callers may run it in the
// background at start so that the first real call finds the BMC ready.
func (l *Lazy) Connect(ctx context.Context) error {
	_, err := l.get(ctx, true)
	return err
}

// Attempts reports how many connection attempts were made so far.
func (l *Lazy) Attempts() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.attempts
}

func (l *Lazy) clock() time.Time {
	if l.now != nil {
		return l.now()
	}
	return time.Now()
}

// get returns the connected BMC, connecting if it is time to.
func (l *Lazy) get(ctx context.Context, force bool) (lazyTarget, error) {
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return nil, errClosed
		}
		if l.b != nil {
			b := l.b
			l.mu.Unlock()
			return b, nil
		}
		if ch := l.dialing; ch != nil {
			l.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if now := l.clock(); !force && l.lastErr != nil && now.Before(l.nextTry) {
			err := fmt.Errorf("bmc: %s unreachable, next connection attempt in %v: %w",
				l.cfg.baseURL(), l.nextTry.Sub(now).Round(time.Second), l.lastErr)
			l.mu.Unlock()
			return nil, err
		}
		ch := make(chan struct{})
		l.dialing = ch
		l.attempts++
		l.mu.Unlock()
		// The attempt is not bound to ctx: a caller that gives up early
		// must not waste the attempt for the callers after it.
		go l.connect(ch)
		force = false
	}
}

// connect makes one connection attempt and records its outcome.
func (l *Lazy) connect(done chan struct{}) {
	timeout := l.DialTimeout
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	dial := l.dial
	if dial == nil {
		dial = func(ctx context.Context, cfg Config) (lazyTarget, error) { return Dial(ctx, cfg) }
	}
	b, err := dial(ctx, l.cfg)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("bmc: no answer from %s within %v: %w", l.cfg.baseURL(), timeout, err)
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	defer close(done)
	l.dialing = nil
	if l.closed {
		if b != nil {
			_ = b.Close()
		}
		return
	}
	if err != nil {
		lo, hi := l.RetryMin, l.RetryMax
		if lo <= 0 {
			lo = DefaultRetryMin
		}
		if hi <= 0 {
			hi = DefaultRetryMax
		}
		l.wait = min(max(2*l.wait, lo), hi)
		l.lastErr, l.nextTry = err, l.clock().Add(l.wait)
		return
	}
	l.b, l.lastErr, l.wait = b, nil, 0
}

// Close implements BMC: it closes the connection, if any. Further calls
// fail.
func (l *Lazy) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if l.b != nil {
		return l.b.Close()
	}
	return nil
}

// PowerState implements BMC.
func (l *Lazy) PowerState(ctx context.Context) (PowerState, error) {
	b, err := l.get(ctx, false)
	if err != nil {
		return StateUnknown, err
	}
	return b.PowerState(ctx)
}

// PowerOn implements BMC.
func (l *Lazy) PowerOn(ctx context.Context) error {
	b, err := l.get(ctx, false)
	if err != nil {
		return err
	}
	return b.PowerOn(ctx)
}

// PowerOff implements BMC.
func (l *Lazy) PowerOff(ctx context.Context) error {
	b, err := l.get(ctx, false)
	if err != nil {
		return err
	}
	return b.PowerOff(ctx)
}

// Reset implements BMC.
func (l *Lazy) Reset(ctx context.Context, kind ResetKind) error {
	b, err := l.get(ctx, false)
	if err != nil {
		return err
	}
	return b.Reset(ctx, kind)
}

// SetOneTimeBoot implements BMC.
func (l *Lazy) SetOneTimeBoot(ctx context.Context, target BootTarget) error {
	b, err := l.get(ctx, false)
	if err != nil {
		return err
	}
	return b.SetOneTimeBoot(ctx, target)
}

// FirmwareInventory implements BMC.
func (l *Lazy) FirmwareInventory(ctx context.Context) ([]Firmware, error) {
	b, err := l.get(ctx, false)
	if err != nil {
		return nil, err
	}
	return b.FirmwareInventory(ctx)
}

// SimpleUpdate implements BMC.
func (l *Lazy) SimpleUpdate(ctx context.Context, imageURI string, targets []string) (string, error) {
	b, err := l.get(ctx, false)
	if err != nil {
		return "", err
	}
	return b.SimpleUpdate(ctx, imageURI, targets)
}

// InsertMedia implements VirtualMedia.
func (l *Lazy) InsertMedia(ctx context.Context, imageURL string) error {
	b, err := l.get(ctx, false)
	if err != nil {
		return err
	}
	return b.InsertMedia(ctx, imageURL)
}

// EjectMedia implements VirtualMedia.
func (l *Lazy) EjectMedia(ctx context.Context) error {
	b, err := l.get(ctx, false)
	if err != nil {
		return err
	}
	return b.EjectMedia(ctx)
}

var _ BIOSSettings = (*Lazy)(nil)

// BIOSAttributes implements BIOSSettings when the BMC does.
func (l *Lazy) BIOSAttributes(ctx context.Context) (map[string]string, error) {
	b, err := l.get(ctx, false)
	if err != nil {
		return nil, err
	}
	bs, ok := b.(BIOSSettings)
	if !ok {
		return nil, fmt.Errorf("bmc: read BIOS attributes: %w", ErrUnsupported)
	}
	return bs.BIOSAttributes(ctx)
}

// SetBIOSAttributes implements BIOSSettings when the BMC does.
func (l *Lazy) SetBIOSAttributes(ctx context.Context, attrs map[string]string) (string, error) {
	b, err := l.get(ctx, false)
	if err != nil {
		return "", err
	}
	bs, ok := b.(BIOSSettings)
	if !ok {
		return "", fmt.Errorf("bmc: set BIOS attributes: %w", ErrUnsupported)
	}
	return bs.SetBIOSAttributes(ctx, attrs)
}
