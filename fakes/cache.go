package fakes

import (
	"context"
	"errors"
	"hash/maphash"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portkit/portkit/ports"
)

// cacheShards is the number of independently locked parts of a Cache.
const cacheShards = 64

// Cache is an in-memory [ports.Cache] and [ports.Connector] (Name
// "fake-cache"), safe for concurrent use. Values are copied in and out; TTLs
// follow the fake's [Clock]; Incr follows Redis (base-10 int64 values, a
// missing key counts as 0, the TTL is kept, overflow is an error).
//
// Expired entries are dropped lazily, when a call meets them.
type Cache struct {
	Faults

	name   string
	clock  Clock
	seed   maphash.Seed
	closed atomic.Bool
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[string]cacheEntry
	_  [32]byte // keeps neighbouring shards' locks off one cache line
}

// cacheEntry is a stored value. val is never modified after it is stored,
// so readers may copy it after releasing the lock.
type cacheEntry struct {
	val []byte
	exp int64 // expiry in Unix nanoseconds of the clock; 0 = none
}

var (
	_ ports.Cache     = (*Cache)(nil)
	_ ports.Connector = (*Cache)(nil)
)

// NewCache returns an empty in-memory cache. It honours [WithClock] and
// [WithName].
func NewCache(opts ...Option) *Cache {
	cfg := newConfig("fake-cache", opts)
	c := &Cache{name: cfg.name, clock: cfg.clock, seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = make(map[string]cacheEntry)
	}
	return c
}

// Name returns "fake-cache" (or the name given with WithName).
func (c *Cache) Name() string { return c.name }

// Check returns nil unless the cache is closed, ctx is done, or a fault is
// injected.
func (c *Cache) Check(ctx context.Context) error { return c.enter(ctx, "check") }

// Close drops every entry. Every later call, a second Close included,
// returns an error wrapping ports.ErrClosed.
func (c *Cache) Close(context.Context) error {
	if c.closed.Swap(true) {
		return ports.NewError(c.name, "close", ports.ErrClosed, nil)
	}
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		clear(s.m)
		s.mu.Unlock()
	}
	return nil
}

func (c *Cache) enter(ctx context.Context, op string) error {
	return gate(ctx, &c.closed, &c.Faults, c.name, op)
}

func (c *Cache) shard(key string) *cacheShard {
	return &c.shards[maphash.String(c.seed, key)%cacheShards]
}

func (c *Cache) invalid(op, detail string) error {
	return ports.NewError(c.name, op, ports.ErrInvalid, errors.New(detail))
}

// now returns the clock in Unix nanoseconds.
func (c *Cache) now() int64 { return c.clock.Now().UnixNano() }

// live reports whether e has not expired; it reads the clock only for an
// entry with a TTL.
func (c *Cache) live(e cacheEntry) bool { return e.exp == 0 || e.exp > c.now() }

func (c *Cache) expiry(ttl time.Duration) int64 {
	if ttl == 0 {
		return 0
	}
	return c.clock.Now().Add(ttl).UnixNano()
}

// Get returns a copy of the value under key, or an error wrapping
// ports.ErrNotFound.
func (c *Cache) Get(ctx context.Context, key string) ([]byte, error) {
	if err := c.enter(ctx, "get"); err != nil {
		return nil, err
	}
	if key == "" {
		return nil, c.invalid("get", "empty key")
	}
	s := c.shard(key)
	s.mu.RLock()
	e, ok := s.m[key]
	s.mu.RUnlock()
	if ok && c.live(e) {
		return copyOut(e.val), nil
	}
	if ok {
		s.dropExpired(key, e.exp)
	}
	return nil, ports.NewError(c.name, "get", ports.ErrNotFound, nil)
}

// copyOut returns a copy of v: one allocation, without append's growth
// logic (an empty value needs none).
func copyOut(v []byte) []byte {
	out := make([]byte, len(v))
	copy(out, v)
	return out
}

