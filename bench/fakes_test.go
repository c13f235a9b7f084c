package bench

import (
	"context"
	"sync"
	"testing"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/portkit/portkit/fakes"
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
