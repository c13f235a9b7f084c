package fakes

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	igate "github.com/portkit/portkit/internal/gate"
	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/ports"
)

// errInjected is the cause of an error injected by [Faults] when the test
// gave no error of its own.
var errInjected = errors.New("injected fault")

// Faults is the fault injection every fake embeds, so that its methods are
// promoted: cache.SetUnavailable(true), db.FailNext(2, err). The zero value
// injects nothing. It is safe for concurrent use.
//
// A call checks, in order: Close (ErrClosed), the context (an error
// wrapping ctx.Err()), then the faults. Close itself is never failed.
type Faults struct {
	calls atomic.Int64
	armed atomic.Bool // unavailable || pending > 0: the fast path skips mu

	mu          sync.Mutex
	unavailable bool
	pending     int
	err         error
}

// SetUnavailable puts the fake into (down true) or out of its unavailable
// state, where Check and every call but Close return an error wrapping
// ports.ErrUnavailable, as when the backend cannot be reached.
func (f *Faults) SetUnavailable(down bool) {
	f.mu.Lock()
	f.unavailable = down
	f.armed.Store(f.unavailable || f.pending > 0)
	f.mu.Unlock()
}

// FailNext makes the next n calls (any method but Close, Check included)
// fail with err, replacing an earlier FailNext. The error returned is an
// *ports.OpError whose Kind is the ports sentinel err wraps (ErrUnavailable
// when it wraps none) and whose cause is err, so errors.Is matches both
// the sentinel and err. A nil err means ports.ErrUnavailable. n <= 0
// cancels a pending FailNext.
func (f *Faults) FailNext(n int, err error) {
	f.mu.Lock()
	f.pending = max(n, 0)
	f.err = err
	f.armed.Store(f.unavailable || f.pending > 0)
	f.mu.Unlock()
}

// Calls returns how many calls the fake has received, Close excepted,
// failed ones included (a call refused because the fake is closed or the
// context is done is not counted).
func (f *Faults) Calls() int64 { return f.calls.Load() }

// inject counts a call and returns the fault it must fail with, if any.
func (f *Faults) inject(backend, op string) error {
	f.calls.Add(1)
	if !f.armed.Load() {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unavailable {
		return ports.NewError(backend, op, ports.ErrUnavailable, errInjected)
	}
	if f.pending > 0 {
		f.pending--
		f.armed.Store(f.pending > 0)
		return injectedError(backend, op, f.err)
	}
	return nil
}

// injectedError wraps err for FailNext.
func injectedError(backend, op string, err error) error {
	if err == nil {
		return ports.NewError(backend, op, ports.ErrUnavailable, errInjected)
	}
	kind := ports.ErrUnavailable
	for _, s := range [...]error{ports.ErrNotFound, ports.ErrConflict, ports.ErrInvalid, ports.ErrUnavailable, ports.ErrClosed} {
		if errors.Is(err, s) {
			kind = s
			break
		}
	}
	cause := err
	if cause == kind {
		cause = errInjected
	}
	return ports.NewError(backend, op, kind, cause)
}

// gateStart is gate for a hot path, with the start of the operation's
// span folded in: while nothing records (no SDK) the hooks add no call to
// the one gate already is. A failed check ends the span with its error.
func gateStart(ctx context.Context, closed *atomic.Bool, f *Faults, backend, op string, in *obs.Instr, o obs.Op) (context.Context, *obs.Span, error) {
	var sp *obs.Span
	if in.Tracing() || in.Measuring() {
		ctx, sp = in.Start(ctx, o)
	}
	var err error
	switch {
	case closed.Load():
		err = ports.NewError(backend, op, ports.ErrClosed, nil)
	default:
		if err = igate.CheckContext(ctx, backend, op); err == nil {
			err = f.inject(backend, op)
		}
	}
	if err != nil {
		sp.End(err)
		return ctx, nil, err
	}
	return ctx, sp, nil
}

// gate is the entry check every fake method shares: closed, then the
// context, then the faults.
func gate(ctx context.Context, closed *atomic.Bool, f *Faults, backend, op string) error {
	if closed.Load() {
		return ports.NewError(backend, op, ports.ErrClosed, nil)
	}
	if err := igate.CheckContext(ctx, backend, op); err != nil {
		return err
	}
	return f.inject(backend, op)
}
