package bench

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/ports"
)

// BenchmarkFakeCacheGet compares a hit on portkit's in-memory Cache with a
// mutex-guarded map (the floor) and with miniredis through go-redis (the
// test double most Go projects use for Redis).
func BenchmarkFakeCacheGet(b *testing.B) {
	ctx := context.Background()
	value := []byte("a value of a typical size, some tens of bytes long")

	b.Run("fake", func(b *testing.B) {
		c := fakes.NewCache()
		defer c.Close(ctx)
		if err := c.Set(ctx, "key", value, 0); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if _, err := c.Get(ctx, "key"); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("map", func(b *testing.B) {
		var mu sync.RWMutex
		m := map[string][]byte{"key": value}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			mu.RLock()
			v, ok := m["key"]
			var out []byte
			if ok {
				out = append([]byte(nil), v...)
			}
			mu.RUnlock()
			if out == nil {
				b.Fatal("miss")
			}
		}
	})

	b.Run("miniredis", func(b *testing.B) {
		mr := miniredis.NewMiniRedis()
		if err := mr.Start(); err != nil {
			b.Fatal(err)
		}
		defer mr.Close()
		rdb := goredis.NewClient(&goredis.Options{Addr: mr.Addr()})
		defer rdb.Close()
		if err := rdb.Set(ctx, "key", value, 0).Err(); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if _, err := rdb.Get(ctx, "key").Bytes(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// fakeBenchRow is the SQL fake's benchmark model: a string column that sorts
// by the dialect's collation, a nullable number, gorm's times.
type fakeBenchRow struct {
	ID        int64
	Name      string `gorm:"size:64;index"`
	Qty       *int
	CreatedAt time.Time
	UpdatedAt time.Time
}

// newBenchSQL returns a fake SQL store of n rows on a DB of dialect d.
func newBenchSQL(b *testing.B, d fakes.Dialect, n int) *fakes.SQLStore[fakeBenchRow] {
	b.Helper()
	db := fakes.NewDB(fakes.WithDialect(d))
	b.Cleanup(func() { _ = db.Close(context.Background()) })
	s, err := fakes.NewSQLStore[fakeBenchRow](db)
	if err != nil {
		b.Fatal(err)
	}
	rows := make([]*fakeBenchRow, n)
	for i := range rows {
		q := i % 7
		rows[i] = &fakeBenchRow{Name: fmt.Sprintf("Name %c %05d", 'a'+rune(i%26), n-i), Qty: &q}
	}
	if err := s.CreateMany(context.Background(), rows); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkFakeSQL measures the SQL fake's calls on a 1 000-row table, on
// MySQL semantics (utf8mb4_general_ci weights for every string
// comparison) and on PostgreSQL's (bytewise), whose ratio is the price of
// the collation.
func BenchmarkFakeSQL(b *testing.B) {
	ctx := context.Background()
	for _, d := range []fakes.Dialect{fakes.MySQL, fakes.Postgres} {
		b.Run(string(d)+"/Get", func(b *testing.B) {
			s := newBenchSQL(b, d, 1000)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Get(ctx, int64(500)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(string(d)+"/FindOrderedByName", func(b *testing.B) {
			s := newBenchSQL(b, d, 1000)
			q := ports.Where("Qty", ports.Ne, 3).OrderBy("Name").Limit(50)
			b.ReportAllocs()
			for b.Loop() {
				if got, err := s.Find(ctx, q); err != nil || len(got) != 50 {
					b.Fatal(len(got), err)
				}
			}
		})
		b.Run(string(d)+"/FindPage", func(b *testing.B) {
			s := newBenchSQL(b, d, 1000)
			q := ports.All().OrderBy("Name").Limit(50)
			first, err := s.FindPage(ctx, q, "")
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.FindPage(ctx, q, first.Next); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(string(d)+"/Patch", func(b *testing.B) {
			s := newBenchSQL(b, d, 1000)
			p := ports.Inc("Qty", 1)
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Patch(ctx, int64(500), p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
