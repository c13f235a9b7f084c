package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/portkit/portkit/ports"
)

// backend is the Backend of every error this package returns.
const backend = "mysql"

// MySQL and MariaDB server error numbers the adapter maps to port errors.
const (
	errDupEntry           = 1062 // ER_DUP_ENTRY
	errDupEntryWithKey    = 1586 // ER_DUP_ENTRY_WITH_KEY_NAME
	errDeadlock           = 1213 // ER_LOCK_DEADLOCK
	errLockWaitTimeout    = 1205 // ER_LOCK_WAIT_TIMEOUT
	errTooManyConnections = 1040 // ER_CON_COUNT_ERROR
	errServerShutdown     = 1053 // ER_SERVER_SHUTDOWN
	errConnectionKilled   = 1927 // ER_CONNECTION_KILLED (MariaDB)
	errQueryTimeout       = 3024 // ER_QUERY_TIMEOUT (MySQL max_execution_time)
	errStatementTimeout   = 1969 // ER_STATEMENT_TIMEOUT (MariaDB max_statement_time)
)

// wrap returns err as a *ports.OpError for op, with the port sentinel that
// matches it (see kindOf); nil stays nil. An error that is already an
// *ports.OpError is returned unchanged.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var oe *ports.OpError
	if errors.As(err, &oe) && oe.Backend == backend {
		return err
	}
	return ports.NewError(backend, op, kindOf(err), err)
}

// kindOf maps a driver, database/sql or gorm error to the port sentinel:
//
//   - gorm.ErrRecordNotFound → ErrNotFound;
//   - MySQL 1062/1586 (duplicate key) and 1213 (deadlock) → ErrConflict;
//   - a lost or refused connection (driver.ErrBadConn, mysql.ErrInvalidConn,
//     net errors, io.ErrUnexpectedEOF), a deadline, and the server errors
//     for lock wait timeout, too many connections, shutdown and a killed
//     connection → ErrUnavailable;
//   - "sql: database is closed" → ErrClosed;
//   - gorm's argument errors and a finished transaction → ErrInvalid.
//
// Any other error (a syntax or schema error, say) keeps no sentinel: it is
// not one of the failures the ports define.
func kindOf(err error) error {
	var me *mysqldrv.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case errDupEntry, errDupEntryWithKey, errDeadlock:
			return ports.ErrConflict
		case errLockWaitTimeout, errTooManyConnections, errServerShutdown,
			errConnectionKilled, errQueryTimeout, errStatementTimeout:
			return ports.ErrUnavailable
		}
		return nil
	}
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return ports.ErrNotFound
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, driver.ErrBadConn),
		errors.Is(err, mysqldrv.ErrInvalidConn),
		errors.Is(err, sql.ErrConnDone),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE):
		return ports.ErrUnavailable
	case errors.Is(err, sql.ErrTxDone),
		errors.Is(err, gorm.ErrMissingWhereClause),
		errors.Is(err, gorm.ErrPrimaryKeyRequired),
		errors.Is(err, gorm.ErrModelValueRequired),
		errors.Is(err, gorm.ErrInvalidData),
		errors.Is(err, gorm.ErrInvalidField),
		errors.Is(err, gorm.ErrEmptySlice),
		errors.Is(err, gorm.ErrInvalidValue),
		errors.Is(err, gorm.ErrInvalidValueOfLength):
		return ports.ErrInvalid
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return ports.ErrUnavailable
	}
	// database/sql does not export its "database is closed" error.
	if strings.Contains(err.Error(), "sql: database is closed") {
		return ports.ErrClosed
	}
	return nil
}

// errClosed is what every method returns after Close.
func errClosed(op string) error {
	return ports.NewError(backend, op, ports.ErrClosed, nil)
}

// errInvalid reports a bad argument detected before anything is sent.
func errInvalid(op string, cause error) error {
	return ports.NewError(backend, op, ports.ErrInvalid, cause)
}
