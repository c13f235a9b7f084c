package mysql

import (
	"context"
	"errors"
	"testing"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/portkit/portkit/internal/faults"
	"github.com/portkit/portkit/internal/gormstore"
	"github.com/portkit/portkit/internal/gormstore/gormstoretest"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/ports/portstest"
)

// kitStore returns a migrated store of T on a fresh table named after
// prefix, dropped at cleanup.
func kitStore[T any](t testing.TB, db *DB, prefix string) *Store[T] {
	t.Helper()
	s, err := NewStore[T](db, WithTable(testenv.UniqueName(prefix)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropTable(t, s.Table()) })
	return s
}

// kitEnv is this adapter for the shared test kit.
func kitEnv() gormstoretest.Env {
	return gormstoretest.Env{
		Open: func(t testing.TB) gormstoretest.DB { return openTest(t, Config{}) },
		Orders: func(t testing.TB, db gormstoretest.DB) gormstoretest.Store[order] {
			return newOrderStore(t, db.(*DB))
		},
		Items: func(t testing.TB, db gormstoretest.DB) gormstoretest.Store[portstest.Item] {
			return newItemStore(t, db.(*DB))
		},
		StampedRows: func(t testing.TB, db gormstoretest.DB) gormstoretest.Store[gormstoretest.StampedRow] {
			return kitStore[gormstoretest.StampedRow](t, db.(*DB), "pk_stamped")
		},
		DefaultRows: func(t testing.TB, db gormstoretest.DB) gormstoretest.Store[gormstoretest.DefaultRow] {
			return kitStore[gormstoretest.DefaultRow](t, db.(*DB), "pk_defaults")
		},
		CounterRows: func(t testing.TB, db gormstoretest.DB) gormstoretest.Store[gormstoretest.CounterRow] {
			return kitStore[gormstoretest.CounterRow](t, db.(*DB), "pk_counters")
		},
		ItemsOn: func(t testing.TB, db gormstoretest.DB, table string) gormstoretest.Store[portstest.Item] {
			s, err := NewStore[portstest.Item](db.(*DB), WithTable(table))
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		ViaProxy: func(t *testing.T) (gormstoretest.DB, gormstoretest.Store[portstest.Item], gormstoretest.Store[portstest.Item], *faults.Proxy) {
			db, s, direct, p := openViaProxy(t)
			return db, s, direct, p
		},
		IsDeadlock: func(err error) bool {
			var me *mysqldrv.MySQLError
			return errors.As(err, &me) && me.Number == 1213
		},
		DeadlockCause: "the driver's 1213",
		Closed:        func(db gormstoretest.DB) bool { return db.(*DB).core.Closed() },
		Wrap: func(ctx context.Context, db gormstoretest.DB, op string, err error) error {
			return db.(*DB).core.Wrap(ctx, op, err)
		},
		SleepSQL:   "SELECT SLEEP(5)",
		QuoteIdent: func(name string) string { return "`" + name + "`" },
		Core:       func(db gormstoretest.DB) *gormstore.DB { return db.(*DB).core },
		// MariaDB: gorm reads the generated keys from LastInsertId.
		InsertPlan: false,
	}
}
