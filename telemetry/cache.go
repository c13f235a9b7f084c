package telemetry

import (
	"context"
	"time"

	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/ports"
)

// Cache returns c with a span and metrics per operation: spans cache.get,
// cache.get_many, cache.set, cache.set_nx, cache.delete and cache.incr,
// and the hits and misses of Get and GetMany. A nil c gives nil.
func Cache(c ports.Cache, opts ...Option) ports.Cache {
	if c == nil {
		return nil
	}
	return &cache{inner: c, in: newOptions(opts).instr(obs.PortCache, c)}
}

type cache struct {
	inner ports.Cache
	in    *obs.Instr
}

func (c *cache) Get(ctx context.Context, key string) ([]byte, error) {
	ctx, sp := c.in.Start(ctx, obs.OpGet)
	v, err := c.inner.Get(ctx, key)
	sp.End(err)
	return v, err
}

func (c *cache) GetMany(ctx context.Context, keys ...string) (map[string][]byte, error) {
	ctx, sp := c.in.Start(ctx, obs.OpGetMany)
	m, err := c.inner.GetMany(ctx, keys...)
	if err == nil {
		sp.SetGetMany(keys, m)
	}
	sp.End(err)
	return m, err
}

func (c *cache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	ctx, sp := c.in.Start(ctx, obs.OpSet)
	err := c.inner.Set(ctx, key, value, ttl)
	sp.End(err)
	return err
}

func (c *cache) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	ctx, sp := c.in.Start(ctx, obs.OpSetNX)
	ok, err := c.inner.SetNX(ctx, key, value, ttl)
	sp.End(err)
	return ok, err
}

func (c *cache) Delete(ctx context.Context, keys ...string) error {
	ctx, sp := c.in.Start(ctx, obs.OpDelete)
	err := c.inner.Delete(ctx, keys...)
	sp.End(err)
	return err
}

func (c *cache) Incr(ctx context.Context, key string, delta int64) (int64, error) {
	ctx, sp := c.in.Start(ctx, obs.OpIncr)
	n, err := c.inner.Incr(ctx, key, delta)
	sp.End(err)
	return n, err
}
