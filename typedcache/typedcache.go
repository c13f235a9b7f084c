// Package typedcache is a typed view of a ports.Cache and a cache-aside
// loader over it.
//
// [Cache] stores values of a type T under string keys, encoded by a
// codec.Codec[T] (JSON by default): Get returns a T, Set takes one.
//
// [Loader] reads through the cache: a hit is served from it; concurrent
// misses of one key share a single call of the load function (the
// singleflight pattern), whose result is cached for the configured TTL;
// and, when configured with a MaxStale, a value past its TTL is served
// while one background call refreshes it (stale-while-revalidate), until
// it is MaxStale past its TTL. An unavailable cache degrades to calling the
// load function (logged), never to an error of its own.
package typedcache

import (
	"context"
	"errors"
	"time"

	"github.com/portkit/portkit/codec"
	"github.com/portkit/portkit/ports"
)

// Cache is a typed view of a ports.Cache: values of T under keys
// prefixed with the view's prefix. It is safe for concurrent use.
type Cache[T any] struct {
	cache  ports.Cache
	codec  codec.Codec[T]
	prefix string
}

// New returns the view of c for values of T encoded by cd
// (codec.JSON[T]() when nil), each key prefixed with prefix. It is
// ErrInvalid when c is nil.
func New[T any](c ports.Cache, cd codec.Codec[T], prefix string) (*Cache[T], error) {
	if c == nil {
		return nil, ports.NewError("typedcache", "new", ports.ErrInvalid, errors.New("nil ports.Cache"))
	}
	if cd == nil {
		cd = codec.JSON[T]()
	}
	return &Cache[T]{cache: c, codec: cd, prefix: prefix}, nil
}

// Get returns the value under key: ErrNotFound on a miss, the cache's
// error when it fails, and an error wrapping ErrInvalid and a
// *codec.DecodeError when the stored bytes do not decode as a T.
func (c *Cache[T]) Get(ctx context.Context, key string) (T, error) {
	var zero T
	b, err := c.cache.Get(ctx, c.prefix+key)
	if err != nil {
		return zero, err
	}
	v, err := c.codec.Unmarshal(b)
	if err != nil {
		return zero, ports.NewError("typedcache", "get", ports.ErrInvalid, err)
	}
	return v, nil
}

// Set stores v under key for ttl (0: no expiry), with the rules of
// ports.Cache.Set. A value that does not encode is ErrInvalid.
func (c *Cache[T]) Set(ctx context.Context, key string, v T, ttl time.Duration) error {
	b, err := c.codec.Marshal(v)
	if err != nil {
		return ports.NewError("typedcache", "set", ports.ErrInvalid, err)
	}
	return c.cache.Set(ctx, c.prefix+key, b, ttl)
}

// Delete removes the keys; absent keys are not an error.
func (c *Cache[T]) Delete(ctx context.Context, keys ...string) error {
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = c.prefix + k
	}
	return c.cache.Delete(ctx, full...)
}
