package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"

	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/portkit/portkit/internal/gormstore"
	"github.com/portkit/portkit/ports"
)

// The classification table of ports, by MySQL and MariaDB error numbers
// and driver errors: exactly one sentinel each, the cause reachable.
func TestClassifierFollowsTheTable(t *testing.T) {
	core := dryDB(t).core
	dup := &mysqldrv.MySQLError{Number: 1062, Message: "Duplicate entry 'a' for key 'sku'"}
	for _, tc := range []struct {
		err  error
		kind error
	}{
		{dup, ports.ErrConflict},
		{fmt.Errorf("gorm: %w", dup), ports.ErrConflict},
		{&mysqldrv.MySQLError{Number: 1586}, ports.ErrConflict},
		{&mysqldrv.MySQLError{Number: 1213}, ports.ErrConflict},
		// Schema missing and values the server rejected.
		{&mysqldrv.MySQLError{Number: 1146}, ports.ErrInvalid},
		{&mysqldrv.MySQLError{Number: 1054}, ports.ErrInvalid},
		{&mysqldrv.MySQLError{Number: 1406}, ports.ErrInvalid},
		{&mysqldrv.MySQLError{Number: 1366}, ports.ErrInvalid},
		{&mysqldrv.MySQLError{Number: 1264}, ports.ErrInvalid},
		{&mysqldrv.MySQLError{Number: 1265}, ports.ErrInvalid},
		{&mysqldrv.MySQLError{Number: 1390}, ports.ErrInvalid},
		{&mysqldrv.MySQLError{Number: 1467}, ports.ErrInvalid},
		{&mysqldrv.MySQLError{Number: 1292}, ports.ErrInvalid},
		{errors.New("failed to set value 0x1 to field PBool"), ports.ErrInvalid},
		{&gormstore.ScanError{Column: "c", Field: "F", Err: errors.New("x")}, ports.ErrInvalid},
		{mysqldrv.ErrPktTooLarge, ports.ErrInvalid},
		// Credentials and grants.
		{&mysqldrv.MySQLError{Number: 1045}, ports.ErrPermission},
		{&mysqldrv.MySQLError{Number: 1044}, ports.ErrPermission},
		{&mysqldrv.MySQLError{Number: 1142}, ports.ErrPermission},
		{&mysqldrv.MySQLError{Number: 1143}, ports.ErrPermission},
		{&mysqldrv.MySQLError{Number: 1227}, ports.ErrPermission},
		{&mysqldrv.MySQLError{Number: 1698}, ports.ErrPermission},
		{mysqldrv.ErrNativePassword, ports.ErrPermission},
		// Busy, down, timed out.
		{&mysqldrv.MySQLError{Number: 1205}, ports.ErrUnavailable},
		{&mysqldrv.MySQLError{Number: 1040}, ports.ErrUnavailable},
		{&mysqldrv.MySQLError{Number: 1053}, ports.ErrUnavailable},
		{&mysqldrv.MySQLError{Number: 1927}, ports.ErrUnavailable},
		{&mysqldrv.MySQLError{Number: 1969}, ports.ErrUnavailable},
		{gorm.ErrRecordNotFound, ports.ErrNotFound},
		{driver.ErrBadConn, ports.ErrUnavailable},
		{mysqldrv.ErrInvalidConn, ports.ErrUnavailable},
		{io.ErrUnexpectedEOF, ports.ErrUnavailable},
		{context.DeadlineExceeded, ports.ErrUnavailable},
		{context.Canceled, ports.ErrUnavailable},
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, ports.ErrUnavailable},
		{fmt.Errorf("read: %w", syscall.ECONNRESET), ports.ErrUnavailable},
		{sql.ErrConnDone, ports.ErrInvalid},
		{errors.New("sql: database is closed"), ports.ErrClosed},
		{sql.ErrTxDone, ports.ErrInvalid},
		{gorm.ErrMissingWhereClause, ports.ErrInvalid},
		// Unrecognised: a server reply is ErrInvalid, anything else
		// ErrUnavailable.
		{&mysqldrv.MySQLError{Number: 1064, Message: "syntax"}, ports.ErrInvalid},
		{errors.New("something odd"), ports.ErrUnavailable},
	} {
		got := core.Wrap(context.Background(), "get items", tc.err)
		if k := ports.KindOf(got); k != tc.kind {
			t.Errorf("Wrap(%v) = %v, kind %v, want %v", tc.err, got, k, tc.kind)
		}
		n := 0
		for _, k := range ports.Kinds() {
			if errors.Is(got, k) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("Wrap(%v) matches %d sentinels, want exactly one", tc.err, n)
		}
		var me *mysqldrv.MySQLError
		if errors.As(tc.err, &me) && !errors.As(got, &me) {
			t.Errorf("Wrap(%v): the driver error is not reachable with errors.As", tc.err)
		}
		if !strings.HasPrefix(got.Error(), "mysql: get items: ") {
			t.Errorf("Wrap(%v) = %q, want it to name backend and operation", tc.err, got)
		}
	}
	if core.Wrap(context.Background(), "x", nil) != nil {
		t.Error("Wrap(nil) is not nil")
	}
	inner := core.Wrap(context.Background(), "get", gorm.ErrRecordNotFound)
	if core.Wrap(context.Background(), "outer", inner) != inner {
		t.Error("Wrap re-wrapped an error of the package")
	}
	// A lost connection after the caller's context ended: the context's
	// error is reachable.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := core.Wrap(ctx, "get", mysqldrv.ErrInvalidConn); !errors.Is(err, context.Canceled) || !errors.Is(err, ports.ErrUnavailable) {
		t.Errorf("Wrap of a lost connection after cancel = %v, want ErrUnavailable and context.Canceled", err)
	}
}

