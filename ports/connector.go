package ports

import (
	"context"
	"time"
)

// DefaultCheckTimeout bounds a Connector's Check when the caller's context
// has no earlier deadline.
const DefaultCheckTimeout = 5 * time.Second

// Connector is the lifecycle every adapter and fake shares.
type Connector interface {
	// Name identifies the backend: "mysql", "mongo", "redis", "pubsub", or
	// the fake's name.
	Name() string

	// Check returns nil when the backend answers. It never outlives ctx nor
	// its own check timeout (DefaultCheckTimeout unless configured) and
	// returns an error wrapping ErrUnavailable when the backend does not
	// answer in time, or ErrClosed after Close.
	Check(ctx context.Context) error

	// Close releases the connection gracefully: it flushes pending work
	// (buffered messages, in-flight calls) until ctx ends, then gives up on
	// what is left and returns ErrUnavailable saying so (with ctx already
	// done it closes at once when nothing is pending). It is safe to call
	// more than once; every call after the first returns an error wrapping
	// ErrClosed, as does every other method of the implementation. A nil
	// ctx is ErrInvalid and closes nothing.
	Close(ctx context.Context) error
}
