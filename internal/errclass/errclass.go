// Package errclass is the one place that turns a backend's error into a
// ports error, following the classification table of package ports: each
// adapter gives a Classifier its driver-code rules, and Wrap applies the
// rules every adapter shares (context errors, an already classified
// error, the fallback for unrecognised errors) around them.
package errclass

import (
	"errors"
	"fmt"

	"github.com/portkit/portkit/ports"
)

// Classifier classifies one backend's errors.
type Classifier struct {
	// Backend names the backend in every error ("mysql", "redis", ...).
	Backend string

	// Kind returns the sentinel of the table for err by the driver's error
	// codes and types, or nil when it does not recognise err. It is asked
	// before the context rule (so a driver error that the table names keeps
	// its kind when the context also ended); it should return nil for a
	// bare context error. closed tells whether the implementation has been
	// closed (a "client is closing" error then means ErrClosed).
	Kind func(err error, closed bool) error

	// ServerReply reports whether err is an error reply of the server,
	// which the table classifies ErrInvalid when Kind does not recognise
	// it; any other unrecognised error is ErrUnavailable. nil: none is.
	ServerReply func(err error) bool
}

// Wrap returns err as an *ports.OpError for op with exactly one sentinel,
// or nil for nil:
//
//   - an error that already carries a sentinel (an *ports.OpError of any
//     backend, or a sentinel itself) keeps it, wrapped in an OpError of
//     this backend when it is not one already;
//   - Kind's answer, when it recognises err (a permission error reported
//     as the context ended is still ErrPermission);
//   - context.Canceled and context.DeadlineExceeded: ErrUnavailable, the
//     context error still reachable;
//   - an unrecognised server reply: ErrInvalid; anything else:
//     ErrUnavailable.
func (c *Classifier) Wrap(op string, err error, closed bool) error {
	if err == nil {
		return nil
	}
	if k := ports.KindOf(err); k != nil {
		var oe *ports.OpError
		if errors.As(err, &oe) && oe.Backend == c.Backend {
			return err
		}
		return ports.NewError(c.Backend, op, k, err)
	}
	return ports.NewError(c.Backend, op, c.KindOf(err, closed), err)
}

// KindOf returns the sentinel Wrap would give err (nil for nil).
func (c *Classifier) KindOf(err error, closed bool) error {
	if err == nil {
		return nil
	}
	if k := ports.KindOf(err); k != nil {
		return k
	}
	if c.Kind != nil {
		if k := c.Kind(err, closed); k != nil {
			return k
		}
	}
	if ports.IsContextError(err) {
		return ports.ErrUnavailable
	}
	if c.ServerReply != nil && c.ServerReply(err) {
		return ports.ErrInvalid
	}
	return ports.ErrUnavailable
}

// OutcomeUnknown returns the ErrUnavailable of a write whose result is
// unknown (see ports.ErrOutcomeUnknown): it wraps ErrOutcomeUnknown and
// err (the context's error, or the lost connection's).
func (c *Classifier) OutcomeUnknown(op string, err error) error {
	return ports.NewError(c.Backend, op, ports.ErrUnavailable, fmt.Errorf("%w: %w", ports.ErrOutcomeUnknown, err))
}

// Invalid returns an ErrInvalid of op with cause: a bad argument refused
// before anything was sent.
func (c *Classifier) Invalid(op string, cause error) error {
	return ports.NewError(c.Backend, op, ports.ErrInvalid, cause)
}

// NotFound returns an ErrNotFound of op with cause (which may be nil).
func (c *Classifier) NotFound(op string, cause error) error {
	return ports.NewError(c.Backend, op, ports.ErrNotFound, cause)
}

// Conflict returns an ErrConflict of op with cause.
func (c *Classifier) Conflict(op string, cause error) error {
	return ports.NewError(c.Backend, op, ports.ErrConflict, cause)
}

// Closed returns the ErrClosed of op.
func (c *Classifier) Closed(op string) error {
	return ports.NewError(c.Backend, op, ports.ErrClosed, nil)
}
