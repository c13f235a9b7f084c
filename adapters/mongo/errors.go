package mongo

import (
	"context"
	"errors"
	"net"

	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/x/mongo/driver"
	"go.mongodb.org/mongo-driver/x/mongo/driver/topology"

	"github.com/portkit/portkit/ports"
)

// ErrNoTransactions is the cause of the ErrInvalid that WithinTx returns on
// a server without multi-document transactions (a standalone mongod,
// FerretDB).
var ErrNoTransactions = errors.New("the server does not support transactions (it needs a replica set or a sharded cluster)")

// wrapErr returns nil for nil, or an *ports.OpError for op whose kind
// classifies err (see classify).
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return ports.NewError(backend, op, classify(err), err)
}

// classify maps a driver error to the port's sentinel:
//
//   - mongo.ErrNoDocuments: ErrNotFound
//   - a duplicate key (codes 11000, 11001, 12582): ErrConflict
//   - mongo.ErrClientDisconnected: ErrClosed
//   - server selection, network errors, timeouts, a cancelled context, a
//     server shutting down or stepping down: ErrUnavailable
//   - anything else the server or the BSON codec rejected: ErrInvalid
func classify(err error) error {
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return ports.ErrNotFound
	case mongo.IsDuplicateKeyError(err), isFerretUniqueViolation(err):
		return ports.ErrConflict
	case errors.Is(err, mongo.ErrClientDisconnected):
		return ports.ErrClosed
	case isUnavailable(err), errors.Is(err, context.Canceled):
		return ports.ErrUnavailable
	}
	return ports.ErrInvalid
}

// isFerretUniqueViolation reports FerretDB v1's answer to an update that
// breaks a unique index on its SQLite backend: an InternalError (code 1)
// carrying SQLite's message instead of MongoDB's DuplicateKey (11000).
// Inserts get 11000 from FerretDB; updates (ReplaceOne) do not.
func isFerretUniqueViolation(err error) bool {
	var se mongo.ServerError
	return errors.As(err, &se) && se.HasErrorCode(1) && se.HasErrorMessage("UNIQUE constraint failed")
}

// isUnavailable reports whether err says the server could not be reached
// or did not answer in time.
func isUnavailable(err error) bool {
	if mongo.IsTimeout(err) || mongo.IsNetworkError(err) {
		return true
	}
	var sse topology.ServerSelectionError
	if errors.As(err, &sse) {
		return true
	}
	// A cut connection makes the driver clear its pool; calls waiting for
	// a connection then fail with a retryable "connection pool was
	// cleared" error.
	var rpe driver.RetryablePoolError
	if errors.As(err, &rpe) && rpe.Retryable() {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var se mongo.ServerError
	if errors.As(err, &se) {
		// Server error codes that say the server cannot serve now.
		for _, c := range [...]int{
			6,     // HostUnreachable
			7,     // HostNotFound
			89,    // NetworkTimeout
			91,    // ShutdownInProgress
			189,   // PrimarySteppedDown
			262,   // ExceededTimeLimit
			9001,  // SocketException
			10107, // NotWritablePrimary
			11600, // InterruptedAtShutdown
			11602, // InterruptedDueToReplStateChange
			13435, // NotPrimaryNoSecondaryOk
			13436, // NotPrimaryOrSecondary
		} {
			if se.HasErrorCode(c) {
				return true
			}
		}
	}
	return false
}

// closedErr is the error of every call after Close.
func closedErr(op string) error {
	return ports.NewError(backend, op, ports.ErrClosed, nil)
}

// invalidErr is an ErrInvalid for op with cause.
func invalidErr(op string, cause error) error {
	return ports.NewError(backend, op, ports.ErrInvalid, cause)
}

// notFoundErr is an ErrNotFound for op with cause.
func notFoundErr(op string, cause error) error {
	return ports.NewError(backend, op, ports.ErrNotFound, cause)
}
