package mysql

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/portkit/portkit/internal/errclass"
	"github.com/portkit/portkit/internal/gormstore"
	"github.com/portkit/portkit/ports"
)

// backend is the Backend of every error this package returns.
const backend = "mysql"

// classifier is the package's one classifier (see ports' classification
// table): MySQL and MariaDB server error numbers, then the driver's,
// database/sql's and gorm's errors. It holds no state.
var classifier = errclass.Classifier{
	Backend:     backend,
	Kind:        kindOf,
	ServerReply: isServerReply,
}

// Server error numbers (MySQL 8 and MariaDB 10.6+ share them) by kind.
// Any other error reply of the server is ErrInvalid.
var serverKinds = map[uint16]error{
	// A duplicate primary key or unique value; a deadlock or a
	// serialization failure, which the whole transaction may retry.
	1062: ports.ErrConflict, // ER_DUP_ENTRY
	1586: ports.ErrConflict, // ER_DUP_ENTRY_WITH_KEY_NAME
	1213: ports.ErrConflict, // ER_LOCK_DEADLOCK
	1020: ports.ErrConflict, // ER_CHECKREAD: record changed since last read (snapshot isolation)
	3101: ports.ErrConflict, // ER_TRANSACTION_ROLLBACK_DURING_COMMIT (group replication certification)

	// Schema missing, and values or requests the server rejected.
	1146: ports.ErrInvalid, // ER_NO_SUCH_TABLE
	1054: ports.ErrInvalid, // ER_BAD_FIELD_ERROR: unknown column
	1049: ports.ErrInvalid, // ER_BAD_DB_ERROR: unknown database
	1406: ports.ErrInvalid, // ER_DATA_TOO_LONG
	1366: ports.ErrInvalid, // ER_TRUNCATED_WRONG_VALUE_FOR_FIELD: incorrect string value
	1264: ports.ErrInvalid, // ER_WARN_DATA_OUT_OF_RANGE
	1265: ports.ErrInvalid, // WARN_DATA_TRUNCATED
	1292: ports.ErrInvalid, // ER_TRUNCATED_WRONG_VALUE: incorrect datetime value (years 0, 10000)
	1390: ports.ErrInvalid, // ER_PS_MANY_PARAM: more than 65535 placeholders
	1467: ports.ErrInvalid, // ER_AUTOINC_READ_FAILED: auto-increment out of range
	167:  ports.ErrInvalid, // MariaDB: out of range value (an auto-increment past its type)
	1690: ports.ErrInvalid, // ER_DATA_OUT_OF_RANGE: in an expression (an Inc past the range)
	1048: ports.ErrInvalid, // ER_BAD_NULL_ERROR
	1364: ports.ErrInvalid, // ER_NO_DEFAULT_FOR_FIELD
	1153: ports.ErrInvalid, // ER_NET_PACKET_TOO_LARGE

	// Credentials and grants.
	1044: ports.ErrPermission, // ER_DBACCESS_DENIED_ERROR
	1045: ports.ErrPermission, // ER_ACCESS_DENIED_ERROR: wrong password, no such user
	1142: ports.ErrPermission, // ER_TABLEACCESS_DENIED_ERROR
	1143: ports.ErrPermission, // ER_COLUMNACCESS_DENIED_ERROR
	1227: ports.ErrPermission, // ER_SPECIFIC_ACCESS_DENIED_ERROR
	1370: ports.ErrPermission, // ER_PROCACCESS_DENIED_ERROR
	1698: ports.ErrPermission, // ER_ACCESS_DENIED_NO_PASSWORD_ERROR
	1820: ports.ErrPermission, // ER_MUST_CHANGE_PASSWORD
	1862: ports.ErrPermission, // ER_MUST_CHANGE_PASSWORD_LOGIN
	3118: ports.ErrPermission, // ER_ACCOUNT_HAS_BEEN_LOCKED (MySQL)
	4151: ports.ErrPermission, // ER_ACCOUNT_HAS_BEEN_LOCKED (MariaDB)
	1251: ports.ErrPermission, // ER_NOT_SUPPORTED_AUTH_MODE
	1131: ports.ErrPermission, // ER_PASSWORD_ANONYMOUS_USER
	1132: ports.ErrPermission, // ER_PASSWORD_NOT_ALLOWED

	// Busy, shutting down, timed out, killed: retry later.
	1205: ports.ErrUnavailable, // ER_LOCK_WAIT_TIMEOUT
	3572: ports.ErrUnavailable, // ER_LOCK_NOWAIT
	1040: ports.ErrUnavailable, // ER_CON_COUNT_ERROR: too many connections
	1203: ports.ErrUnavailable, // ER_TOO_MANY_USER_CONNECTIONS
	1053: ports.ErrUnavailable, // ER_SERVER_SHUTDOWN
	1077: ports.ErrUnavailable, // ER_NORMAL_SHUTDOWN
	1079: ports.ErrUnavailable, // ER_SHUTDOWN_COMPLETE
	1927: ports.ErrUnavailable, // ER_CONNECTION_KILLED (MariaDB)
	1317: ports.ErrUnavailable, // ER_QUERY_INTERRUPTED
	3024: ports.ErrUnavailable, // ER_QUERY_TIMEOUT (MySQL max_execution_time)
	1969: ports.ErrUnavailable, // ER_STATEMENT_TIMEOUT (MariaDB max_statement_time)
	1152: ports.ErrUnavailable, // ER_ABORTING_CONNECTION
	1158: ports.ErrUnavailable, // ER_NET_READ_ERROR
	1159: ports.ErrUnavailable, // ER_NET_READ_INTERRUPTED
	1160: ports.ErrUnavailable, // ER_NET_ERROR_ON_WRITE
	1161: ports.ErrUnavailable, // ER_NET_WRITE_INTERRUPTED
	1290: ports.ErrUnavailable, // ER_OPTION_PREVENTS_STATEMENT: --read-only (a failover)
	1836: ports.ErrUnavailable, // ER_READ_ONLY_MODE
	1037: ports.ErrUnavailable, // ER_OUTOFMEMORY
	1041: ports.ErrUnavailable, // ER_OUT_OF_RESOURCES
	1021: ports.ErrUnavailable, // ER_DISK_FULL
	1114: ports.ErrUnavailable, // ER_RECORD_FILE_FULL: the table is full
	4031: ports.ErrUnavailable, // ER_CLIENT_INTERACTION_TIMEOUT
}

