package mongostore

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"go.mongodb.org/mongo-driver/bson/bsoncodec"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/x/mongo/driver"
	"go.mongodb.org/mongo-driver/x/mongo/driver/auth"
	"go.mongodb.org/mongo-driver/x/mongo/driver/topology"

	"github.com/portkit/portkit/internal/errclass"
	"github.com/portkit/portkit/ports"
)

// backend is the Backend of every error.
const backend = "mongo"

// ErrNoTransactions is the cause of the ErrInvalid that WithinTx returns on
// a server without multi-document transactions (a standalone mongod,
// FerretDB).
var ErrNoTransactions = errors.New("the server does not support transactions (it needs a replica set or a sharded cluster)")

// Classifier is the adapter's one error Classifier: the driver's error
// codes and types mapped to the table of package ports (see kindOf),
// applied by errclass around the rules every adapter shares.
var Classifier = errclass.Classifier{Backend: backend, Kind: kindOf, ServerReply: isServerReply}

// WrapErr returns nil for nil, or an *ports.OpError for op with exactly
// one sentinel. Server errors are wrapped so that their text, which can
// quote a stored value (a duplicate key's), names only codes; the driver's
// error stays reachable with errors.As.
func WrapErr(op string, err error, closed bool) error {
	if err == nil {
		return nil
	}
	if ports.KindOf(err) != nil {
		return Classifier.Wrap(op, err, closed)
	}
	kind := Classifier.KindOf(err, closed)
	return ports.NewError(backend, op, kind, RedactErr(err))
}

// Server error codes, from the server's error_codes.yml.
var (
	// permissionCodes: the credentials or the grants were refused.
	permissionCodes = []int{
		11,   // UserNotFound
		13,   // Unauthorized
		18,   // AuthenticationFailed
		31,   // RoleNotFound
		8000, // AtlasError ("bad auth")
	}
	// unavailableCodes: the server cannot serve now.
	unavailableCodes = []int{
		6,     // HostUnreachable
		7,     // HostNotFound
		50,    // MaxTimeMSExpired
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
	}
	// conflictCodes: a write conflicts with the stored state.
	conflictCodes = []int{
		11000, // DuplicateKey
		11001, // DuplicateKey on update (legacy)
		12582, // DuplicateKey (legacy mongos)
		112,   // WriteConflict
	}
)

// kindOf classifies a driver error by its codes and types (never by its
// text, but for one FerretDB quirk), or returns nil for errclass's
// fallbacks (context errors: ErrUnavailable; other server replies:
// ErrInvalid; anything else: ErrUnavailable).
func kindOf(err error, closed bool) error {
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return ports.ErrNotFound
	case isClosedErr(err):
		// Only Disconnect closes the pool or the topology, and only Close
		// calls Disconnect: a call that raced Close.
		return ports.ErrClosed
	case IsPermission(err):
		return ports.ErrPermission
	case closed && isUnavailable(err):
		// Close cut the connection of a call in flight.
		return ports.ErrClosed
	}
	if ports.IsContextError(err) {
		return nil // errclass: ErrUnavailable, the context error reachable
	}
	switch {
	case mongo.IsDuplicateKeyError(err), HasCode(err, conflictCodes...), isFerretUniqueViolation(err):
		return ports.ErrConflict
	case HasCode(err, unavailableCodes...), isUnavailable(err):
		return ports.ErrUnavailable
	case isCodecError(err):
		// The driver could not encode a request or decode a document into
		// the model: repeating the call fails again.
		return ports.ErrInvalid
	}
	return nil
}

// isServerReply reports whether err is an error reply of the server.
func isServerReply(err error) bool {
	var se mongo.ServerError
	if errors.As(err, &se) {
		return true
	}
	var de driver.Error
	return errors.As(err, &de)
}

// HasCode reports whether err carries one of the server error codes, as a
// command error, a write error, a write concern error or a handshake
// error.
func HasCode(err error, codes ...int) bool {
	var se mongo.ServerError
	if errors.As(err, &se) {
		for _, c := range codes {
			if se.HasErrorCode(c) {
				return true
			}
		}
	}
	var de driver.Error
	if errors.As(err, &de) {
		for _, c := range codes {
			if int(de.Code) == c {
				return true
			}
		}
	}
	var wce driver.WriteCommandError
	if errors.As(err, &wce) {
		for _, we := range wce.WriteErrors {
			for _, c := range codes {
				if int(we.Code) == c {
					return true
				}
			}
		}
	}
	return false
}

// IsPermission reports a refused authentication or a missing grant: a
// permission code, or an authentication error of the handshake that is not
// a network failure.
func IsPermission(err error) bool {
	if HasCode(err, permissionCodes...) {
		return true
	}
	var ae *auth.Error
	if errors.As(err, &ae) {
		var ne net.Error
		return !errors.As(ae, &ne) && !ports.IsContextError(ae) && !mongo.IsNetworkError(ae)
	}
	return false
}

