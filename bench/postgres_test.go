package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/portkit/portkit/adapters/postgres"
	"github.com/portkit/portkit/ports/portstest"
)

// postgresRows is the size of the table BenchmarkPostgresGet reads from.
const postgresRows = 10_000

// postgresBench is what the PostgreSQL benchmarks share: the port over a
// table of its own, and a pgx pool on the same server.
type postgresBench struct {
	ctx   context.Context
	url   string
	db    *postgres.DB
	table string
	store *postgres.Store[portstest.Item]
	pool  *pgxpool.Pool
}

// newPostgresBench opens the adapter and a pgx pool and creates a fresh
// Item table, dropped when b ends. It skips without DATABASE_URL.
func newPostgresBench(b *testing.B) *postgresBench {
	b.Helper()
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		b.Skip("postgres backend unavailable: DATABASE_URL is not set")
	}
	ctx := context.Background()
	db, err := postgres.Open(ctx, postgres.Config{URL: url}, postgres.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		b.Skipf("postgres backend unavailable: %v", err)
	}
	b.Cleanup(func() { _ = db.Close(context.Background()) })
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	table := "pk_pg_bench_items_" + hex.EncodeToString(rnd[:])
	store, err := postgres.NewStore[portstest.Item](db, postgres.WithTable(table))
	if err != nil {
		b.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.DB().Exec(`DROP TABLE IF EXISTS "` + table + `"`).Error })
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	return &postgresBench{ctx: ctx, url: url, db: db, table: table, store: store, pool: pool}
}

// BenchmarkPostgresGet is a point select by primary key on a 10k-row
// table: the port (postgres.Store.Get) and pgx directly (a pool's
// QueryRow, pgx's statement cache, scanning the same columns), each
// alone and paired (both in every iteration, 100 calls each: the ratio
// that holds on a loaded machine).
func BenchmarkPostgresGet(b *testing.B) {
	env := newPostgresBench(b)
	if err := env.store.CreateMany(env.ctx, benchItems(postgresRows)); err != nil {
		b.Fatal(err)
	}
	var minID int64
	if err := env.pool.QueryRow(env.ctx, `SELECT MIN(id) FROM "`+env.table+`"`).Scan(&minID); err != nil {
		b.Fatal(err)
	}
	id := func(i int) int64 { return minID + int64(i%postgresRows) }
	query := `SELECT ` + itemColumns + ` FROM "` + env.table + `" WHERE id = $1`
	pgxGet := func(i int) func(b *testing.B) {
		return func(b *testing.B) {
			var it portstest.Item
			if err := env.pool.QueryRow(env.ctx, query, id(i)).Scan(
				&it.ID, &it.SKU, &it.Name, &it.Qty, &it.Price, &it.Active, &it.Note, &it.CreatedAt); err != nil {
				b.Fatal(err)
			}
		}
	}
	portGet := func(i int) func(b *testing.B) {
		return func(b *testing.B) {
			if _, err := env.store.Get(env.ctx, id(i)); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("port", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			portGet(i)(b)
			i++
		}
	})
	b.Run("pgx", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			pgxGet(i)(b)
			i++
		}
	})
	b.Run("paired", func(b *testing.B) {
		i := 0
		paired(b, "port", "pgx", func(b *testing.B) {
			for range 100 {
				portGet(i)(b)
				i++
			}
		}, func(b *testing.B) {
			for range 100 {
				pgxGet(i)(b)
				i++
			}
		})
	})
}

// BenchmarkPostgresCreateMany inserts 1000 new rows per operation, the
// generated keys handed back: the port (postgres.Store.CreateMany, one
// INSERT … RETURNING id) and pgx directly (the same multi-row INSERT …
// RETURNING id, its 7000 parameters built by hand), alone and paired.
// Both write to the same table; the items are made outside the timer.
func BenchmarkPostgresCreateMany(b *testing.B) {
	const n = 1000
	env := newPostgresBench(b)
	var sb strings.Builder
	sb.WriteString(`INSERT INTO "` + env.table + `" (sku, name, qty, price, active, note, created_at) VALUES `)
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		k := i * 7
		fmt.Fprintf(&sb, "($%d,$%d,$%d,$%d,$%d,$%d,$%d)", k+1, k+2, k+3, k+4, k+5, k+6, k+7)
	}
	sb.WriteString(" RETURNING id")
	insert := sb.String()
	pgxInsert := func(items []*portstest.Item) func(b *testing.B) {
		return func(b *testing.B) {
			args := make([]any, 0, 7*n)
			for _, it := range items {
				args = append(args, it.SKU, it.Name, it.Qty, it.Price, it.Active, it.Note, it.CreatedAt)
			}
			rows, err := env.pool.Query(env.ctx, insert, args...)
			if err != nil {
				b.Fatal(err)
			}
			i := 0
			_, err = pgx.ForEachRow(rows, []any{new(int64)}, func() error { i++; return nil })
			if err != nil || i != n {
				b.Fatalf("pgx insert: %d ids, %v", i, err)
			}
		}
	}
	portInsert := func(items []*portstest.Item) func(b *testing.B) {
		return func(b *testing.B) {
			if err := env.store.CreateMany(env.ctx, items); err != nil {
				b.Fatal(err)
			}
			if items[n-1].ID == 0 {
				b.Fatal("no id handed back")
			}
		}
	}
	b.Run("port", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			items := benchItems(n)
			b.StartTimer()
			portInsert(items)(b)
		}
	})
	b.Run("pgx", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			items := benchItems(n)
			b.StartTimer()
			pgxInsert(items)(b)
		}
	})
	// Both in every iteration, in turns, the items made outside the
	// timings (see pairedSetup).
	b.Run("paired", func(b *testing.B) {
		var pi, xi []*portstest.Item
		pairedSetup(b, "port", "pgx", func(portFirst bool) {
			first, second := benchItems(n), benchItems(n)
			if pi, xi = first, second; !portFirst {
				pi, xi = second, first
			}
		},
			func(b *testing.B) { portInsert(pi)(b) }, func(b *testing.B) { pgxInsert(xi)(b) })
	})
}
