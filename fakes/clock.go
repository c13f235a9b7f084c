package fakes

import (
	"sync"
	"time"
)

// Clock tells a fake the time: cache expiry, document timestamps and IDs,
// gorm-style CreatedAt/UpdatedAt fields and message publish times follow it.
// Fakes use the system clock unless given [WithClock].
type Clock interface {
	// Now returns the current time.
	Now() time.Time
}

// systemClock is the real time.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// ManualClock is a [Clock] that moves only when told to, so that tests of
// expiry and timestamps need no sleep. It is safe for concurrent use.
type ManualClock struct {
	mu  sync.RWMutex
	now time.Time
}

// NewManualClock returns a clock stopped at start.
func NewManualClock(start time.Time) *ManualClock {
	return &ManualClock{now: start}
}

// Now returns the clock's current time.
func (c *ManualClock) Now() time.Time {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.now
}

// Advance moves the clock forward by d (backward when d is negative).
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Set moves the clock to t.
func (c *ManualClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}
