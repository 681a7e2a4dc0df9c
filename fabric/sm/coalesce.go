package sm

import (
	"context"
	"sync"
)

// Coalescer funnels concurrent Apply requests into as few driver
// calls as possible. Each request carries the complete desired set
// (a snapshot of all allocations), so when several arrive while an
// Apply is running, only the newest matters: they all wait for one
// more Apply with it. A burst of N allocation changes thus costs at
// most two partitions.conf rewrites and SIGHUPs, not N.
type Coalescer struct {
	D Driver

	mu      sync.Mutex
	running bool
	next    *batch // requests waiting for the next run
}

type batch struct {
	desired []Partition
	done    chan struct{}
	err     error
}

// Apply submits desired and returns the result of the first driver
// Apply that started after this call and carried desired or a newer
// snapshot. Cancelling ctx stops the wait, not the shared Apply.
func (c *Coalescer) Apply(ctx context.Context, desired []Partition) error {
	c.mu.Lock()
	if c.next == nil {
		c.next = &batch{done: make(chan struct{})}
	}
	b := c.next
	b.desired = desired // newest snapshot wins
	if !c.running {
		c.running = true
		go c.loop()
	}
	c.mu.Unlock()
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Coalescer) loop() {
	for {
		c.mu.Lock()
		b := c.next
		c.next = nil
		if b == nil {
			c.running = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		// Detached from callers' contexts: one caller giving up must
		// not abort an Apply others are waiting for.
		b.err = c.D.Apply(context.Background(), b.desired)
		close(b.done)
	}
}

// Unwrap returns the driver (drift watchers look for its extras).
func (c *Coalescer) Unwrap() Driver { return c.D }

// Observe passes through to the driver.
func (c *Coalescer) Observe(ctx context.Context, ports []GUID) (map[GUID]Table, error) {
	return c.D.Observe(ctx, ports)
}

var _ Driver = (*Coalescer)(nil)
