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

	igate "github.com/portkit/portkit/internal/gate"
	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/ports"
)

// cacheShards is the number of independently locked parts of a Cache.
const cacheShards = 64

// Cache is an in-memory [ports.Cache] and [ports.Connector] (Name
// "fake-cache"), safe for concurrent use, that follows Redis (the
// reference backend, adapters/redis) wherever the port leaves a choice:
//
//   - TTLs have Redis' millisecond resolution: a positive TTL below 1ms
//     counts as 1ms, any positive time.Duration is accepted, and a key
//     set with TTL d at time t lives while the clock, in whole
//     milliseconds, is at most t+d (Redis expires a key once its time is
//     past the expiry, not at it);
//   - Incr is INCRBY: base-10 int64 values in canonical form only ("+1",
//     "01", "-0", " 1" are ErrInvalid), a missing key counts as 0 and is
//     then stored without expiry, an existing key keeps its TTL, overflow
//     is ErrInvalid and leaves the value;
//   - a value over [ports.MaxValueBytes], or a key whose length with the
//     prefix is over it, is ErrInvalid and stores nothing;
//   - an empty value is a value (Get returns it, not ErrNotFound).
//
// Values are copied in and out; TTLs follow the fake's [Clock]. Expired
// entries are dropped lazily, when a call meets them. [WithKeyPrefix] and
// [WithSharedStore] make several Caches clients of one store, as services
// sharing one Redis are.
type Cache struct {
	Faults

	name   string
	clock  Clock
	prefix string
	closed atomic.Bool
	store  *cacheStore
	in     *obs.Instr // the Cache's operations
	conn   *obs.Instr // Check and Close
}

// cacheStore holds the entries, which the Caches made with
// WithSharedStore share.
type cacheStore struct {
	clock   Clock // expiry is the store's business: one clock for its clients
	seed    maphash.Seed
	clients atomic.Int64 // Caches not closed; the last Close drops the entries
	shards  [cacheShards]cacheShard
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
	exp int64 // expiry in Unix milliseconds of the clock; 0 = none
}

var (
	_ ports.Cache     = (*Cache)(nil)
	_ ports.Connector = (*Cache)(nil)
)

// NewCache returns an empty in-memory cache. It honours [WithClock],
// [WithName], [WithKeyPrefix] and [WithSharedStore].
func NewCache(opts ...Option) *Cache {
	cfg := newConfig("fake-cache", opts)
	st := cfg.cache.shared
	if st == nil {
		st = &cacheStore{clock: cfg.clock, seed: maphash.MakeSeed()}
		for i := range st.shards {
			st.shards[i].m = make(map[string]cacheEntry)
		}
	}
	st.clients.Add(1)
	return &Cache{name: cfg.name, clock: st.clock, prefix: cfg.cache.prefix, store: st,
		in: cfg.instr(obs.PortCache, ""), conn: cfg.instr(obs.PortConnector, "")}
}

// Name returns "fake-cache" (or the name given with WithName).
func (c *Cache) Name() string { return c.name }

// Check returns nil unless the cache is closed, ctx is done, or a fault is
// injected.
func (c *Cache) Check(ctx context.Context) error {
	ctx, sp := c.conn.Start(ctx, obs.OpCheck)
	err := c.enter(ctx, "check")
	sp.End(err)
	return err
}

// Close makes every later call of c, a second Close included, return an
// error wrapping ports.ErrClosed; the last open Cache of a store drops
// every entry. A nil ctx is ErrInvalid and closes nothing.
func (c *Cache) Close(ctx context.Context) error {
	ctx, sp := c.conn.Start(ctx, obs.OpClose)
	err := c.close(ctx)
	sp.End(err)
	return err
}

