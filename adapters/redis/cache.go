package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/portkit/portkit/ports"
)

// maxRetries bounds rueidis' retries of read-only commands on a network
// error; without a bound rueidis retries until the context ends, so a Get
// with context.Background would hang for as long as the server is down.
const maxRetries = 3

// Cache is a ports.Cache and ports.Connector over a rueidis client. It is
// safe for concurrent use. Create it with [Open].
type Cache struct {
	client       rueidis.Client
	redactedURL  string        // the Cache keeps no password
	cacheTTL     time.Duration // > 0: Get and GetMany use the client-side cache
	checkTimeout time.Duration
	log          *slog.Logger

	// Calls in flight: Close closes the rueidis client only once they
	// have returned. (rueidis connects to a node lazily; a connection it
	// finishes dialing after Close would stay open.)
	inflight  atomic.Int64
	closed    atomic.Bool
	drainOnce sync.Once
	drained   chan struct{} // closed when closed is set and inflight is 0
	closeOnce sync.Once
	closeDone chan struct{} // closed when the rueidis client is closed
}

var (
	_ ports.Cache     = (*Cache)(nil)
	_ ports.Connector = (*Cache)(nil)
)

// Option customises [Open].
type Option func(*options)

type options struct {
	logger *slog.Logger
	tune   []func(*rueidis.ClientOption)
}

// WithLogger sets the logger Open and Close report to (default
// slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithClientOption lets fn adjust the rueidis options Open derived from
// the Config (pool sizes, CacheSizeEachConn, TLS settings...) before the
// client is created. Setting DisableCache turns client-side caching off.
func WithClientOption(fn func(*rueidis.ClientOption)) Option {
	return func(o *options) {
		if fn != nil {
			o.tune = append(o.tune, fn)
		}
	}
}

// Open connects to the server(s) of cfg.URL and PINGs within
// cfg.DialTimeout (and ctx), logs the outcome through slog with the URL
// redacted, and returns the Cache.
//
// With cfg.ClientCacheTTL set, Open turns on server-assisted client-side
// caching; when the server cannot track keys it logs one warning and
// continues without it, or fails with ErrInvalid when
// cfg.ClientCacheRequired is set. A server that cannot be reached is
// ErrUnavailable; an invalid cfg is ErrInvalid.
func Open(ctx context.Context, cfg Config, opts ...Option) (*Cache, error) {
	o := options{logger: slog.Default()}
	for _, fn := range opts {
		fn(&o)
	}
	log := o.logger.With(slog.String("backend", backend), slog.String("url", cfg.RedactedURL()))

	copt, err := cfg.clientOption()
	if err != nil {
		log.Error("redis: invalid configuration", slog.Any("err", err))
		return nil, err
	}
	copt.RetryDelay = retryDelay
	if !copt.DisableCache {
		// One connection per node, so that a write and the invalidation
		// it triggers travel on the connection whose local cache holds
		// the key (see doWrite).
		copt.PipelineMultiplex = -1
	}
	for _, fn := range o.tune {
		fn(&copt)
	}

	openCtx, cancel := context.WithTimeout(ctx, cfg.dialTimeout())
	defer cancel()
	// rueidis connects with context.Background and its own timeouts; the
	// gate makes the connections made during Open (dial, TLS and the
	// HELLO handshake) also end with openCtx. It is lifted before Open
	// returns, so later reconnections do not depend on ctx.
	gate := &openGate{ctx: openCtx}
	defer gate.lift()
	copt.DialCtxFn = gate.dial(copt.DialCtxFn)

	cacheOn := !copt.DisableCache
	client, err := rueidis.NewClient(copt)
	if err != nil && cacheOn && errors.Is(err, rueidis.ErrNoCache) {
		if cfg.ClientCacheRequired {
			err = ports.NewError(backend, "open", ports.ErrInvalid, fmt.Errorf(
				"client-side caching is required (%s) but the server does not support RESP3 CLIENT TRACKING: %w",
				EnvClientCacheRequired, err))
			log.Error("redis: connect failed", slog.Any("err", err))
			return nil, err
		}
		log.Warn("redis: server does not support client-side caching (RESP3 CLIENT TRACKING); continuing without a local cache")
		copt.DisableCache, cacheOn = true, false
		client, err = rueidis.NewClient(copt)
	}
	if err == nil {
		err = client.Do(openCtx, client.B().Ping().Build()).Error()
		gate.lift()
		if err == nil && openCtx.Err() != nil {
			// openCtx ended while the gate was up: a connection may have
			// been cut.
			err = context.Cause(openCtx)
		}
		if err != nil {
			client.Close()
		}
	}
	if err != nil {
		if openCtx.Err() != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			err = fmt.Errorf("%w (%w)", context.Cause(openCtx), err)
		}
		kind := ports.ErrUnavailable
		if re, ok := rueidis.IsRedisErr(err); ok {
			kind = serverErrorKind(re.Error())
		}
		err = ports.NewError(backend, "open", kind, err)
		log.Error("redis: connect failed", slog.Any("err", err))
		return nil, err
	}

	c := &Cache{
		client:       client,
		redactedURL:  cfg.RedactedURL(),
		checkTimeout: cfg.checkTimeout(),
		log:          log,
		drained:      make(chan struct{}),
		closeDone:    make(chan struct{}),
	}
	if cacheOn {
		c.cacheTTL = cfg.ClientCacheTTL
	}
	log.Info("redis: connected",
		slog.String("mode", string(client.Mode())),
		slog.Int("nodes", len(client.Nodes())),
		slog.Bool("client_cache", cacheOn),
		slog.Duration("client_cache_ttl", c.cacheTTL))
	return c, nil
}

