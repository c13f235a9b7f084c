package ports

import (
	"errors"
	"strings"
)

// Sentinel errors. Every implementation of a port wraps its failures so that
// errors.Is(err, ports.ErrX) holds for exactly one of them, while the
// backend's own error stays reachable through errors.As and errors.Unwrap.
var (
	// ErrNotFound is returned by Cache.Get on a miss, by SQLStore.Get,
	// Update and Delete and DocStore.Get, Update and Delete when no row or
	// document has the given id, and by Subscriber.Subscribe and
	// Publisher.Publish when the subscription or topic does not exist.
	ErrNotFound = errors.New("not found")

	// ErrConflict is returned by SQLStore.Create/CreateMany and
	// DocStore.Insert/InsertMany when a primary key or unique index already
	// holds the value, and by updates that would violate a unique index.
	ErrConflict = errors.New("conflict")

	// ErrInvalid is returned before anything is sent to a backend when an
	// argument cannot be honoured: a Query naming a field the model does not
	// have, an unknown operator, a value of the wrong type, an empty cache
	// key, a negative TTL, limit or offset, a nil entity, a message over the
	// size limit, or a non-integer value under Cache.Incr.
	ErrInvalid = errors.New("invalid argument")

	// ErrUnavailable is returned when the backend cannot be reached or did
	// not answer in time: a refused or cut connection, a timeout, a server
	// that is shutting down, or a fake put into its unavailable state.
	ErrUnavailable = errors.New("unavailable")

	// ErrClosed is returned by every method of an implementation after its
	// Close has been called, including by a second Close.
	ErrClosed = errors.New("closed")
)

// OpError is the error every portkit implementation returns: it names the
// backend and the operation, carries the port-level sentinel in Kind and the
// backend's own error in Err. errors.Is matches both Kind and Err.
//
// Adapters never put a password, a DSN or a message payload in Op or Err.
type OpError struct {
	Backend string // "mysql", "mongo", "redis", "pubsub", "fake-cache", ...
	Op      string // the operation, e.g. "get", "create orders", "publish"
	Kind    error  // one of ErrNotFound, ErrConflict, ErrInvalid, ErrUnavailable, ErrClosed
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
