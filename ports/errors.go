package ports

import (
	"context"
	"errors"
	"strings"
)

// The six kinds of failure. Every error an implementation of a port returns
// (fake or adapter, portkit's or a third party's that passes the
// error-contract suite of ports/portstest) matches exactly one of them with
// errors.Is, while the backend's own error stays reachable with errors.As
// and errors.Unwrap.
//
// # Classification table
//
// This table is the contract; each adapter has one classifier driven by it
// (by driver error codes, not message text, where the driver has codes),
// and the fakes return the same kind wherever they can produce the case.
//
//	failure                                          kind            retry?
//	-----------------------------------------------  --------------  ------
//	no row / document / key / message with that id   ErrNotFound     no
//	missing topic or subscription (messaging)        ErrNotFound     no
//	duplicate primary key or unique value            ErrConflict     no
//	deadlock, serialization failure                  ErrConflict     yes, the whole transaction
//	stale version (optimistic concurrency)           ErrConflict     re-read, then retry
//	existing schema differs from the model (Migrate) ErrConflict     no
//	bad argument, refused before anything is sent    ErrInvalid      no
//	value the portable rules reject (see below)      ErrInvalid      no
//	value or request the server rejected             ErrInvalid      no
//	schema missing (no such table or column)         ErrInvalid      no: run the migration
//	nil context.Context                              ErrInvalid      no
//	wrong password, no such user, permission denied  ErrPermission   no
//	unreachable, refused, reset, timed out           ErrUnavailable  yes
//	server busy, shutting down, lock wait timeout    ErrUnavailable  yes
//	caller's context cancelled or past its deadline  ErrUnavailable  if the caller wants
//	call after Close (a second Close included)       ErrClosed       no
//	unrecognised error reply of the server           ErrInvalid      no
//	unrecognised failure without a server reply      ErrUnavailable  yes
//
// A cancelled or expired context always yields ErrUnavailable, and
// errors.Is(err, context.Canceled) or errors.Is(err, context.DeadlineExceeded)
// holds as well: callers can tell "the backend is down" from "I gave up" by
// testing the context error first.
//
// The order in which a call checks is fixed: after Close every method
// returns ErrClosed, before it looks at its arguments; then a nil context is
// ErrInvalid (never a panic); then a context that is already done is
// ErrUnavailable wrapping ctx.Err(); then the arguments.
//
// When the outcome of a write is unknown — the connection was lost, or the
// context ended, after the request was sent and before its answer came (a
// COMMIT whose acknowledgement never arrived, a publish whose confirmation
// did not) — the error is ErrUnavailable and wraps [ErrOutcomeUnknown]: the
// write may or may not have happened.
//
// # Portable value rules
//
// Where backends disagree on a value, or a server accepts what another
// rejects, the port sets one rule and every implementation enforces it
// before sending, with ErrInvalid: strings must be valid UTF-8; floats must
// not be NaN or ±Inf; document and map keys must not be empty, start with
// '$' or contain '.'; each store documents its size limits (see SQLStore,
// DocStore, Cache and Publisher).
var (
	// ErrNotFound: the row, document, key or message the call names does
	// not exist (Cache.Get on a miss; SQLStore and DocStore Get, Update,
	// Patch and Delete of an absent key), or the topic or subscription does
	// not.
	ErrNotFound = errors.New("not found")

	// ErrConflict: the write conflicts with the stored state: a duplicate
	// primary key or unique value, a stale version, a deadlock or
	// serialization failure, or an existing schema that differs from the
	// model.
	ErrConflict = errors.New("conflict")

	// ErrInvalid: the call cannot be honoured as it is, and repeating it
	// unchanged fails again: a bad argument (a Query naming a field the
	// model does not have, a negative TTL, a nil entity, an empty key, an
	// oversized message), a value the portable rules reject, a value or
	// request the server rejected, a missing table or column, a nil
	// context, or an unrecognised error reply of the server.
	ErrInvalid = errors.New("invalid argument")

	// ErrPermission: the backend refused the credentials or the operation:
	// a wrong password, an unknown user, a missing grant, a revoked token.
	// It is not retryable: retrying a wrong password does not make it
	// right.
	ErrPermission = errors.New("permission denied")

	// ErrUnavailable: the backend could not be reached or did not answer in
	// time, or the caller's context ended: a refused, reset or cut
	// connection, a timeout, a server that is busy or shutting down, a fake
	// put into its unavailable state, or any failure without a server reply
	// that the table does not name. Retrying later may succeed.
	ErrUnavailable = errors.New("unavailable")

	// ErrClosed: the implementation's Close has been called; every method
	// returns it afterwards, a second Close included.
	ErrClosed = errors.New("closed")
)

// ErrOutcomeUnknown is wrapped (alongside ErrUnavailable) by the error of a
// write whose result is unknown: the request was sent, but its answer was
// lost or the context ended first. The write may have taken effect.
var ErrOutcomeUnknown = errors.New("outcome unknown: the write may or may not have taken effect")

// Kinds lists the six sentinels, in the order of the classification table.
func Kinds() []error {
	return []error{ErrNotFound, ErrConflict, ErrInvalid, ErrPermission, ErrUnavailable, ErrClosed}
}

// KindOf returns the sentinel err matches, or nil when it matches none (nil
// for nil). An error from a conforming implementation matches exactly one.
func KindOf(err error) error {
	if err == nil {
		return nil
	}
	for _, k := range Kinds() {
		if errors.Is(err, k) {
			return k
		}
	}
	return nil
}

// KindName returns the name of the sentinel err matches ("ErrNotFound",
// ...), "nil" for nil, or "none" when it matches no sentinel. Telemetry
// records it as error.type.
func KindName(err error) string {
	switch KindOf(err) {
	case nil:
		if err == nil {
			return "nil"
		}
		return "none"
	case ErrNotFound:
		return "ErrNotFound"
	case ErrConflict:
		return "ErrConflict"
	case ErrInvalid:
		return "ErrInvalid"
	case ErrPermission:
		return "ErrPermission"
	case ErrUnavailable:
		return "ErrUnavailable"
	default:
		return "ErrClosed"
	}
}

// IsContextError reports whether err wraps context.Canceled or
// context.DeadlineExceeded.
func IsContextError(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// OpError is the error every portkit implementation returns: it names the
// backend and the operation, carries the port-level sentinel in Kind and the
// backend's own error in Err. errors.Is matches both Kind and Err.
//
// Adapters never put a password, a DSN, a statement parameter or a message
// payload in Op or Err.
type OpError struct {
	Backend string // "mysql", "mongo", "redis", "pubsub", "fake-cache", ...
	Op      string // the operation, e.g. "get", "create orders", "publish"
	Kind    error  // one of the six sentinels of Kinds
	Err     error  // the backend's error or a detail; may be nil
}

// NewError returns an *OpError for backend and op with the given sentinel
// kind and cause (which may be nil).
func NewError(backend, op string, kind, cause error) error {
	return &OpError{Backend: backend, Op: op, Kind: kind, Err: cause}
}

// Error formats as "backend: op: kind: cause".
func (e *OpError) Error() string {
	var b strings.Builder
	b.WriteString(e.Backend)
	if e.Op != "" {
		b.WriteString(": ")
		b.WriteString(e.Op)
	}
	if e.Kind != nil {
		b.WriteString(": ")
		b.WriteString(e.Kind.Error())
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the sentinel kind and the cause, so that errors.Is and
// errors.As see both.
func (e *OpError) Unwrap() []error {
	errs := make([]error, 0, 2)
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}
