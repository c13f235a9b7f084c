package bench

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	gosqlmysql "github.com/go-sql-driver/mysql"
	gmysql "gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/portkit/portkit/adapters/mysql"
	"github.com/portkit/portkit/ports/portstest"
)

// mysqlRows is the size of the table BenchmarkMySQLGet reads from.
const mysqlRows = 10_000

// mysqlBatch is the batch size of every batched insert variant (the
// adapter's default).
const mysqlBatch = mysql.DefaultBatchSize

// mysqlBench is what the MySQL benchmarks share: the port over a table of
// its own, and plain gorm and database/sql on the same server.
type mysqlBench struct {
	ctx   context.Context
	dsn   string
	db    *mysql.DB
	table string
	store *mysql.Store[portstest.Item]
}

// newMySQLBench opens the adapter and creates a fresh Item table, dropped
// when b ends. It skips without MYSQL_DSN.
func newMySQLBench(b *testing.B) *mysqlBench {
	b.Helper()
	dsn := os.Getenv("MYSQL_DSN")
	if dsn == "" {
		b.Skip("mysql backend unavailable: MYSQL_DSN is not set")
	}
	ctx := context.Background()
	db, err := mysql.Open(ctx, mysql.Config{DSN: dsn}, mysql.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		b.Skipf("mysql backend unavailable: %v", err)
	}
	b.Cleanup(func() { _ = db.Close(context.Background()) })
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	table := "bench_items_" + hex.EncodeToString(rnd[:])
	store, err := mysql.NewStore[portstest.Item](db, mysql.WithTable(table))
	if err != nil {
		b.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.DB().Migrator().DropTable(table) })
	return &mysqlBench{ctx: ctx, dsn: dsn, db: db, table: table, store: store}
}

// benchSeq makes SKUs unique across every insert of a run.
var benchSeq atomic.Int64

// benchItems returns n new Items with unique SKUs.
func benchItems(n int) []*portstest.Item {
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	items := make([]*portstest.Item, n)
	for i := range items {
		k := benchSeq.Add(1)
		items[i] = &portstest.Item{
			SKU: fmt.Sprintf("sku-%09d", k), Name: "item name", Qty: int(k % 100),
			Price: 9.5, Active: k%2 == 0, CreatedAt: t0.Add(time.Duration(k) * time.Second),
		}
	}
	return items
}

// openGorm opens plain gorm on dsn, as its documentation shows, with
// logging off (as in the port's benchmark, where nothing is slow).
func openGorm(b *testing.B, dsn string, prepared bool) *gorm.DB {
	b.Helper()
	g, err := gorm.Open(gmysql.Open(withParseTime(b, dsn)), &gorm.Config{
		Logger:      logger.Discard,
		PrepareStmt: prepared,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if sqlDB, err := g.DB(); err == nil {
			_ = sqlDB.Close()
		}
	})
	return g
}

// withParseTime returns dsn with parseTime=true, which scanning
// time.Time needs.
func withParseTime(b *testing.B, dsn string) string {
	b.Helper()
	cfg, err := gosqlmysql.ParseDSN(dsn)
	if err != nil {
		b.Fatal(err)
	}
	cfg.ParseTime = true
	return cfg.FormatDSN()
}

// BenchmarkMySQLGet is a point select by primary key on a 10k-row table:
// the port (mysql.Store.Get), gorm as documented (First, unprepared),
// gorm with PrepareStmt, and a prepared database/sql statement scanning
// the same columns (the floor).
func BenchmarkMySQLGet(b *testing.B) {
	env := newMySQLBench(b)
	if err := env.store.CreateMany(env.ctx, benchItems(mysqlRows)); err != nil {
		b.Fatal(err)
	}
	var minID int64
	if err := env.db.DB().Table(env.table).Select("MIN(id)").Scan(&minID).Error; err != nil {
		b.Fatal(err)
	}
	id := func(i int) int64 { return minID + int64(i%mysqlRows) }

	b.Run("port", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := env.store.Get(env.ctx, id(i)); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})

	gormGet := func(prepared bool) func(b *testing.B) {
		return func(b *testing.B) {
			g := openGorm(b, env.dsn, prepared)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				var it portstest.Item
				if err := g.Table(env.table).First(&it, id(i)).Error; err != nil {
					b.Fatal(err)
				}
				i++
			}
		}
	}
	b.Run("gorm", gormGet(false))
	b.Run("gorm-prepared", gormGet(true))

	b.Run("sql-prepared", func(b *testing.B) {
		sqlDB, err := sql.Open("mysql", withParseTime(b, env.dsn))
		if err != nil {
			b.Fatal(err)
		}
		defer sqlDB.Close()
		stmt, err := sqlDB.PrepareContext(env.ctx,
			"SELECT id, sku, name, qty, price, active, note, created_at FROM `"+env.table+"` WHERE id = ?")
		if err != nil {
			b.Fatal(err)
		}
		defer stmt.Close()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			var it portstest.Item
			if err := stmt.QueryRowContext(env.ctx, id(i)).Scan(
				&it.ID, &it.SKU, &it.Name, &it.Qty, &it.Price, &it.Active, &it.Note, &it.CreatedAt); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkMySQLInsert1000 inserts 1000 new rows per operation: the port
// (mysql.Store.CreateMany), gorm's CreateInBatches with the same batch
// size, and gorm's Create row by row (what a loop over Create costs).
// Every variant writes to a table of its own.
func BenchmarkMySQLInsert1000(b *testing.B) {
	const n = 1000

	b.Run("port", func(b *testing.B) {
		env := newMySQLBench(b)
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			items := benchItems(n)
			b.StartTimer()
			if err := env.store.CreateMany(env.ctx, items); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("gorm-batches", func(b *testing.B) {
		env := newMySQLBench(b)
		g := openGorm(b, env.dsn, false)
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			items := benchItems(n)
			b.StartTimer()
			if err := g.Table(env.table).CreateInBatches(items, mysqlBatch).Error; err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("gorm-one-by-one", func(b *testing.B) {
		env := newMySQLBench(b)
		g := openGorm(b, env.dsn, false)
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			items := benchItems(n)
			b.StartTimer()
			for _, it := range items {
				if err := g.Table(env.table).Create(it).Error; err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
