package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"

	"github.com/portkit/portkit/adapters/redis"
)

// redisValue is the value the Redis benchmarks read and write: a typical
// small cache entry.
var redisValue = []byte("a value of a typical size, some tens of bytes long")

// redisBench is what the Redis benchmarks share: a key of their own, set
// to redisValue, and the URL of the server.
type redisBench struct {
	ctx context.Context
	url string
	key string
}

// newRedisBench skips without REDIS_URL, and deletes the key when b ends.
func newRedisBench(b *testing.B) *redisBench {
	b.Helper()
	u := os.Getenv("REDIS_URL")
	if u == "" {
		b.Skip("redis backend unavailable: REDIS_URL is not set")
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	rb := &redisBench{ctx: context.Background(), url: u, key: "portkit-bench:" + hex.EncodeToString(rnd[:])}
	c := rb.port(b, 0)
	if err := c.Set(rb.ctx, rb.key, redisValue, 0); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if c, err := redis.Open(context.Background(), redis.Config{URL: u}, redis.WithLogger(quietLogger())); err == nil {
			_ = c.Delete(context.Background(), rb.key)
			_ = c.Close(context.Background())
		}
	})
	return rb
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// port opens the adapter, with client-side caching when cacheTTL > 0 and
// opts.
func (rb *redisBench) port(b *testing.B, cacheTTL time.Duration, opts ...redis.Option) *redis.Cache {
	b.Helper()
	opts = append([]redis.Option{redis.WithLogger(quietLogger())}, opts...)
	c, err := redis.Open(rb.ctx, redis.Config{URL: rb.url, ClientCacheTTL: cacheTTL, ClientCacheRequired: cacheTTL > 0}, opts...)
	if err != nil {
		b.Skipf("redis backend unavailable: %v", err)
	}
	b.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// rueidis opens a plain rueidis client with its defaults, as a user would.
func (rb *redisBench) rueidis(b *testing.B) rueidis.Client {
	b.Helper()
	opt, err := rueidis.ParseURL(rb.url)
	if err != nil {
		b.Fatal(err)
	}
	c, err := rueidis.NewClient(opt)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	return c
}

// goredis opens a go-redis client with its defaults.
func (rb *redisBench) goredis(b *testing.B) *goredis.Client {
	b.Helper()
	opt, err := goredis.ParseURL(rb.url)
	if err != nil {
		b.Fatal(err)
	}
	c := goredis.NewClient(opt)
	b.Cleanup(func() { _ = c.Close() })
	return c
}

// BenchmarkRedisGet: one GET of a present key, one goroutine: the port
// against raw rueidis (the floor: the port is that call plus argument
// checks) and go-redis.
func BenchmarkRedisGet(b *testing.B) {
	rb := newRedisBench(b)
	b.Run("port", func(b *testing.B) {
		c := rb.port(b, 0)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Get(rb.ctx, rb.key); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("port-prefix", func(b *testing.B) {
		// With a key prefix: the prefixed key is one allocation more.
		prefix, key, _ := strings.Cut(rb.key, ":")
		c := rb.port(b, 0, redis.WithKeyPrefix(prefix+":"))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Get(rb.ctx, key); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rueidis", func(b *testing.B) {
		c := rb.rueidis(b)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Do(rb.ctx, c.B().Get().Key(rb.key).Build()).AsBytes(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("goredis", func(b *testing.B) {
		c := rb.goredis(b)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Get(rb.ctx, rb.key).Bytes(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRedisSet: one SET without expiry, one goroutine.
func BenchmarkRedisSet(b *testing.B) {
	rb := newRedisBench(b)
	b.Run("port", func(b *testing.B) {
		c := rb.port(b, 0)
		b.ReportAllocs()
		for b.Loop() {
			if err := c.Set(rb.ctx, rb.key, redisValue, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rueidis", func(b *testing.B) {
		c := rb.rueidis(b)
		b.ReportAllocs()
		for b.Loop() {
			if err := c.Do(rb.ctx, c.B().Set().Key(rb.key).Value(rueidis.BinaryString(redisValue)).Build()).Error(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("goredis", func(b *testing.B) {
		c := rb.goredis(b)
		b.ReportAllocs()
		for b.Loop() {
			if err := c.Set(rb.ctx, rb.key, redisValue, 0).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRedisCachedGet: a GET served by server-assisted client-side
// caching (a local hit after the first call): the port against rueidis'
// DoCache. The port returns a copy of the cached bytes (callers may modify
// it); rueidis' AsBytes hands out the cached memory itself.
func BenchmarkRedisCachedGet(b *testing.B) {
	rb := newRedisBench(b)
	const ttl = time.Minute
	b.Run("port", func(b *testing.B) {
		c := rb.port(b, ttl)
		if _, err := c.Get(rb.ctx, rb.key); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Get(rb.ctx, rb.key); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rueidis", func(b *testing.B) {
		c := rb.rueidis(b)
		if err := c.DoCache(rb.ctx, c.B().Get().Key(rb.key).Cache(), ttl).Error(); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.DoCache(rb.ctx, c.B().Get().Key(rb.key).Cache(), ttl).AsBytes(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
