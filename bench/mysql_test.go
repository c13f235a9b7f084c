package bench

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gosqlmysql "github.com/go-sql-driver/mysql"
	gmysql "gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/portkit/portkit/adapters/mysql"
	"github.com/portkit/portkit/ports"
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
	table := "pk_my_bench_items_" + hex.EncodeToString(rnd[:])
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
		// gorm's own "no expiry" TTL: with any other its statement cache
		// starts a goroutine that never exits (as the adapter does).
		PrepareStmtMaxSize: 512,
		PrepareStmtTTL:     time.Hour * 24 * 365 * 10,
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

	sqlDB := openSQL(b, env.dsn)
	stmt, err := sqlDB.PrepareContext(env.ctx,
		"SELECT id, sku, name, qty, price, active, note, created_at FROM `"+env.table+"` WHERE id = ?")
	if err != nil {
		b.Fatal(err)
	}
	defer stmt.Close()
	sqlGet := func(i int) func(b *testing.B) {
		return func(b *testing.B) {
			var it portstest.Item
			if err := stmt.QueryRowContext(env.ctx, id(i)).Scan(
				&it.ID, &it.SKU, &it.Name, &it.Qty, &it.Price, &it.Active, &it.Note, &it.CreatedAt); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("sql-prepared", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			sqlGet(i)(b)
			i++
		}
	})
	// Both in every iteration, 100 calls each: the ratio that holds on a
	// loaded machine.
	b.Run("paired", func(b *testing.B) {
		i := 0
		paired(b, "port", "sql-prepared", func(b *testing.B) {
			for range 100 {
				if _, err := env.store.Get(env.ctx, id(i)); err != nil {
					b.Fatal(err)
				}
				i++
			}
		}, func(b *testing.B) {
			for range 100 {
				sqlGet(i)(b)
				i++
			}
		})
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

// scanItem is the database/sql side of the read benchmarks: the Item
// columns in order, scanned into it.
const itemColumns = "id, sku, name, qty, price, active, note, created_at"

func scanItem(rows *sql.Rows, it *portstest.Item) error {
	return rows.Scan(&it.ID, &it.SKU, &it.Name, &it.Qty, &it.Price, &it.Active, &it.Note, &it.CreatedAt)
}

// openSQL opens database/sql on dsn with parseTime.
func openSQL(b *testing.B, dsn string) *sql.DB {
	b.Helper()
	sqlDB, err := sql.Open("mysql", withParseTime(b, dsn))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sqlDB.Close() })
	return sqlDB
}

// fill inserts n Items into env's table: with MariaDB's sequence engine
// when the server has it (one INSERT … SELECT), else with CreateMany.
func (env *mysqlBench) fill(b *testing.B, n int) {
	b.Helper()
	g := env.db.DB()
	if g.Exec("SELECT 1 FROM seq_1_to_1").Error == nil {
		err := g.Exec(fmt.Sprintf("INSERT INTO `%s` (sku, name, qty, price, active, note, created_at) "+
			"SELECT CONCAT('sku-', LPAD(seq, 9, '0')), 'item name', seq %% 100, 9.5, seq %% 2, IF(seq %% 3 = 0, NULL, 'a note'), "+
			"TIMESTAMP('2024-01-02 03:04:05') + INTERVAL seq SECOND FROM seq_1_to_%d", env.table, n)).Error
		if err != nil {
			b.Fatal(err)
		}
		return
	}
	for done := 0; done < n; done += 10_000 {
		if err := env.store.CreateMany(env.ctx, benchItems(min(10_000, n-done))); err != nil {
			b.Fatal(err)
		}
	}
}

// paired runs a and b one after the other in every iteration (in turns,
// a first then b first), and reports the median time per op of each and
// their ratio (a/b): side by side in time, so that the load of a shared
// machine falls on both alike.
func paired(b *testing.B, nameA, nameB string, a, c func(b *testing.B)) {
	pairedSetup(b, nameA, nameB, nil, a, c)
}