func (c *Cache) close(ctx context.Context) error {
	if c.closed.Load() {
		return ports.NewError(c.name, "close", ports.ErrClosed, nil)
	}
	if ctx == nil {
		return ports.NewError(c.name, "close", ports.ErrInvalid, igate.ErrNilContext)
	}
	if c.closed.Swap(true) {
		return ports.NewError(c.name, "close", ports.ErrClosed, nil)
	}
	if c.store.clients.Add(-1) > 0 {
		return nil
	}
	for i := range c.store.shards {
		s := &c.store.shards[i]
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
	return &c.store.shards[maphash.String(c.store.seed, key)%cacheShards]
}

// key returns key as stored: with the prefix.
func (c *Cache) key(key string) string {
	if c.prefix == "" {
		return key
	}
	return c.prefix + key
}

func (c *Cache) invalid(op, detail string) error {
	return ports.NewError(c.name, op, ports.ErrInvalid, errors.New(detail))
}

// checkKey checks a key argument of op.
func (c *Cache) checkKey(op, key string) error {
	switch {
	case key == "":
		return c.invalid(op, "empty key")
	case len(key) > ports.MaxValueBytes-len(c.prefix):
		return c.invalid(op, "key over ports.MaxValueBytes (512 MiB, Redis' limit on a key)")
	}
	return nil
}

func (c *Cache) checkKeys(op string, keys []string) error {
	for _, k := range keys {
		if err := c.checkKey(op, k); err != nil {
			return err
		}
	}
	return nil
}

// nowMillis returns the clock in Unix milliseconds (Redis' resolution).
func (c *Cache) nowMillis() int64 { return c.clock.Now().UnixMilli() }

// live reports whether e has not expired, as Redis decides: while the
// clock is not past the expiry. It reads the clock only for an entry with
// a TTL.
func (c *Cache) live(e cacheEntry) bool { return e.exp == 0 || c.nowMillis() <= e.exp }

// expiry returns the expiry of an entry stored now with ttl (>= 0).
func (c *Cache) expiry(ttl time.Duration) int64 {
	if ttl == 0 {
		return 0
	}
	return c.nowMillis() + ttlMillis(ttl)
}

// ttlMillis converts a positive ttl to milliseconds, rounding up (a
// sub-millisecond TTL counts as 1ms), without overflow.
func ttlMillis(ttl time.Duration) int64 {
	ms := int64(ttl / time.Millisecond)
	if ttl%time.Millisecond != 0 {
		ms++
	}
	return ms
}

// Get returns a copy of the value under key, or an error wrapping
// ports.ErrNotFound.
//
// Get is the fake's hot path: its span starts in the entry check
// (gateStart), and ends at each return.
func (c *Cache) Get(ctx context.Context, key string) ([]byte, error) {
	_, sp, err := gateStart(ctx, &c.closed, &c.Faults, c.name, "get", c.in, obs.OpGet)
	if err != nil {
		return nil, err
	}
	if err := c.checkKey("get", key); err != nil {
		sp.End(err)
		return nil, err
	}
	var (
		s  *cacheShard
		e  cacheEntry
		ok bool
	)
	if c.prefix == "" {
		s = c.shard(key)
		s.mu.RLock()
		e, ok = s.m[key]
		s.mu.RUnlock()
	} else {
		// The prefixed key, without allocating it when it is short.
		var buf [128]byte
		b := append(append(buf[:0], c.prefix...), key...)
		s = &c.store.shards[maphash.Bytes(c.store.seed, b)%cacheShards]
		s.mu.RLock()
		e, ok = s.m[string(b)]
		s.mu.RUnlock()
	}
	if ok && c.live(e) {
		sp.End(nil)
		return copyOut(e.val), nil
	}
	if ok {
		s.dropExpired(c.key(key), e.exp)
	}
	err = ports.NewError(c.name, "get", ports.ErrNotFound, nil)
	sp.End(err)
	return nil, err
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

// GetMany returns copies of the values of the keys that exist. A key
// named twice is one entry of the map, as with Redis' MGET.
func (c *Cache) GetMany(ctx context.Context, keys ...string) (map[string][]byte, error) {
	ctx, sp := c.in.Start(ctx, obs.OpGetMany)
	v, err := c.doGetMany(ctx, keys...)
	if err == nil {
		sp.SetGetMany(keys, v)
	}
	sp.End(err)
	return v, err
}

func (c *Cache) doGetMany(ctx context.Context, keys ...string) (map[string][]byte, error) {
	if err := c.enter(ctx, "getmany"); err != nil {
		return nil, err
	}
	if err := c.checkKeys("getmany", keys); err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(keys))
	for _, k := range keys {
		sk := c.key(k)
		s := c.shard(sk)
		s.mu.RLock()
		e, ok := s.m[sk]
		s.mu.RUnlock()
		if ok && c.live(e) {
			out[k] = copyOut(e.val)
		}
	}
	return out, nil
}

// Set stores a copy of value under key with ttl (0 = no expiry).
func (c *Cache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	ctx, sp := c.in.Start(ctx, obs.OpSet)
	err := c.doSet(ctx, key, value, ttl)
	sp.End(err)
	return err
}

func (c *Cache) doSet(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := c.enter(ctx, "set"); err != nil {
		return err
	}
	if err := c.checkWrite("set", key, value, ttl); err != nil {
		return err
	}
	e := cacheEntry{val: append(make([]byte, 0, len(value)), value...), exp: c.expiry(ttl)}
	sk := c.key(key)
	s := c.shard(sk)
	s.mu.Lock()
	s.m[sk] = e
	s.mu.Unlock()
	return nil
}

// checkWrite checks the arguments of a Set or SetNX.
func (c *Cache) checkWrite(op, key string, value []byte, ttl time.Duration) error {
	if err := c.checkKey(op, key); err != nil {
		return err
	}
	if ttl < 0 {
		return c.invalid(op, "negative TTL "+ttl.String())
	}
	if len(value) > ports.MaxValueBytes {
		return c.invalid(op, "value over ports.MaxValueBytes (512 MiB, Redis' limit on a string)")
	}
	return nil
}

// SetNX stores a copy of value under key with ttl when key is absent (or
// expired) and reports whether it did. A present key keeps its value and
// TTL.
func (c *Cache) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	ctx, sp := c.in.Start(ctx, obs.OpSetNX)
	v, err := c.doSetNX(ctx, key, value, ttl)
	sp.End(err)
	return v, err
}