// openGate bounds the connections rueidis makes during Open by Open's
// context: their dial, and their handshake (through a deadline in the past
// set on the connection when the context ends).
type openGate struct {
	mu    sync.Mutex
	ctx   context.Context // nil once lifted
	stops []func() bool
}

// dial wraps inner (rueidis' default dial when nil).
func (g *openGate) dial(inner func(context.Context, string, *net.Dialer, *tls.Config) (net.Conn, error)) func(context.Context, string, *net.Dialer, *tls.Config) (net.Conn, error) {
	if inner == nil {
		inner = defaultDial
	}
	return func(ctx context.Context, dst string, d *net.Dialer, tc *tls.Config) (net.Conn, error) {
		g.mu.Lock()
		outer := g.ctx
		g.mu.Unlock()
		if outer == nil {
			return inner(ctx, dst, d, tc)
		}
		if outer.Err() != nil {
			return nil, context.Cause(outer)
		}
		dctx, cancel := context.WithCancelCause(ctx)
		stopDial := context.AfterFunc(outer, func() { cancel(context.Cause(outer)) })
		conn, err := inner(dctx, dst, d, tc)
		stopDial()
		cancel(nil)
		if err != nil {
			return nil, err
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.ctx != nil {
			g.stops = append(g.stops, context.AfterFunc(outer, func() { _ = conn.SetDeadline(time.Unix(1, 0)) }))
		}
		return conn, nil
	}
}

// lift ends the gate: connections are no longer tied to Open's context.
func (g *openGate) lift() {
	g.mu.Lock()
	stops := g.stops
	g.ctx, g.stops = nil, nil
	g.mu.Unlock()
	for _, stop := range stops {
		stop()
	}
}

// defaultDial is what rueidis does without a DialCtxFn.
func defaultDial(ctx context.Context, dst string, d *net.Dialer, tc *tls.Config) (net.Conn, error) {
	if tc != nil {
		td := tls.Dialer{NetDialer: d, Config: tc}
		return td.DialContext(ctx, "tcp", dst)
	}
	return d.DialContext(ctx, "tcp", dst)
}

// retryDelay retries read-only commands at most maxRetries times, after
// 10ms, 20ms, 40ms.
func retryDelay(attempts int, _ rueidis.Completed, _ error) time.Duration {
	if attempts > maxRetries {
		return -1
	}
	return time.Duration(5<<attempts) * time.Millisecond
}

// Client returns the underlying rueidis client, an escape hatch for
// commands the port does not offer. It stays owned by the Cache: do not
// Close it.
func (c *Cache) Client() rueidis.Client { return c.client }

// Name returns "redis".
func (c *Cache) Name() string { return backend }

// String describes c without secrets.
func (c *Cache) String() string {
	return "redis.Cache{" + c.redactedURL + "}"
}

// GoString describes c for %#v, without secrets.
func (c *Cache) GoString() string { return c.String() }

// enter registers a call; it reports false after Close, and then the
// call must return ErrClosed without calling leave.
func (c *Cache) enter() bool {
	c.inflight.Add(1)
	if c.closed.Load() {
		c.leave()
		return false
	}
	return true
}

// leave ends a call registered by enter.
func (c *Cache) leave() {
	if c.inflight.Add(-1) == 0 && c.closed.Load() {
		c.drainOnce.Do(func() { close(c.drained) })
	}
}

func (c *Cache) closedErr(op string) error {
	return ports.NewError(backend, op, ports.ErrClosed, nil)
}

// Get returns the value under key, or ErrNotFound. With client-side
// caching on, a hot key is answered from local memory.
func (c *Cache) Get(ctx context.Context, key string) ([]byte, error) {
	if key == "" {
		return nil, ports.NewError(backend, "get", ports.ErrInvalid, errEmptyKey)
	}
	if !c.enter() {
		return nil, c.closedErr("get")
	}
	defer c.leave()
	if c.cacheTTL > 0 {
		// The cached string is shared by every hit: hand out a copy.
		v, err := c.client.DoCache(ctx, c.client.B().Get().Key(key).Cache(), c.cacheTTL).ToString()
		if err != nil {
			return nil, c.wrap("get", err)
		}
		return []byte(v), nil
	}
	// A reply read from the wire belongs to this call alone: no copy.
	v, err := c.client.Do(ctx, c.client.B().Get().Key(key).Build()).AsBytes()
	if err != nil {
		return nil, c.wrap("get", err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// GetMany returns the values of the keys that exist. On a cluster the keys
// are grouped by hash slot, one MGET per slot, pipelined.
func (c *Cache) GetMany(ctx context.Context, keys ...string) (map[string][]byte, error) {
	for _, k := range keys {
		if k == "" {
			return nil, ports.NewError(backend, "getmany", ports.ErrInvalid, errEmptyKey)
		}
	}
	if !c.enter() {
		return nil, c.closedErr("getmany")
	}
	defer c.leave()
	if len(keys) == 0 {
		return map[string][]byte{}, nil
	}
	var (
		msgs map[string]rueidis.RedisMessage
		err  error
	)
	if c.cacheTTL > 0 {
		msgs, err = rueidis.MGetCache(c.client, ctx, c.cacheTTL, keys)
	} else {
		msgs, err = rueidis.MGet(c.client, ctx, keys)
	}
	if err != nil {
		return nil, c.wrap("getmany", err)
	}
	out := make(map[string][]byte, len(msgs))
	for k, m := range msgs {
		if m.IsNil() {
			continue
		}
		// A key holding another type (a list...) is not a cache value.
		s, err := m.ToString()
		if err != nil {
			continue
		}
		out[k] = []byte(s)
	}
	return out, nil
}

// Set stores value under key. A ttl of 0 means no expiry; a positive ttl
// is rounded up to whole milliseconds.
func (c *Cache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := c.checkWrite("set", key, ttl); err != nil {
		return err
	}
	if !c.enter() {
		return c.closedErr("set")
	}
	defer c.leave()
	// BinaryString does not copy value: the command is written out before
	// Do returns.
	b := c.client.B().Set().Key(key).Value(rueidis.BinaryString(value))
	var cmd rueidis.Completed
	if ttl > 0 {
		cmd = b.PxMilliseconds(millis(ttl)).Build()
	} else {
		cmd = b.Build()
	}
	return c.wrap("set", c.doWrite(ctx, cmd, key).Error())
}

// SetNX stores value under key when key is absent and reports whether it
// did.
func (c *Cache) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if err := c.checkWrite("setnx", key, ttl); err != nil {
		return false, err
	}
	if !c.enter() {
		return false, c.closedErr("setnx")
	}
	defer c.leave()
	b := c.client.B().Set().Key(key).Value(rueidis.BinaryString(value)).Nx()
	var cmd rueidis.Completed
	if ttl > 0 {
		cmd = b.PxMilliseconds(millis(ttl)).Build()
	} else {
		cmd = b.Build()
	}
	err := c.doWrite(ctx, cmd, key).Error()
	switch {
	case err == nil:
		return true, nil
	case rueidis.IsRedisNil(err):
		return false, nil
	}
	return false, c.wrap("setnx", err)
}

// doWrite runs cmd, a write of key. With client-side caching on, a PTTL
// of the same key follows it in one pipeline: Redis sends the invalidation
// of a key a connection wrote after the write's reply but before the next
// reply, and rueidis applies it as it reads, so when doWrite returns this
// client's local copy is gone and a Get reads its own write. (The
// connection is the one DoCache uses for key: Open keeps one connection
// per node in that mode.)
func (c *Cache) doWrite(ctx context.Context, cmd rueidis.Completed, key string) rueidis.RedisResult {
	if c.cacheTTL == 0 {
		return c.client.Do(ctx, cmd)
	}
	return c.client.DoMulti(ctx, cmd, c.client.B().Pttl().Key(key).Build())[0]
}

func (c *Cache) checkWrite(op, key string, ttl time.Duration) error {
	switch {
	case key == "":
		return ports.NewError(backend, op, ports.ErrInvalid, errEmptyKey)
	case ttl < 0:
		return ports.NewError(backend, op, ports.ErrInvalid, errNegativeTTL)
	}
	return nil
}

// millis converts a positive ttl to milliseconds, rounding up so that a
// sub-millisecond ttl never becomes PX 0 (which Redis rejects).
func millis(ttl time.Duration) int64 {
	return int64((ttl + time.Millisecond - 1) / time.Millisecond)
}

// Delete removes the keys. On a cluster the keys are grouped by hash slot.
func (c *Cache) Delete(ctx context.Context, keys ...string) error {
	for _, k := range keys {
		if k == "" {
			return ports.NewError(backend, "delete", ports.ErrInvalid, errEmptyKey)
		}
	}
	if !c.enter() {
		return c.closedErr("delete")
	}
	defer c.leave()
	switch {
	case len(keys) == 0:
		return nil
	case c.cacheTTL > 0:
		cmds := make(rueidis.Commands, 0, 2*len(keys))
		for _, k := range keys {
			cmds = append(cmds, c.client.B().Del().Key(k).Build(), c.client.B().Pttl().Key(k).Build())
		}
		for _, r := range c.client.DoMulti(ctx, cmds...) {
			if err := r.Error(); err != nil {
				return c.wrap("delete", err)
			}
		}
		return nil
	case len(keys) == 1:
		return c.wrap("delete", c.client.Do(ctx, c.client.B().Del().Key(keys[0]).Build()).Error())
	}
	for _, err := range rueidis.MDel(c.client, ctx, keys) {
		if err != nil {
			return c.wrap("delete", err)
		}
	}
	return nil
}

// Incr adds delta to the integer under key (INCRBY) and returns the new
// value. A value that is not an integer, or an overflow, is ErrInvalid.
func (c *Cache) Incr(ctx context.Context, key string, delta int64) (int64, error) {
	if key == "" {
		return 0, ports.NewError(backend, "incr", ports.ErrInvalid, errEmptyKey)
	}
	if !c.enter() {
		return 0, c.closedErr("incr")
	}
	defer c.leave()
	n, err := c.doWrite(ctx, c.client.B().Incrby().Key(key).Increment(delta).Build(), key).AsInt64()
	if err != nil {
		return 0, c.wrap("incr", err)
	}
	return n, nil
}

// Check PINGs the server (every node of a cluster) within the check
// timeout and ctx. It returns ErrUnavailable when a node does not answer
// in time, ErrClosed after Close.
func (c *Cache) Check(ctx context.Context) error {
	if !c.enter() {
		return c.closedErr("check")
	}
	defer c.leave()
	ctx, cancel := context.WithTimeout(ctx, c.checkTimeout)
	defer cancel()

	nodes := c.client.Nodes()
	if len(nodes) <= 1 {
		return c.ping(ctx, c.client)
	}
	errs := make([]error, 0, len(nodes))
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for addr, n := range nodes {
		wg.Go(func() {
			if err := c.ping(ctx, n); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("node %s: %w", addr, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (c *Cache) ping(ctx context.Context, cl rueidis.Client) error {
	err := cl.Do(ctx, cl.B().Ping().Build()).Error()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		err = fmt.Errorf("%w (%w)", context.Cause(ctx), err)
	}
	return c.wrap("check", err)
}

// Close closes the client once the calls in flight have returned (or ctx
// has ended: the client is then closed in the background when they
// return) and makes every later call return ErrClosed. A second Close
// returns ErrClosed.
func (c *Cache) Close(ctx context.Context) error {
	first := false
	c.closeOnce.Do(func() {
		first = true
		c.closed.Store(true)
		if c.inflight.Load() == 0 {
			c.drainOnce.Do(func() { close(c.drained) })
		}
		go func() {
			<-c.drained
			c.client.Close()
			close(c.closeDone)
		}()
	})
	if !first {
		return c.closedErr("close")
	}
	select {
	case <-c.closeDone:
		c.log.Info("redis: closed")
		return nil
	case <-ctx.Done():
		c.log.Warn("redis: close did not finish in time", slog.Any("err", context.Cause(ctx)))
		return ctxError("close", ctx)
	}
}
