package mysql

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

// No goroutine is ignored: the pools stop theirs on Close, and gorm's
// statement cache starts none with stmtCacheTTL (see db.go).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// quietLog discards log lines; tests that check logs pass their own.
var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// testDSN returns MYSQL_DSN or skips (fails with PORTKIT_REQUIRE_BACKENDS=1).
func testDSN(t testing.TB) string {
	t.Helper()
	return testenv.Env(t, "mysql", "MYSQL_DSN")
}

// openTest opens the test database, closing it at cleanup. A server that
// does not answer is a skip (or a failure when backends are required).
func openTest(t testing.TB, cfg Config, opts ...Option) *DB {
	t.Helper()
	if cfg.DSN == "" && cfg.URL == "" && cfg.Host == "" {
		cfg.DSN = testDSN(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := Open(ctx, cfg, append([]Option{WithLogger(quietLog)}, opts...)...)
	if err != nil {
		testenv.Missing(t, "mysql", err.Error())
	}
	t.Cleanup(func() { _ = db.Close(context.Background()) })
	return db
}

// newItemStore returns a store of portstest.Item on a fresh table of its
// own, dropped at cleanup.
func newItemStore(t testing.TB, db *DB, opts ...StoreOption) *Store[portstest.Item] {
	t.Helper()
	table := testenv.UniqueName("pk_my_items")
	s, err := NewStore[portstest.Item](db, append([]StoreOption{WithTable(table)}, opts...)...)
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
	db, err := Open(ctx, Config{DSN: testDSN(t)}, WithLogger(quietLog))
	if err != nil {
		t.Errorf("drop %s: %v", table, err)
		return
	}
	defer func() { _ = db.Close(context.Background()) }()
	if err := db.DB().WithContext(ctx).Migrator().DropTable(table); err != nil {
		t.Errorf("drop %s: %v", table, err)
	}
}

// newVItemStore returns a migrated store of VItems (the versioned model
// of the conformance suite) on a fresh table.
func newVItemStore(t testing.TB, db *DB) *Store[portstest.VItem] {
	t.Helper()
	table := testenv.UniqueName("pk_my_vitems")
	s, err := NewStore[portstest.VItem](db, WithTable(table))
	if err != nil {
		t.Fatalf("NewStore: %v", err)
	}
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	t.Cleanup(func() { dropTable(t, table) })
	return s
}