func (c *Cache) doSetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if err := c.enter(ctx, "setnx"); err != nil {
		return false, err
	}
	if err := c.checkWrite("setnx", key, value, ttl); err != nil {
		return false, err
	}
	sk := c.key(key)
	s := c.shard(sk)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[sk]; ok && c.live(e) {
		return false, nil
	}
	s.m[sk] = cacheEntry{val: append(make([]byte, 0, len(value)), value...), exp: c.expiry(ttl)}
	return true, nil
}

// Delete removes the keys; absent keys and keys named twice are no error.
func (c *Cache) Delete(ctx context.Context, keys ...string) error {
	ctx, sp := c.in.Start(ctx, obs.OpDelete)
	err := c.doDelete(ctx, keys...)
	sp.End(err)
	return err
}

func (c *Cache) doDelete(ctx context.Context, keys ...string) error {
	if err := c.enter(ctx, "delete"); err != nil {
		return err
	}
	if err := c.checkKeys("delete", keys); err != nil {
		return err
	}
	for _, k := range keys {
		sk := c.key(k)
		s := c.shard(sk)
		s.mu.Lock()
		delete(s.m, sk)
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
	ctx, sp := c.in.Start(ctx, obs.OpIncr)
	v, err := c.doIncr(ctx, key, delta)
	sp.End(err)
	return v, err
}

func (c *Cache) doIncr(ctx context.Context, key string, delta int64) (int64, error) {
	if err := c.enter(ctx, "incr"); err != nil {
		return 0, err
	}
	if err := c.checkKey("incr", key); err != nil {
		return 0, err
	}
	sk := c.key(key)
	s := c.shard(sk)
	s.mu.Lock()
	defer s.mu.Unlock()
	var cur, exp int64
	if e, ok := s.m[sk]; ok && c.live(e) {
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
	s.m[sk] = cacheEntry{val: strconv.AppendInt(nil, cur, 10), exp: exp}
	return cur, nil
}
