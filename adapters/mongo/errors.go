package mongo

import (
	"github.com/portkit/portkit/internal/mongostore"
)

// ErrNoTransactions is the cause of the ErrInvalid that WithinTx returns on
// a server without multi-document transactions (a standalone mongod,
// FerretDB).
var ErrNoTransactions = mongostore.ErrNoTransactions

// classifier is the adapter's one error classifier (internal/mongostore,
// shared with the document stores): the driver's error codes and types
// mapped to the table of package ports.
var classifier = mongostore.Classifier

// wrapErr returns nil for nil, or an *ports.OpError for op with exactly
// one sentinel, its message free of the server's values.
func wrapErr(op string, err error, closed bool) error { return mongostore.WrapErr(op, err, closed) }

// redactErr returns err with a message that names a server error by its
// codes only; errors.As and errors.Is see err.
func redactErr(err error) error { return mongostore.RedactErr(err) }

// isPermission reports a refused authentication or a missing grant.
func isPermission(err error) bool { return mongostore.IsPermission(err) }

// closedErr is the error of every call after Close.
func closedErr(op string) error { return mongostore.ClosedErr(op) }

// invalidErr is an ErrInvalid for op with cause.
func invalidErr(op string, cause error) error { return mongostore.InvalidErr(op, cause) }