// pairedSetup is paired with setup run before each pair, outside the
// timings (the rows an insert takes, say), told whether nameA runs first
// in the pair: what both sides insert into one table is made in the order
// they run, so that neither inserts below the keys the other has just
// added (a unique index grows at its right edge for the side that runs
// second only if its keys are the larger ones). Besides the wall times it
// reports the ratio of the medians of this process's CPU time per call
// (nameA/nameB-cpu): the client's own work, the servers' apart, which a
// loaded machine disturbs much less than the wall time.
func pairedSetup(b *testing.B, nameA, nameB string, setup func(aFirst bool), a, c func(b *testing.B)) {
	var da, dc, ca, cc []time.Duration
	timed := func(f func(b *testing.B), wall, cpu *[]time.Duration) {
		t, u := time.Now(), processCPU()
		f(b)
		*wall = append(*wall, time.Since(t))
		*cpu = append(*cpu, processCPU()-u)
	}
	for i := 0; b.Loop(); i++ {
		if setup != nil {
			b.StopTimer()
			setup(i%2 == 0)
			b.StartTimer()
		}
		if i%2 == 0 {
			timed(a, &da, &ca)
			timed(c, &dc, &cc)
		} else {
			timed(c, &dc, &cc)
			timed(a, &da, &ca)
		}
	}
	ma, mc := median(da), median(dc)
	b.ReportMetric(float64(ma.Nanoseconds()), nameA+"-ns/op")
	b.ReportMetric(float64(mc.Nanoseconds()), nameB+"-ns/op")
	if mc > 0 {
		b.ReportMetric(float64(ma)/float64(mc), nameA+"/"+nameB)
	}
	if u := median(cc); u > 0 {
		b.ReportMetric(float64(median(ca))/float64(u), nameA+"/"+nameB+"-cpu")
	}
}

// processCPU returns the CPU time this process has used (user and
// system, all goroutines).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// heapSampler records the largest live heap seen by sample.
type heapSampler struct{ peak uint64 }

func (h *heapSampler) sample() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	h.peak = max(h.peak, ms.HeapAlloc)
}

// BenchmarkMySQLFind100k reads 100 000 rows: the port's Find, and
// database/sql scanning the same columns into the same slice (text
// protocol, as db.Query without arguments sends; and prepared, the
// binary protocol the port's prepared statements use).
func BenchmarkMySQLFind100k(b *testing.B) {
	const n = 100_000
	env := newMySQLBench(b)
	env.fill(b, n)
	sqlDB := openSQL(b, env.dsn)
	query := "SELECT " + itemColumns + " FROM `" + env.table + "` ORDER BY id"
	check := func(b *testing.B, got int) {
		if got != n {
			b.Fatalf("%d rows, want %d", got, n)
		}
	}
	b.Run("port", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			items, err := env.store.Find(env.ctx, ports.All())
			if err != nil {
				b.Fatal(err)
			}
			check(b, len(items))
		}
	})
	raw := func(b *testing.B, q func() (*sql.Rows, error)) {
		b.ReportAllocs()
		for b.Loop() {
			rows, err := q()
			if err != nil {
				b.Fatal(err)
			}
			out := make([]portstest.Item, 0)
			for rows.Next() {
				var it portstest.Item
				if err := scanItem(rows, &it); err != nil {
					b.Fatal(err)
				}
				out = append(out, it)
			}
			if err := rows.Close(); err != nil {
				b.Fatal(err)
			}
			check(b, len(out))
		}
	}
	b.Run("sql-raw", func(b *testing.B) {
		raw(b, func() (*sql.Rows, error) { return sqlDB.QueryContext(env.ctx, query) })
	})
	stmt, err := sqlDB.PrepareContext(env.ctx, query+" LIMIT ?")
	if err != nil {
		b.Fatal(err)
	}
	defer stmt.Close()
	b.Run("sql-prepared", func(b *testing.B) {
		raw(b, func() (*sql.Rows, error) { return stmt.QueryContext(env.ctx, math.MaxInt64) })
	})
	port := func(b *testing.B) {
		items, err := env.store.Find(env.ctx, ports.All())
		if err != nil {
			b.Fatal(err)
		}
		check(b, len(items))
	}
	collect := func(q func() (*sql.Rows, error)) func(b *testing.B) {
		return func(b *testing.B) {
			rows, err := q()
			if err != nil {
				b.Fatal(err)
			}
			out := make([]portstest.Item, 0)
			for rows.Next() {
				var it portstest.Item
				if err := scanItem(rows, &it); err != nil {
					b.Fatal(err)
				}
				out = append(out, it)
			}
			if err := rows.Close(); err != nil {
				b.Fatal(err)
			}
			check(b, len(out))
		}
	}
	b.Run("paired-raw", func(b *testing.B) {
		paired(b, "port", "sql-raw", port, collect(func() (*sql.Rows, error) { return sqlDB.QueryContext(env.ctx, query) }))
	})
	b.Run("paired-prepared", func(b *testing.B) {
		paired(b, "port", "sql-prepared", port, collect(func() (*sql.Rows, error) { return stmt.QueryContext(env.ctx, math.MaxInt64) }))
	})
}

