package postgres

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/ports/portstest"
)

// No goroutine is ignored: pgx starts none per connection, and the pool
// stops database/sql's on Close.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// quietLog discards log lines; tests that check logs pass their own.
var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// testURL returns DATABASE_URL or skips (fails with
// PORTKIT_REQUIRE_BACKENDS=1).
func testURL(t testing.TB) string {
	t.Helper()
	return testenv.Env(t, "postgres", "DATABASE_URL")
}

// openTest opens the test database, closing it at cleanup. A server that
// does not answer is a skip (or a failure when backends are required).
func openTest(t testing.TB, cfg Config, opts ...Option) *DB {
	t.Helper()
	if cfg.URL == "" && cfg.Host == "" {
		cfg.URL = testURL(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := Open(ctx, cfg, append([]Option{WithLogger(quietLog)}, opts...)...)
	if err != nil {
		testenv.Missing(t, "postgres", err.Error())
	}
	t.Cleanup(func() { _ = db.Close(context.Background()) })
	return db
}

// newItemStore returns a store of portstest.Item on a fresh table of its
// own, dropped at cleanup.
func newItemStore(t testing.TB, db *DB, opts ...StoreOption) *Store[portstest.Item] {
	t.Helper()
	return newTestStore[portstest.Item](t, db, "pk_pg_items", opts...)
}

// newTestStore returns a migrated store of T on a fresh table named
// after prefix, dropped at cleanup.
func newTestStore[T any](t testing.TB, db *DB, prefix string, opts ...StoreOption) *Store[T] {
	t.Helper()
	table := testenv.UniqueName(prefix)
	s, err := NewStore[T](db, append([]StoreOption{WithTable(table)}, opts...)...)
	if err != nil {
		t.Fatalf("NewStore: %v", err)
	}
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	t.Cleanup(func() { dropTable(t, table) })
	return s
}

// dropTable drops table on a connection of its own (the store's DB may be
// closed by then).
func dropTable(t testing.TB, table string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := Open(ctx, Config{URL: testURL(t)}, WithLogger(quietLog))
	if err != nil {
		t.Errorf("drop %s: %v", table, err)
		return
	}
	defer func() { _ = db.Close(context.Background()) }()
	if err := db.DB().WithContext(ctx).Exec("DROP TABLE IF EXISTS " + quoteIdent(table) + " CASCADE").Error; err != nil {
		t.Errorf("drop %s: %v", table, err)
	}
}

// newVItemStore returns a migrated store of VItems (the versioned model
// of the conformance suite) on a fresh table.
func newVItemStore(t testing.TB, db *DB) *Store[portstest.VItem] {
	t.Helper()
	return newTestStore[portstest.VItem](t, db, "pk_pg_vitems")
}
