package difftest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/portkit/portkit/adapters/postgres"
	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/ports/portstest"
)

// pgOps is the operation count of each PostgreSQL run: fixed, so that a
// run always does the same work (the Budget is only a backstop).
const pgOps = 10000

// postgresAllow lists the documented divergences of the SQL fake in
// fakes.WithDialect(fakes.Postgres) from adapters/postgres.
var postgresAllow []portstest.Allowance

// TestDiffPostgres runs the SQL fake, following PostgreSQL
// (fakes.WithDialect(fakes.Postgres)), against adapters/postgres on the
// server of DATABASE_URL, with the models of TestDiffSQL. Row's uint64
// needs nothing of its own: over MaxInt64 it is ErrInvalid on both sides
// (the portable rules of dialect Postgres, internal/sqlrules), which the
// checker's edge values exercise.
func TestDiffPostgres(t *testing.T) {
	db := openPostgres(t)
	t.Run("Item", func(t *testing.T) {
		o := options(pgOps)
		o.Allow = postgresAllow
		portstest.DiffSQLStore(t, fakePG[portstest.Item], realPG[portstest.Item](db, "pk_dpg_items"), o)
	})
	t.Run("Row", func(t *testing.T) {
		o := options(pgOps)
		o.Allow = postgresAllow
		portstest.DiffSQLStore(t, fakePG[Row], realPG[Row](db, "pk_dpg_rows"), o)
	})
}

// openPostgres opens the database of DATABASE_URL (skipping without it),
// closed at cleanup.
func openPostgres(t *testing.T) *postgres.DB {
	t.Helper()
	url := testenv.Env(t, "postgres", "DATABASE_URL")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	db, err := postgres.Open(ctx, postgres.Config{URL: url}, postgres.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		testenv.Missing(t, "postgres", err.Error())
	}
	t.Cleanup(func() { _ = db.Close(context.Background()) })
	return db
}

func fakePG[T any]() (portstest.SQLSubject[T], error) {
	db := fakes.NewDB(fakes.WithDialect(fakes.Postgres))
	s, err := fakes.NewSQLStore[T](db)
	if err != nil {
		return portstest.SQLSubject[T]{}, err
	}
	return portstest.SQLSubject[T]{Store: s, Tx: db, Close: func() { _ = db.Close(context.Background()) }}, nil
}

// realPG returns the constructor of a PostgreSQL subject on a table of
// its own, emptied by TRUNCATE … RESTART IDENTITY between sequences (the
// bigserial key restarts, as the fake's counter does) and dropped at the
// end.
func realPG[T any](db *postgres.DB, prefix string) func() (portstest.SQLSubject[T], error) {
	return func() (portstest.SQLSubject[T], error) {
		table := testenv.UniqueName(prefix)
		s, err := postgres.NewStore[T](db, postgres.WithTable(table))
		if err != nil {
			return portstest.SQLSubject[T]{}, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.Migrate(ctx); err != nil {
			return portstest.SQLSubject[T]{}, err
		}
		return portstest.SQLSubject[T]{
			Store: s, Tx: db,
			// ports.Transactor.WithinTx: "A statement that fails inside fn
			// may leave the transaction unusable (PostgreSQL aborts it;
			// MySQL and the fake go on): code that goes on after a failed
			// call should return its error".
			TxAborts: true,
			Reset: func(ctx context.Context) error {
				return db.DB().WithContext(ctx).Exec("TRUNCATE TABLE " + pgIdent(table) + " RESTART IDENTITY").Error
			},
			Close: func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				_ = db.DB().WithContext(ctx).Exec("DROP TABLE IF EXISTS " + pgIdent(table)).Error
			},
		}, nil
	}
}

// pgIdent quotes a table name made by testenv.UniqueName (letters, digits
// and underscores only).
func pgIdent(s string) string { return `"` + s + `"` }

// migratedPG returns a store of T on a fresh table, dropped at cleanup on a
// connection of its own (the error contract's cases may close db).
func migratedPG[T any](t *testing.T, db *postgres.DB) ports.SQLStore[T] {
	t.Helper()
	table := testenv.UniqueName("pk_dpg_ec")
	s, err := postgres.NewStore[T](db, postgres.WithTable(table))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		d, err := postgres.Open(ctx, postgres.Config{URL: testenv.Env(t, "postgres", "DATABASE_URL")}, postgres.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			return
		}
		defer func() { _ = d.Close(context.Background()) }()
		_ = d.DB().WithContext(ctx).Exec("DROP TABLE IF EXISTS " + pgIdent(table)).Error
	})
	return s
}