// dropExpired deletes key if it still holds the expired entry seen.
func (s *cacheShard) dropExpired(key string, exp int64) {
	s.mu.Lock()
	if e, ok := s.m[key]; ok && e.exp == exp {
		delete(s.m, key)
	}
	s.mu.Unlock()
}

// GetMany returns copies of the values of the keys that exist.
func (c *Cache) GetMany(ctx context.Context, keys ...string) (map[string][]byte, error) {
	if err := c.enter(ctx, "get many"); err != nil {
		return nil, err
	}
	for _, k := range keys {
		if k == "" {
			return nil, c.invalid("get many", "empty key")
		}
	}
	out := make(map[string][]byte, len(keys))
	for _, k := range keys {
		s := c.shard(k)
		s.mu.RLock()
		e, ok := s.m[k]
		s.mu.RUnlock()
		if ok && c.live(e) {
			out[k] = copyOut(e.val)
		}
	}
	return out, nil
}

// Set stores a copy of value under key with ttl (0 = no expiry).
func (c *Cache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := c.enter(ctx, "set"); err != nil {
		return err
	}
	if err := c.checkWrite("set", key, ttl); err != nil {
		return err
	}
	e := cacheEntry{val: append(make([]byte, 0, len(value)), value...), exp: c.expiry(ttl)}
	s := c.shard(key)
	s.mu.Lock()
	s.m[key] = e
	s.mu.Unlock()
	return nil
}

func (c *Cache) checkWrite(op, key string, ttl time.Duration) error {
	if key == "" {
		return c.invalid(op, "empty key")
	}
	if ttl < 0 {
		return c.invalid(op, "negative TTL "+ttl.String())
	}
	return nil
}

// SetNX stores a copy of value under key with ttl when key is absent (or
// expired) and reports whether it did.
func (c *Cache) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if err := c.enter(ctx, "setnx"); err != nil {
		return false, err
	}
	if err := c.checkWrite("setnx", key, ttl); err != nil {
		return false, err
	}
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[key]; ok && c.live(e) {
		return false, nil
	}
	s.m[key] = cacheEntry{val: append(make([]byte, 0, len(value)), value...), exp: c.expiry(ttl)}
	return true, nil
}

// Delete removes the keys; absent keys are ignored.
func (c *Cache) Delete(ctx context.Context, keys ...string) error {
	if err := c.enter(ctx, "delete"); err != nil {
		return err
	}
	for _, k := range keys {
		if k == "" {
			return c.invalid("delete", "empty key")
		}
	}
	for _, k := range keys {
		s := c.shard(k)
		s.mu.Lock()
		delete(s.m, k)
		s.mu.Unlock()
	}
	return nil
}

// Incr adds delta to the base-10 int64 under key, as Redis INCRBY does: a
// missing key counts as 0 and is then stored without expiry, an existing
// key keeps its TTL. A value that is not the canonical decimal form of an
// int64, or a result that overflows, is an error wrapping ports.ErrInvalid
// and leaves the value as it was.
func (c *Cache) Incr(ctx context.Context, key string, delta int64) (int64, error) {
	if err := c.enter(ctx, "incr"); err != nil {
		return 0, err
	}
	if key == "" {
		return 0, c.invalid("incr", "empty key")
	}
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	var cur, exp int64
	if e, ok := s.m[key]; ok && c.live(e) {
		n, err := strconv.ParseInt(string(e.val), 10, 64)
		// Redis accepts only the canonical form: no sign "+", no leading
		// zeros or spaces.
		if err != nil || strconv.FormatInt(n, 10) != string(e.val) {
			return 0, c.invalid("incr", "value is not an integer or out of range")
		}
		cur, exp = n, e.exp
	}
	if (delta > 0 && cur > math.MaxInt64-delta) || (delta < 0 && cur < math.MinInt64-delta) {
		return 0, c.invalid("incr", "increment or decrement would overflow")
	}
	cur += delta
	s.m[key] = cacheEntry{val: strconv.AppendInt(nil, cur, 10), exp: exp}
	return cur, nil
}
