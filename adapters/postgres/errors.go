package postgres

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"

	"github.com/portkit/portkit/internal/errclass"
	"github.com/portkit/portkit/internal/gormstore"
	"github.com/portkit/portkit/ports"
)

// backend is the Backend of every error this package returns.
const backend = "postgres"

// classifier is the package's one classifier (see ports' classification
// table): the server's SQLSTATE codes (pgconn.PgError.Code), then pgx's,
// database/sql's and gorm's errors. It holds no state.
var classifier = errclass.Classifier{
	Backend:     backend,
	Kind:        kindOf,
	ServerReply: isServerReply,
}

// sqlstateKinds holds the SQLSTATE codes classified one by one; the
// others go by their class (classKinds). Any other error reply of the
// server is ErrInvalid.
var sqlstateKinds = map[string]error{
	// A duplicate primary key or unique value, an exclusion constraint; a
	// serialization failure or a deadlock, which the whole transaction
	// may retry.
	"23505": ports.ErrConflict, // unique_violation
	"23P01": ports.ErrConflict, // exclusion_violation
	"40001": ports.ErrConflict, // serialization_failure
	"40P01": ports.ErrConflict, // deadlock_detected
	"40002": ports.ErrConflict, // transaction_integrity_constraint_violation
	// The server cannot tell whether the statement completed.
	"40003": ports.ErrUnavailable, // statement_completion_unknown

	// Grants.
	"42501": ports.ErrPermission, // insufficient_privilege

	// Busy, locked, shutting down, cancelled by a timeout: retry later.
	"55P03": ports.ErrUnavailable, // lock_not_available (lock_timeout, NOWAIT)
	"55006": ports.ErrUnavailable, // object_in_use
	"25006": ports.ErrUnavailable, // read_only_sql_transaction: a standby (a failover)
	"57014": ports.ErrUnavailable, // query_canceled (statement_timeout, a cancel request)
	"57P01": ports.ErrUnavailable, // admin_shutdown
	"57P02": ports.ErrUnavailable, // crash_shutdown
	"57P03": ports.ErrUnavailable, // cannot_connect_now (starting up, in recovery)
	"57P04": ports.ErrUnavailable, // database_dropped
	"57P05": ports.ErrUnavailable, // idle_session_timeout

	// A statement in a transaction that an earlier failed statement
	// aborted: every statement fails until the transaction ends.
	"25P02": ports.ErrInvalid, // in_failed_sql_transaction
}

// classKinds classifies SQLSTATE codes by their class, the first two
// characters.
var classKinds = map[string]error{
	"08": ports.ErrUnavailable, // connection exception
	"53": ports.ErrUnavailable, // insufficient resources (too_many_connections, disk_full, out_of_memory)
	"57": ports.ErrUnavailable, // operator intervention
	"58": ports.ErrUnavailable, // system error (I/O)
	"XX": ports.ErrUnavailable, // internal error
	"28": ports.ErrPermission,  // invalid authorization specification: wrong password, no such role
	"22": ports.ErrInvalid,     // data exception: a value the server rejected
	"23": ports.ErrInvalid,     // integrity constraint: NOT NULL, foreign key, check
	"42": ports.ErrInvalid,     // syntax error or access rule: no such table or column
	"3D": ports.ErrInvalid,     // invalid catalog name: no such database
	"3F": ports.ErrInvalid,     // invalid schema name
	"0A": ports.ErrInvalid,     // feature not supported
	"54": ports.ErrInvalid,     // program limit exceeded
}

// sqlstateKind returns the kind of a server error's SQLSTATE code: by the
// code, else by its class, else nil (an unrecognised reply: ErrInvalid).
func sqlstateKind(code string) error {
	if k, ok := sqlstateKinds[code]; ok {
		return k
	}
	if len(code) == 5 {
		return classKinds[code[:2]]
	}
	return nil
}