// kindOf classifies err by the table (see ports): a server error by its
// number; gorm's "record not found"; gorm's argument errors, the
// driver's refusal of an oversized packet and a column that does not
// scan into its field as ErrInvalid; the driver's authentication-plugin
// refusals as ErrPermission; a connection error after Close as ErrClosed;
// nil for the rest (context errors and unrecognised failures, which
// errclass classifies).
func kindOf(err error, closed bool) error {
	var me *mysqldrv.MySQLError
	if errors.As(err, &me) {
		return serverKinds[me.Number] // nil: an unrecognised reply, ErrInvalid
	}
	var se *gormstore.ScanError
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return ports.ErrNotFound
	case errors.As(err, &se), errors.As(err, new(*setError)), isGormSetError(err),
		errors.As(err, new(*strconv.NumError)), errors.As(err, new(*time.ParseError)),
		strings.HasPrefix(err.Error(), "sql: Scan error"):
		return ports.ErrInvalid
	case closed && (errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysqldrv.ErrInvalidConn) || errors.Is(err, sql.ErrConnDone)):
		return ports.ErrClosed
	case errors.Is(err, mysqldrv.ErrPktTooLarge),
		errors.Is(err, sql.ErrTxDone),
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
		errors.Is(err, gorm.ErrDryRunModeUnsupported):
		return ports.ErrInvalid
	case errors.Is(err, mysqldrv.ErrNativePassword),
		errors.Is(err, mysqldrv.ErrOldPassword),
		errors.Is(err, mysqldrv.ErrCleartextPassword),
		errors.Is(err, mysqldrv.ErrUnknownPlugin):
		return ports.ErrPermission
	case strings.Contains(err.Error(), "sql: database is closed"):
		// database/sql does not export this error.
		return ports.ErrClosed
	}
	return nil
}

// isServerReply reports whether err is an error reply of the server.
func isServerReply(err error) bool {
	var me *mysqldrv.MySQLError
	return errors.As(err, &me)
}

// isGormSetError reports gorm's "failed to set value … to field …", the
// error of its scan when a column does not fit the field; gorm has no
// error value for it.
func isGormSetError(err error) bool {
	return strings.HasPrefix(err.Error(), "failed to set value ")
}

// valueQuoting lists the server errors whose message quotes a value of
// the statement ("Duplicate entry 'alice@example.com' for key ...").
var valueQuoting = map[uint16]bool{
	1062: true, 1586: true, 1366: true, 1292: true, 1367: true, 1411: true, 1525: true, 1690: true,
}

// serverError is a server error whose message quoted a value: its text
// keeps the error number, the SQL state and what follows the value (the
// key, the column), and Unwrap gives the driver's error.
type serverError struct {
	me   *mysqldrv.MySQLError
	text string
}

func (e *serverError) Error() string { return e.text }
func (e *serverError) Unwrap() error { return e.me }

// redactValues keeps statement values out of error texts (unless logParams):
// a server message that quotes a value, and gorm's "failed to set value
// <value> to field <name>".
func redactValues(err error, logParams bool) error {
	if err == nil || logParams {
		return err
	}
	var me *mysqldrv.MySQLError
	if errors.As(err, &me) && valueQuoting[me.Number] {
		var se *serverError
		if errors.As(err, &se) {
			return err
		}
		return &serverError{me: me, text: redactedMessage(me)}
	}
	if isGormSetError(err) {
		msg := err.Error()
		field := ""
		if i := strings.LastIndex(msg, " to field "); i >= 0 {
			field = msg[i+len(" to field "):]
		}
		return &setError{field: field}
	}
	if msg := err.Error(); strings.HasPrefix(msg, "sql: Scan error on column ") {
		// database/sql's "…, name "col": converting driver.Value type
		// []uint8 ("<value>") to a int: …"
		if i := strings.Index(msg, "\": "); i >= 0 {
			msg = msg[:i+1]
		}
		return &setError{text: msg + ": the value (omitted) does not convert to its field"}
	}
	var ne *strconv.NumError
	if errors.As(err, &ne) {
		// gorm's scan of a column that is not a number ("parsing
		// \"<value>\"").
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

// redactedMessage renders me without the value its message quotes.
func redactedMessage(me *mysqldrv.MySQLError) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Error %d", me.Number)
	if me.SQLState != [5]byte{} {
		fmt.Fprintf(&b, " (%s)", string(me.SQLState[:]))
	}
	msg := me.Message
	head, tail := msg, ""
	for _, sep := range []string{" for key ", " for column "} {
		if i := strings.LastIndex(msg, sep); i >= 0 {
			tail = msg[i:]
			break
		}
	}
	if i := strings.IndexAny(head, ":'"); i >= 0 {
		head = strings.TrimSpace(strings.TrimSuffix(head[:i], ":"))
	}
	fmt.Fprintf(&b, ": %s (value omitted)%s", head, tail)
	return b.String()
}