// isClosedErr reports the driver's errors of a disconnected client.
func isClosedErr(err error) bool {
	return errors.Is(err, mongo.ErrClientDisconnected) ||
		errors.Is(err, topology.ErrPoolClosed) ||
		errors.Is(err, topology.ErrTopologyClosed) ||
		errors.Is(err, topology.ErrServerClosed)
}

// isCodecError reports an error of the BSON codec.
func isCodecError(err error) bool {
	var de *bsoncodec.DecodeError
	var ve bsoncodec.ValueDecoderError
	var ee bsoncodec.ValueEncoderError
	//lint:ignore SA1019 the v1 driver still returns it; it is how a type the codec cannot handle shows
	var ne bsoncodec.ErrNoEncoder
	//lint:ignore SA1019 as above
	var nd bsoncodec.ErrNoDecoder
	var me mongo.MarshalError
	return errors.As(err, &de) || errors.As(err, &ve) || errors.As(err, &ee) ||
		errors.As(err, &ne) || errors.As(err, &nd) || errors.As(err, &me) ||
		errors.Is(err, mongo.ErrNilDocument)
}

// isFerretUniqueViolation reports FerretDB v1's answer to an update that
// breaks a unique index on its SQLite backend: an InternalError (code 1)
// carrying SQLite's message instead of MongoDB's DuplicateKey (11000).
// Inserts get 11000 from FerretDB; updates do not. This is the one rule
// that reads a message: FerretDB gives no other sign.
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
	var ce topology.ConnectionError
	if errors.As(err, &ce) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// IsNotSent reports a failure that happened before a request could be
// sent: no server was selected, or no connection was checked out.
func IsNotSent(err error) bool {
	var sse topology.ServerSelectionError
	var wqe topology.WaitQueueTimeoutError
	return errors.As(err, &sse) || errors.As(err, &wqe) || isClosedErr(err)
}

// RedactErr returns err with a message that names a server error by its
// codes only (the server's text can quote values: "dup key: { email:
// ... }"); other errors keep theirs. errors.As and errors.Is see err.
func RedactErr(err error) error {
	var parts []string
	var bwe mongo.BulkWriteException
	var we mongo.WriteException
	var ce mongo.CommandError
	switch {
	case errors.As(err, &bwe):
		for _, e := range bwe.WriteErrors {
			parts = append(parts, fmt.Sprintf("write error %d at document %d", e.Code, e.Index))
		}
		if bwe.WriteConcernError != nil {
			parts = append(parts, fmt.Sprintf("write concern error %d (%s)", bwe.WriteConcernError.Code, bwe.WriteConcernError.Name))
		}
	case errors.As(err, &we):
		for _, e := range we.WriteErrors {
			parts = append(parts, fmt.Sprintf("write error %d", e.Code))
		}
		if we.WriteConcernError != nil {
			parts = append(parts, fmt.Sprintf("write concern error %d (%s)", we.WriteConcernError.Code, we.WriteConcernError.Name))
		}
	case errors.As(err, &ce) && ce.Code == 0 && ce.Message == "":
		return err // a driver-side failure (a cut connection): no server text
	case errors.As(err, &ce):
		name := ce.Name
		if name == "" {
			name = "command error"
		}
		parts = append(parts, fmt.Sprintf("server error %d (%s)", ce.Code, name))
		if ce.Wrapped != nil && !isServerReply(ce.Wrapped) {
			parts = append(parts, ce.Wrapped.Error())
		}
	default:
		var dre driver.Error
		if errors.As(err, &dre) {
			return &redacted{msg: fmt.Sprintf("server error %d (%s)", dre.Code, dre.Name), err: err}
		}
		var de *bsoncodec.DecodeError
		if errors.As(err, &de) {
			return &redacted{msg: "cannot decode the stored document into the model at " + strings.Join(de.Keys(), "."), err: err}
		}
		return err
	}
	if len(parts) == 0 {
		parts = append(parts, "server error")
	}
	return &redacted{msg: strings.Join(parts, "; "), err: err}
}

// redacted is a driver error with a message free of values.
type redacted struct {
	msg string
	err error
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Unwrap() error { return e.err }

// ClosedErr is the error of every call after Close.
func ClosedErr(op string) error {
	return ports.NewError(backend, op, ports.ErrClosed, nil)
}

// InvalidErr is an ErrInvalid for op with cause.
func InvalidErr(op string, cause error) error {
	return ports.NewError(backend, op, ports.ErrInvalid, cause)
}

// notFoundErr is an ErrNotFound for op with cause.
func notFoundErr(op string, cause error) error {
	return ports.NewError(backend, op, ports.ErrNotFound, cause)
}

// conflictErr is an ErrConflict for op with cause.
func conflictErr(op string, cause error) error {
	return ports.NewError(backend, op, ports.ErrConflict, cause)
}
