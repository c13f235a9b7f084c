package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"

	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/portkit/portkit/ports"
)

func TestWrapMapsErrors(t *testing.T) {
	dup := &mysqldrv.MySQLError{Number: 1062, Message: "Duplicate entry 'a' for key 'sku'"}
	for _, tc := range []struct {
		err  error
		kind error // nil: no sentinel
	}{
		{dup, ports.ErrConflict},
		{fmt.Errorf("gorm: %w", dup), ports.ErrConflict},
		{&mysqldrv.MySQLError{Number: 1586}, ports.ErrConflict},
		{&mysqldrv.MySQLError{Number: 1213}, ports.ErrConflict},
		{&mysqldrv.MySQLError{Number: 1205}, ports.ErrUnavailable},
		{&mysqldrv.MySQLError{Number: 1053}, ports.ErrUnavailable},
		{&mysqldrv.MySQLError{Number: 1064, Message: "syntax"}, nil},
		{gorm.ErrRecordNotFound, ports.ErrNotFound},
		{driver.ErrBadConn, ports.ErrUnavailable},
		{mysqldrv.ErrInvalidConn, ports.ErrUnavailable},
		{context.DeadlineExceeded, ports.ErrUnavailable},
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, ports.ErrUnavailable},
		{fmt.Errorf("read: %w", syscall.ECONNRESET), ports.ErrUnavailable},
		{sql.ErrConnDone, ports.ErrUnavailable},
		{errors.New("sql: database is closed"), ports.ErrClosed},
		{sql.ErrTxDone, ports.ErrInvalid},
		{gorm.ErrMissingWhereClause, ports.ErrInvalid},
		{context.Canceled, nil},
	} {
		got := wrap("get items", tc.err)
		if !errors.Is(got, tc.err) {
			t.Errorf("wrap(%v) lost the cause: %v", tc.err, got)
		}
		for _, k := range []error{ports.ErrNotFound, ports.ErrConflict, ports.ErrInvalid, ports.ErrUnavailable, ports.ErrClosed} {
			if want := k == tc.kind; errors.Is(got, k) != want {
				t.Errorf("wrap(%v): errors.Is(err, %v) = %v, want %v", tc.err, k, !want, want)
			}
		}
		if !strings.HasPrefix(got.Error(), "mysql: get items: ") {
			t.Errorf("wrap(%v) = %q, want it to name backend and operation", tc.err, got)
		}
	}
	var me *mysqldrv.MySQLError
	if err := wrap("create items", dup); !errors.As(err, &me) || me.Number != 1062 {
		t.Errorf("the driver error is not reachable through errors.As: %v", err)
	}
	if wrap("x", nil) != nil {
		t.Error("wrap(nil) is not nil")
	}
	inner := wrap("get", gorm.ErrRecordNotFound)
	if wrap("outer", inner) != inner {
		t.Error("wrap re-wrapped an error of the package")
	}
}