// kindOf classifies err by the table (see ports): a server error by its
// SQLSTATE; gorm's "record not found"; a value pgx cannot encode, a
// statement over the protocol's parameter limit, gorm's argument errors
// and a column that does not scan into its field as ErrInvalid; a
// connection error after Close as ErrClosed; nil for the rest (context
// errors and unrecognised failures, which errclass classifies).
func kindOf(err error, closed bool) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return sqlstateKind(pe.Code) // nil: an unrecognised reply, ErrInvalid
	}
	var se *gormstore.ScanError
	msg := err.Error()
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return ports.ErrNotFound
	case errors.As(err, &se), errors.As(err, new(*setError)), errors.As(err, new(*encodeError)),
		isGormSetError(err), errors.As(err, new(*strconv.NumError)), errors.As(err, new(*time.ParseError)),
		strings.HasPrefix(msg, "sql: Scan error"), strings.Contains(msg, "failed to encode args["),
		strings.Contains(msg, "extended protocol limited to "):
		return ports.ErrInvalid
	case closed && (errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, pgconn.ErrConnClosed) || strings.Contains(msg, "conn closed")):
		return ports.ErrClosed
	case errors.Is(err, sql.ErrTxDone),
		// A statement made with the context of a transaction that has
		// ended: the connection went back to the pool.
		errors.Is(err, sql.ErrConnDone),
		errors.Is(err, gorm.ErrMissingWhereClause),
		errors.Is(err, gorm.ErrPrimaryKeyRequired),
		errors.Is(err, gorm.ErrModelValueRequired),
		errors.Is(err, gorm.ErrInvalidData),
		errors.Is(err, gorm.ErrInvalidField),
		errors.Is(err, gorm.ErrEmptySlice),
		errors.Is(err, gorm.ErrInvalidValue),
		errors.Is(err, gorm.ErrInvalidValueOfLength),
		errors.Is(err, gorm.ErrUnsupportedDriver),
		errors.Is(err, gorm.ErrDryRunModeUnsupported),
		errors.Is(err, errAbortedTx):
		return ports.ErrInvalid
	case strings.Contains(msg, "sql: database is closed"):
		// database/sql does not export this error.
		return ports.ErrClosed
	}
	return nil
}

// isServerReply reports whether err is an error reply of the server.
func isServerReply(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe)
}

// isGormSetError reports gorm's "failed to set value … to field …", the
// error of its scan when a column does not fit the field; gorm has no
// error value for it.
func isGormSetError(err error) bool {
	return strings.HasPrefix(err.Error(), "failed to set value ")
}

// quoted matches a double-quoted part of a server message, where a data
// exception quotes the value it rejected (`invalid input syntax for type
// integer: "abc"`, `value "70000" is out of range for type smallint`).
var quoted = regexp.MustCompile(`"[^"]*"`)

// serverError is a server error whose message may quote a value: its text
// keeps the severity, the SQLSTATE and the message with every quoted part
// omitted, and Unwrap gives pgx's error (whose Detail, which may hold
// the row, stays out of every text).
type serverError struct {
	pe   *pgconn.PgError
	text string
}

func (e *serverError) Error() string { return e.text }
func (e *serverError) Unwrap() error { return e.pe }

// encodeError is pgx's "failed to encode args[i]: unable to encode <value>
// into …" without the value.
type encodeError struct {
	text  string
	cause error
}

func (e *encodeError) Error() string { return e.text }
func (e *encodeError) Unwrap() error { return e.cause }

// argIndex finds the parameter an encode error names.
var argIndex = regexp.MustCompile(`failed to encode args\[(\d+)\]`)

// redactValues keeps statement values out of error texts (unless
// logParams): a data exception's message (SQLSTATE class 22), which may
// quote the value; pgx's encode errors, which quote it with %#v; gorm's
// "failed to set value <value> to field <name>" and database/sql's scan
// errors. The server's Message and Error() of the other SQLSTATEs quote
// no value (a duplicate key's value is in Detail, which no text shows).
func redactValues(err error, logParams bool) error {
	if err == nil || logParams {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		var se *serverError
		if strings.HasPrefix(pe.Code, "22") && !errors.As(err, &se) {
			return &serverError{pe: pe, text: fmt.Sprintf("%s: %s (SQLSTATE %s)",
				pe.Severity, quoted.ReplaceAllString(pe.Message, "(value omitted)"), pe.Code)}
		}
		return err
	}
	msg := err.Error()
	if m := argIndex.FindStringSubmatch(msg); m != nil {
		if errors.As(err, new(*encodeError)) {
			return err
		}
		return &encodeError{text: "failed to encode args[" + m[1] + "]: the value (omitted) does not fit the column's type", cause: err}
	}
	if isGormSetError(err) {
		field := ""
		if i := strings.LastIndex(msg, " to field "); i >= 0 {
			field = msg[i+len(" to field "):]
		}
		return &setError{field: field}
	}
	if strings.HasPrefix(msg, "sql: Scan error on column ") {
		if i := strings.Index(msg, "\": "); i >= 0 {
			msg = msg[:i+1]
		}
		return &setError{text: msg + ": the value (omitted) does not convert to its field"}
	}
	var ne *strconv.NumError
	if errors.As(err, &ne) {
		return &setError{cause: ne.Err}
	}
	return err
}

// setError is gorm's "failed to set value … to field …" without the
// value.
type setError struct {
	field string
	cause error
	text  string
}

func (e *setError) Error() string {
	if e.text != "" {
		return e.text
	}
	if e.field == "" {
		return fmt.Sprintf("a column's value (omitted) does not convert to its field: %v", e.cause)
	}
	return "failed to set a column's value (omitted) to field " + e.field
}