// A server message that quotes a statement's value keeps it out of the
// error text (the driver's error still reachable), unless
// Config.LogParams.
func TestErrorsOmitValues(t *testing.T) {
	core := dryDB(t).core
	for _, me := range []*mysqldrv.MySQLError{
		{Number: 1062, SQLState: [5]byte{'2', '3', '0', '0', '0'}, Message: "Duplicate entry 'alice@example.com' for key 'items_sku'"},
		{Number: 1366, Message: "Incorrect string value: 'alice@example.com' for column `test`.`t`.`name` at row 1"},
		{Number: 1292, Message: "Incorrect datetime value: 'alice@example.com' for column `test`.`t`.`at` at row 1"},
		{Number: 1690, Message: "BIGINT UNSIGNED value is out of range in '`test`.`t`.`qty` + alice@example.com'"},
	} {
		err := core.Wrap(context.Background(), "create items", me)
		if strings.Contains(err.Error(), "alice") {
			t.Errorf("error %d quotes the value: %q", me.Number, err)
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("Error %d", me.Number)) {
			t.Errorf("error %d lost its number: %q", me.Number, err)
		}
		var got *mysqldrv.MySQLError
		if !errors.As(err, &got) || got != me {
			t.Errorf("error %d: the driver error is not reachable", me.Number)
		}
	}
	if err := core.Wrap(context.Background(), "get", errors.New("failed to set value \"alice\" to field Name")); strings.Contains(err.Error(), "alice") || !strings.Contains(err.Error(), "Name") {
		t.Errorf("gorm's set error = %q, want the field without the value", err)
	}
	if msg := redactValues(&mysqldrv.MySQLError{Number: 1062, Message: "Duplicate entry 'alice' for key 'k'"}, false).Error(); msg != "Error 1062: Duplicate entry (value omitted) for key 'k'" {
		t.Errorf("redacted 1062 = %q", msg)
	}
	if err := redactValues(&mysqldrv.MySQLError{Number: 1062, Message: "Duplicate entry 'alice' for key 'k'"}, true); !strings.Contains(err.Error(), "alice") {
		t.Errorf("with LogParams the message is kept: %q", err)
	}
}
