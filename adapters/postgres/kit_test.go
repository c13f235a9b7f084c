package postgres

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/portkit/portkit/internal/faults"
	"github.com/portkit/portkit/internal/gormstore"
	"github.com/portkit/portkit/internal/gormstore/gormstoretest"
	"github.com/portkit/portkit/ports/portstest"
)

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
			return newTestStore[gormstoretest.StampedRow](t, db.(*DB), "pk_stamped")
		},
		DefaultRows: func(t testing.TB, db gormstoretest.DB) gormstoretest.Store[gormstoretest.DefaultRow] {
			return newTestStore[gormstoretest.DefaultRow](t, db.(*DB), "pk_defaults")
		},
		CounterRows: func(t testing.TB, db gormstoretest.DB) gormstoretest.Store[gormstoretest.CounterRow] {
			return newTestStore[gormstoretest.CounterRow](t, db.(*DB), "pk_counters")
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
			var pe *pgconn.PgError
			return errors.As(err, &pe) && pe.Code == "40P01"
		},
		DeadlockCause: "the server's 40P01",
		Closed:        func(db gormstoretest.DB) bool { return db.(*DB).core.Closed() },
		Wrap: func(ctx context.Context, db gormstoretest.DB, op string, err error) error {
			return db.(*DB).core.Wrap(ctx, op, err)
		},
		SleepSQL:   "SELECT pg_sleep(5)",
		QuoteIdent: quoteIdent,
		Core:       func(db gormstoretest.DB) *gormstore.DB { return db.(*DB).core },
		InsertPlan: true,
	}
}