// BenchmarkMySQLMillion runs on one table of 1 000 000 rows (built once,
// dropped at the end):
//
//   - Stream: the port's Stream and Find of every row, and the
//     database/sql rows loop, each reporting its peak live heap
//     (peak-heap-MiB; Stream must stay under 32 MiB while Find holds the
//     result);
//   - Page: pages of 50 rows in primary key order, page 1 and page 1000,
//     by keyset (FindPage with the cursor of page 999), and by Offset
//     beside them.
func BenchmarkMySQLMillion(b *testing.B) {
	const n = 1_000_000
	env := newMySQLBench(b)
	env.fill(b, n)
	sqlDB := openSQL(b, env.dsn)

	peak := func(b *testing.B, run func(h *heapSampler) int) {
		b.ReportAllocs()
		var worst uint64
		for b.Loop() {
			runtime.GC()
			h := &heapSampler{}
			h.sample()
			if got := run(h); got != n {
				b.Fatalf("%d rows, want %d", got, n)
			}
			h.sample()
			worst = max(worst, h.peak)
		}
		b.ReportMetric(float64(worst)/(1<<20), "peak-heap-MiB")
	}
	b.Run("Stream/port", func(b *testing.B) {
		peak(b, func(h *heapSampler) int {
			rows := 0
			for _, err := range env.store.Stream(env.ctx, ports.All()) {
				if err != nil {
					b.Fatal(err)
				}
				if rows++; rows%50_000 == 0 {
					h.sample()
				}
			}
			return rows
		})
	})
	b.Run("Stream/sql-raw", func(b *testing.B) {
		peak(b, func(h *heapSampler) int {
			rs, err := sqlDB.QueryContext(env.ctx, "SELECT "+itemColumns+" FROM `"+env.table+"` ORDER BY id")
			if err != nil {
				b.Fatal(err)
			}
			defer rs.Close()
			rows := 0
			for rs.Next() {
				var it portstest.Item
				if err := scanItem(rs, &it); err != nil {
					b.Fatal(err)
				}
				if rows++; rows%50_000 == 0 {
					h.sample()
				}
			}
			if err := rs.Err(); err != nil {
				b.Fatal(err)
			}
			return rows
		})
	})
	b.Run("Stream/find-port", func(b *testing.B) {
		peak(b, func(h *heapSampler) int {
			items, err := env.store.Find(env.ctx, ports.All())
			if err != nil {
				b.Fatal(err)
			}
			h.sample()
			return len(items)
		})
	})

	b.Run("Stream/paired", func(b *testing.B) {
		paired(b, "port", "sql-raw", func(b *testing.B) {
			rows := 0
			for _, err := range env.store.Stream(env.ctx, ports.All()) {
				if err != nil {
					b.Fatal(err)
				}
				rows++
			}
			if rows != n {
				b.Fatalf("%d rows", rows)
			}
		}, func(b *testing.B) {
			rs, err := sqlDB.QueryContext(env.ctx, "SELECT "+itemColumns+" FROM `"+env.table+"` ORDER BY id")
			if err != nil {
				b.Fatal(err)
			}
			defer rs.Close()
			for rs.Next() {
				var it portstest.Item
				if err := scanItem(rs, &it); err != nil {
					b.Fatal(err)
				}
			}
			if err := rs.Err(); err != nil {
				b.Fatal(err)
			}
		})
	})

	const pageSize = 50
	for _, order := range []string{"ID"} {
		q := ports.All().OrderBy(order).Limit(pageSize)
		// The cursor of page 1000 is the one FindPage hands back after
		// row 49 950 of the order.
		last, err := env.store.Find(env.ctx, ports.All().OrderBy(order).Offset(999*pageSize-1).Limit(1))
		if err != nil || len(last) != 1 {
			b.Fatal(last, err)
		}
		ps, err := ports.SchemaOf[portstest.Item]()
		if err != nil {
			b.Fatal(err)
		}
		cursor, err := ps.EncodeCursor(q, "ID", &last[0])
		if err != nil {
			b.Fatal(err)
		}
		page := func(cursor string, want int64) func(b *testing.B) {
			return func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					p, err := env.store.FindPage(env.ctx, q, cursor)
					if err != nil || len(p.Items) != pageSize {
						b.Fatal(len(p.Items), err)
					}
					if want != 0 && p.Items[0].ID != want {
						b.Fatalf("page starts at %d, want %d", p.Items[0].ID, want)
					}
				}
			}
		}
		b.Run("Page/"+order+"/keyset-page1", page("", 0))
		b.Run("Page/"+order+"/keyset-page1000", page(cursor, 0))
		offset := func(b *testing.B) {
			items, err := env.store.Find(env.ctx, ports.All().OrderBy(order).Offset(999*pageSize).Limit(pageSize))
			if err != nil || len(items) != pageSize {
				b.Fatal(len(items), err)
			}
		}
		b.Run("Page/"+order+"/offset-page1000", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				offset(b)
			}
		})
		pages := func(cursor string) func(b *testing.B) {
			return func(b *testing.B) {
				for range 10 {
					if p, err := env.store.FindPage(env.ctx, q, cursor); err != nil || len(p.Items) != pageSize {
						b.Fatal(len(p.Items), err)
					}
				}
			}
		}
		b.Run("Page/"+order+"/paired-keyset", func(b *testing.B) {
			paired(b, "keyset-page1000", "keyset-page1", pages(cursor), pages(""))
		})
		b.Run("Page/"+order+"/paired-offset", func(b *testing.B) {
			paired(b, "offset-page1000", "keyset-page1", func(b *testing.B) {
				for range 10 {
					offset(b)
				}
			}, pages(""))
		})
	}
}

