// Package gate is the closed-state gate every fake and adapter shares: the
// one implementation of the contract's entry rules (package ports, "The
// order in which a call checks"): after Close every call is ErrClosed,
// before its arguments are looked at; then a nil context is ErrInvalid;
// then a context that is already done is ErrUnavailable wrapping its
// error. It also counts calls in flight, so that Close can wait for them.
package gate

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/portkit/portkit/ports"
)

// ErrNilContext is the cause of the ErrInvalid a call with a nil context
// gets.
var ErrNilContext = errors.New("nil context.Context")

// Gate is a closed flag with a count of calls in flight. The zero value is
// an open gate. It is safe for concurrent use.
type Gate struct {
	closed   atomic.Bool
	inflight atomic.Int64

	mu   sync.Mutex
	idle chan struct{} // closed when inflight drops to 0 after Close
}

// Closed reports whether Close has been called.
func (g *Gate) Closed() bool { return g.closed.Load() }

// Check applies the entry rules for a call of op on backend and returns
// the error the call must return, or nil: ErrClosed after Close, ErrInvalid
// for a nil ctx, ErrUnavailable wrapping ctx.Err() for a done ctx.
func (g *Gate) Check(ctx context.Context, backend, op string) error {
	if g.closed.Load() {
		return Closed(backend, op)
	}
	return CheckContext(ctx, backend, op)
}

// CheckContext applies the context rules alone: ErrInvalid for a nil ctx,
// ErrUnavailable wrapping ctx.Err() (its cause, when it has one) for a
// done one.
func CheckContext(ctx context.Context, backend, op string) error {
	if ctx == nil {
		return ports.NewError(backend, op, ports.ErrInvalid, ErrNilContext)
	}
	if err := ctx.Err(); err != nil {
		return ContextError(ctx, backend, op)
	}
	return nil
}

// ContextError returns the ErrUnavailable for a call whose ctx has ended:
// it wraps ctx.Err() and, when the context was cancelled with a cause,
// that cause too.
func ContextError(ctx context.Context, backend, op string) error {
	err := ctx.Err()
	if cause := context.Cause(ctx); cause != nil && cause != err {
		err = errors.Join(err, cause)
	}
	return ports.NewError(backend, op, ports.ErrUnavailable, err)
}

// Enter is Check for a call that Close must wait for: on success the call
// is counted in flight until it calls the returned release (exactly once).
func (g *Gate) Enter(ctx context.Context, backend, op string) (release func(), err error) {
	if err := g.Check(ctx, backend, op); err != nil {
		return nil, err
	}
	g.inflight.Add(1)
	if g.closed.Load() { // Close ran between the check and the count
		g.leave()
		return nil, Closed(backend, op)
	}
	return g.leave, nil
}

func (g *Gate) leave() {
	if g.inflight.Add(-1) == 0 && g.closed.Load() {
		g.mu.Lock()
		if g.idle != nil {
			select {
			case <-g.idle:
			default:
				close(g.idle)
			}
		}
		g.mu.Unlock()
	}
}

// Close closes the gate. It returns false when the gate was already
// closed (the caller then returns Closed(backend, "close")).
func (g *Gate) Close() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed.Swap(true) {
		return false
	}
	g.idle = make(chan struct{})
	if g.inflight.Load() == 0 {
		close(g.idle)
	}
	return true
}

// Wait waits, after Close, until no call counted by Enter is in flight or
// ctx ends; it returns ctx's error in the second case. Before Close it
// returns nil at once.
func (g *Gate) Wait(ctx context.Context) error {
	g.mu.Lock()
	idle := g.idle
	g.mu.Unlock()
	if idle == nil {
		return nil
	}
	if g.inflight.Load() == 0 {
		return nil
	}
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// InFlight returns the number of calls counted by Enter that have not
// released.
func (g *Gate) InFlight() int64 { return g.inflight.Load() }

// Closed returns the ErrClosed of a call of op after Close.
func Closed(backend, op string) error {
	return ports.NewError(backend, op, ports.ErrClosed, nil)
}
