package messaging

import (
	"errors"
	"fmt"

	"github.com/portkit/portkit/codec"
	"github.com/portkit/portkit/ports"
)

// Middleware wraps a handler with behaviour of its own: retrying it,
// bounding it, recovering its panics, deduplicating or dead-lettering its
// messages. It is the shape of watermill's handler middleware.
type Middleware func(ports.Handler) ports.Handler

// Chain returns the middleware that applies mws in order, the first
// outermost: Chain(a, b, c)(h) is a(b(c(h))), so a message passes through
// a, then b, then c, then reaches h. A nil middleware is skipped.
func Chain(mws ...Middleware) Middleware {
	return func(h ports.Handler) ports.Handler {
		for i := len(mws) - 1; i >= 0; i-- {
			if mws[i] != nil {
				h = mws[i](h)
			}
		}
		return h
	}
}

// Apply returns h wrapped in mws, the first outermost (see Chain).
func Apply(h ports.Handler, mws ...Middleware) ports.Handler { return Chain(mws...)(h) }

// permanentError marks an error that retrying cannot mend.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as permanent: the message it failed cannot be
// handled however often it is delivered (it does not decode, it names an
// entity that cannot exist). [Retry] does not retry it and [DeadLetter]
// moves the message to its dead-letter topic at once instead of waiting
// for the delivery count. Without DeadLetter the message is still nacked,
// never dropped. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	if IsPermanent(err) {
		return err
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err is marked with [Permanent], or is a
// decode failure of a typed handler ([codec.DecodeError]), or a
// [*PanicError].
func IsPermanent(err error) bool {
	var pe *permanentError
	var pan *PanicError
	return errors.As(err, &pe) || errors.As(err, &pan) || codec.IsDecodeError(err)
}

// DefaultRetryable is the retry predicate of [Retry] when none is given:
// it retries every error except a permanent one (see [IsPermanent]) and
// those of the kinds the classification table of package ports says not to
// retry as they are: ErrInvalid, ErrPermission and ErrClosed.
func DefaultRetryable(err error) bool {
	if err == nil || IsPermanent(err) {
		return false
	}
	switch ports.KindOf(err) {
	case ports.ErrInvalid, ports.ErrPermission, ports.ErrClosed:
		return false
	}
	return true
}

// configError is the error of a middleware or runner constructor given a
// bad configuration.
func configError(what, format string, args ...any) error {
	return ports.NewError("messaging", what, ports.ErrInvalid, fmt.Errorf(format, args...))
}