// benchRow and benchVRow are the same row, without and with a version.
type (
	benchRow struct {
		ID        int64
		Name      string `gorm:"size:64"`
		Qty       int
		Price     float64
		UpdatedAt time.Time
	}
	benchVRow struct {
		ID        int64
		Name      string `gorm:"size:64"`
		Qty       int
		Price     float64
		UpdatedAt time.Time
		Version   ports.Version
	}
)

// BenchmarkMySQLUpdate updates one of 1000 rows by primary key: the
// plain Update (last writer wins), and the optimistic one of a model
// with a ports.Version (WHERE version = ?, version + 1).
func BenchmarkMySQLUpdate(b *testing.B) {
	env := newMySQLBench(b)
	const rows = 1000
	plain, err := mysql.NewStore[benchRow](env.db, mysql.WithTable(env.table+"_plain"))
	if err != nil {
		b.Fatal(err)
	}
	versioned, err := mysql.NewStore[benchVRow](env.db, mysql.WithTable(env.table+"_versioned"))
	if err != nil {
		b.Fatal(err)
	}
	for _, m := range []interface {
		Migrate(context.Context) error
		Table() string
	}{plain, versioned} {
		if err := m.Migrate(env.ctx); err != nil {
			b.Fatal(err)
		}
		table := m.Table()
		b.Cleanup(func() { _ = env.db.DB().Migrator().DropTable(table) })
	}
	ps := make([]*benchRow, rows)
	vs := make([]*benchVRow, rows)
	for i := range ps {
		ps[i] = &benchRow{Name: "row", Qty: i}
		vs[i] = &benchVRow{Name: "row", Qty: i}
	}
	if err := plain.CreateMany(env.ctx, ps); err != nil {
		b.Fatal(err)
	}
	if err := versioned.CreateMany(env.ctx, vs); err != nil {
		b.Fatal(err)
	}
	b.Run("plain", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			r := ps[i%rows]
			r.Qty++
			if err := plain.Update(env.ctx, r); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("optimistic", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			r := vs[i%rows]
			r.Qty++
			if err := versioned.Update(env.ctx, r); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("paired", func(b *testing.B) {
		i, j := 0, 0
		paired(b, "optimistic", "plain", func(b *testing.B) {
			for range 20 {
				r := vs[i%rows]
				r.Qty++
				if err := versioned.Update(env.ctx, r); err != nil {
					b.Fatal(err)
				}
				i++
			}
		}, func(b *testing.B) {
			for range 20 {
				r := ps[j%rows]
				r.Qty++
				if err := plain.Update(env.ctx, r); err != nil {
					b.Fatal(err)
				}
				j++
			}
		})
	})
}
