package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/portkit/portkit/internal/gate"
	"github.com/portkit/portkit/internal/obs"
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
	prefix       string        // prepended to every key sent
	redactedURL  string        // the Cache keeps no password
	cacheTTL     time.Duration // > 0: Get and GetMany use the client-side cache
	pairs        int           // the most write+PTTL pairs a Delete sends in one pipeline
	checkTimeout time.Duration
	log          *slog.Logger

	// gate: the entry rules, and the calls in flight: Close closes the
	// rueidis client only once they have returned. (rueidis connects to a
	// node lazily; a connection it finishes dialing after Close would
	// stay open.)
	gate      gate.Gate
	closeDone chan struct{} // closed when the rueidis client is closed

	in   *obs.Instr // the Cache's spans and metrics
	conn *obs.Instr // Check and Close
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
	prefix string
	tel    obs.Settings
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
// With client-side caching on, Open keeps PipelineMultiplex at -1 (one
// connection per node) and BlockingPipeline at 3 or more whatever fn
// sets: read-your-writes depends on it (see [Open]).
func WithClientOption(fn func(*rueidis.ClientOption)) Option {
	return func(o *options) {
		if fn != nil {
			o.tune = append(o.tune, fn)
		}
	}
}

// WithKeyPrefix makes the Cache prepend prefix to every key it sends
// (ioredis' keyPrefix): Get, GetMany, Set, SetNX, Delete and Incr, so that
// services sharing one Redis keep apart, and a cluster routes each key by
// the hash slot of the prefixed key. Returned keys (GetMany's map) never
// carry it. It overrides Config.KeyPrefix; "" turns the prefix off.
//
// The prefix is not applied to what [Cache.Client] sends. A prefix with a
// hash tag ("{app}:") puts every key of the Cache in one slot.
func WithKeyPrefix(prefix string) Option {
	return func(o *options) { o.prefix = prefix }
}

// Open connects to the server(s) of cfg.URL and PINGs within
// cfg.DialTimeout (and ctx), logs the outcome through slog with the URL
// redacted, and returns the Cache.
//
// With cfg.ClientCacheTTL set, Open turns on server-assisted client-side
// caching; when the server cannot track keys it logs one warning and
// continues without it, or fails with ErrInvalid when
// cfg.ClientCacheRequired is set. In that mode every command the Cache
// sends travels on one connection per node, the one whose local cache
// holds the key, so that Redis' invalidation of a key this client wrote
// arrives before the write returns: rueidis would send a pipeline of
// BlockingPipeline commands or more (2000 by default) over another
// connection, so Delete splits its pipeline below that size.
//
// A server that cannot be reached is ErrUnavailable; wrong credentials,
// or an ACL that forbids the commands Open sends, ErrPermission; an
// invalid cfg ErrInvalid.
func Open(ctx context.Context, cfg Config, opts ...Option) (*Cache, error) {
	o := options{logger: slog.Default(), prefix: cfg.KeyPrefix}
	for _, fn := range opts {
		if fn != nil {
			fn(&o)
		}
	}
	log := o.logger.With(slog.String("backend", backend), slog.String("url", cfg.RedactedURL()))
	if err := gate.CheckContext(ctx, backend, "open"); err != nil {
		log.Error("redis: connect failed", slog.Any("err", err))
		return nil, err
	}
	if len(o.prefix) > ports.MaxValueBytes {
		err := classifier.Invalid("open", errKeyTooLarge)
		log.Error("redis: invalid key prefix", slog.Any("err", err))
		return nil, err
	}

	copt, err := cfg.clientOption()
	if err != nil {
		log.Error("redis: invalid configuration", slog.Any("err", err))
		return nil, err
	}
	copt.RetryDelay = retryDelay
	for _, fn := range o.tune {
		fn(&copt)
	}
	tuned := copt
	pairs := keepReadYourWrites(&copt)

	openCtx, cancel := context.WithTimeout(ctx, cfg.dialTimeout())
	defer cancel()
	// rueidis connects with context.Background and its own timeouts; the
	// gate makes the connections made during Open (dial, TLS and the
	// HELLO handshake) also end with openCtx. It is lifted before Open
	// returns, so later reconnections do not depend on ctx.
	dialGate := &openGate{ctx: openCtx}
	defer dialGate.lift()
	copt.DialCtxFn = dialGate.dial(copt.DialCtxFn)

	cacheOn := !copt.DisableCache
	client, err := rueidis.NewClient(copt)
	// Why this client cannot have a local cache, and whether an ACL is
	// the reason.
	var noCache error
	forbidden := false
	switch {
	case err != nil && cacheOn && errors.Is(err, rueidis.ErrNoCache):
		noCache, forbidden, err = err, trackingForbidden(err), nil
	case err == nil && cacheOn:
		if txErr := transactionsForbidden(openCtx, client); txErr != nil {
			client.Close()
			noCache, forbidden = txErr, true
		}
	}
	if noCache != nil {
		if cfg.ClientCacheRequired {
			if forbidden {
				err = ports.NewError(backend, "open", ports.ErrPermission, fmt.Errorf(
					"client-side caching is required (%s) but the user's ACL forbids CLIENT TRACKING or MULTI/EXEC, which it needs: %w",
					EnvClientCacheRequired, noCache))
			} else {
				err = classifier.Invalid("open", fmt.Errorf(
					"client-side caching is required (%s) but the server does not support RESP3 CLIENT TRACKING: %w",
					EnvClientCacheRequired, noCache))
			}
			log.Error("redis: connect failed", slog.Any("err", err))
			return nil, err
		}
		if forbidden {
			log.Warn("redis: the user's ACL forbids CLIENT TRACKING or MULTI/EXEC, which client-side caching needs; continuing without a local cache")
		} else {
			log.Warn("redis: server does not support client-side caching (RESP3 CLIENT TRACKING); continuing without a local cache")
		}
		// Without a local cache, the pipelines need not stay on one
		// connection.
		copt.PipelineMultiplex, copt.BlockingPipeline = tuned.PipelineMultiplex, tuned.BlockingPipeline
		copt.DisableCache, cacheOn = true, false
		client, err = rueidis.NewClient(copt)
	}
	if err == nil {
		err = client.Do(openCtx, client.B().Ping().Build()).Error()
		dialGate.lift()
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
		if openCtx.Err() != nil && !ports.IsContextError(err) && !isReply(err) {
			err = fmt.Errorf("%w (%w)", context.Cause(openCtx), err)
		}
		err = classifier.Wrap("open", err, false)
		log.Error("redis: connect failed", slog.Any("err", err))
		return nil, err
	}

	c := &Cache{
		client:       client,
		prefix:       o.prefix,
		redactedURL:  cfg.RedactedURL(),
		pairs:        pairs,
		checkTimeout: cfg.checkTimeout(),
		log:          log,
		closeDone:    make(chan struct{}),
	}
	if cacheOn {
		c.cacheTTL = cfg.ClientCacheTTL
	}
	be := obs.Backend{Name: backend}
	be.ServerAddress, be.ServerPort = serverAddress(copt.InitAddress)
	be.Port = obs.PortCache
	c.in = obs.New(be, o.tel)
	be.Port = obs.PortConnector
	c.conn = obs.New(be, o.tel)
	log.Info("redis: connected",
		slog.String("mode", string(client.Mode())),
		slog.Int("nodes", len(client.Nodes())),
		slog.Bool("client_cache", cacheOn),
		slog.Duration("client_cache_ttl", c.cacheTTL),
		slog.Bool("key_prefix", c.prefix != ""))
	return c, nil
}

// transactionsForbidden returns the server's refusal when the user's ACL
// forbids MULTI or EXEC: rueidis reads through the local cache in a
// MULTI/EXEC transaction, and without them every cached read fails as
// "EXEC was aborted" (ErrUnavailable, which retrying does not fix).
func transactionsForbidden(ctx context.Context, client rueidis.Client) error {
	for _, r := range client.DoMulti(ctx, client.B().Multi().Build(), client.B().Exec().Build()) {
		if err := r.Error(); err != nil {
			if re, ok := replyError(err); ok && replyKind(re.Error()) == ports.ErrPermission {
				return err
			}
		}
	}
	return nil
}

// keepReadYourWrites adjusts copt, with client-side caching on, so that
// every pipeline the Cache sends travels on the connection whose local
// cache holds its keys: one connection per node (rueidis picks one of
// several at random for each pipeline), and no write+PTTL pair over
// rueidis' dedicated connections (it moves pipelines of BlockingPipeline
// commands or more there). It returns how many DEL+PTTL pairs a Delete may
// send in one pipeline (all of them, without a local cache).
func keepReadYourWrites(copt *rueidis.ClientOption) int {
	if copt.DisableCache {
		return math.MaxInt
	}
	copt.PipelineMultiplex = -1
	bp := copt.BlockingPipeline
	switch {
	case bp == 0:
		bp = rueidis.DefaultBlockingPipeline
	case bp < 0:
		return math.MaxInt
	case bp < 3:
		bp = 3
		copt.BlockingPipeline = bp
	}
	return (bp - 1) / 2
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

// key returns key as sent: with the key prefix.
func (c *Cache) key(key string) string {
	if c.prefix == "" {
		return key
	}
	return c.prefix + key
}

// checkKey checks a key argument of op.
func (c *Cache) checkKey(op, key string) error {
	switch {
	case key == "":
		return classifier.Invalid(op, errEmptyKey)
	case len(key) > ports.MaxValueBytes-len(c.prefix):
		return classifier.Invalid(op, errKeyTooLarge)
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

// checkWrite checks the arguments of a Set or SetNX.
func (c *Cache) checkWrite(op, key string, value []byte, ttl time.Duration) error {
	if err := c.checkKey(op, key); err != nil {
		return err
	}
	switch {
	case ttl < 0:
		return classifier.Invalid(op, errNegativeTTL)
	case len(value) > ports.MaxValueBytes:
		return classifier.Invalid(op, errValueTooLarge)
	}
	return nil
}

// Get returns the value under key, or ErrNotFound. With client-side
// caching on, a hot key is answered from local memory.
func (c *Cache) Get(ctx context.Context, key string) ([]byte, error) {
	ctx, sp := c.in.Start(ctx, obs.OpGet)
	v, local, err := c.doGet(ctx, key)
	if local {
		sp.SetLookups(1, 0, 1)
	}
	sp.End(err)
	return v, err
}

// doGet is Get; local reports a value served from the client-side cache.
func (c *Cache) doGet(ctx context.Context, key string) (_ []byte, local bool, _ error) {
	if err := c.gate.Begin(ctx, backend, "get"); err != nil {
		return nil, false, err
	}
	defer c.gate.End()
	if err := c.checkKey("get", key); err != nil {
		return nil, false, err
	}
	if c.cacheTTL > 0 {
		// The cached string is shared by every hit: hand out a copy.
		res := c.client.DoCache(ctx, c.client.B().Get().Key(c.key(key)).Cache(), c.cacheTTL)
		v, err := res.ToString()
		if err != nil {
			return nil, false, c.wrap("get", err)
		}
		return []byte(v), res.IsCacheHit(), nil
	}
	// A reply read from the wire belongs to this call alone: no copy.
	v, err := c.client.Do(ctx, c.client.B().Get().Key(c.key(key)).Build()).AsBytes()
	if err != nil {
		return nil, false, c.wrap("get", err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, false, nil
}

// GetMany returns the values of the keys that exist. On a cluster the keys
// are grouped by hash slot, one MGET per slot, pipelined.
func (c *Cache) GetMany(ctx context.Context, keys ...string) (map[string][]byte, error) {
	ctx, sp := c.in.Start(ctx, obs.OpGetMany)
	v, local, err := c.doGetMany(ctx, keys...)
	if err == nil && sp.Recording() {
		misses := 0
		for _, k := range keys {
			if _, ok := v[k]; !ok {
				misses++
			}
		}
		sp.SetLookups(len(keys)-misses, misses, local)
	}
	sp.End(err)
	return v, err
}

// doGetMany is GetMany; local counts the keys named (a key named twice
// counts twice) whose values were served from the client-side cache.
func (c *Cache) doGetMany(ctx context.Context, keys ...string) (_ map[string][]byte, local int, _ error) {
	if err := c.gate.Begin(ctx, backend, "getmany"); err != nil {
		return nil, 0, err
	}
	defer c.gate.End()
	if err := c.checkKeys("getmany", keys); err != nil {
		return nil, 0, err
	}
	if len(keys) == 0 {
		return map[string][]byte{}, 0, nil
	}
	sent := keys
	if c.prefix != "" {
		sent = make([]string, len(keys))
		for i, k := range keys {
			sent[i] = c.prefix + k
		}
	}
	var (
		msgs map[string]rueidis.RedisMessage
		err  error
	)
	if c.cacheTTL > 0 {
		msgs, err = rueidis.MGetCache(c.client, ctx, c.cacheTTL, sent)
	} else {
		msgs, err = rueidis.MGet(c.client, ctx, sent)
	}
	if err != nil {
		return nil, 0, c.wrap("getmany", err)
	}
	out := make(map[string][]byte, len(msgs))
	for i, k := range keys {
		m, ok := msgs[sent[i]]
		if !ok || m.IsNil() {
			continue
		}
		// A key holding another type (a list...) is not a cache value.
		s, err := m.ToString()
		if err != nil {
			continue
		}
		out[k] = []byte(s)
		if m.IsCacheHit() {
			local++
		}
	}
	return out, local, nil
}

// Set stores value under key. A ttl of 0 means no expiry; a positive ttl
// is sent in milliseconds, rounded up.
func (c *Cache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	ctx, sp := c.in.Start(ctx, obs.OpSet)
	err := c.doSet(ctx, key, value, ttl)
	sp.End(err)
	return err
}

func (c *Cache) doSet(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := c.gate.Begin(ctx, backend, "set"); err != nil {
		return err
	}
	defer c.gate.End()
	if err := c.checkWrite("set", key, value, ttl); err != nil {
		return err
	}
	k := c.key(key)
	// BinaryString does not copy value: the command is written out before
	// Do returns.
	b := c.client.B().Set().Key(k).Value(rueidis.BinaryString(value))
	var cmd rueidis.Completed
	if ttl > 0 {
		cmd = b.PxMilliseconds(millis(ttl)).Build()
	} else {
		cmd = b.Build()
	}
	return c.wrapWrite("set", c.doWrite(ctx, cmd, k).Error())
}

// SetNX stores value under key when key is absent and reports whether it
// did.
func (c *Cache) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	ctx, sp := c.in.Start(ctx, obs.OpSetNX)
	v, err := c.doSetNX(ctx, key, value, ttl)
	sp.End(err)
	return v, err
}

func (c *Cache) doSetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if err := c.gate.Begin(ctx, backend, "setnx"); err != nil {
		return false, err
	}
	defer c.gate.End()
	if err := c.checkWrite("setnx", key, value, ttl); err != nil {
		return false, err
	}
	k := c.key(key)
	b := c.client.B().Set().Key(k).Value(rueidis.BinaryString(value)).Nx()
	var cmd rueidis.Completed
	if ttl > 0 {
		cmd = b.PxMilliseconds(millis(ttl)).Build()
	} else {
		cmd = b.Build()
	}
	err := c.doWrite(ctx, cmd, k).Error()
	switch {
	case err == nil:
		return true, nil
	case rueidis.IsRedisNil(err):
		return false, nil
	}
	return false, c.wrapWrite("setnx", err)
}

// doWrite runs cmd, a write of key (as sent). With client-side caching on,
// a PTTL of the same key follows it in one pipeline: Redis sends the
// invalidation of a key a connection wrote after the write's reply but
// before the next reply, and rueidis applies it as it reads, so when
// doWrite returns this client's local copy is gone and a Get reads its own
// write. (The connection is the one DoCache uses for key: Open keeps one
// connection per node in that mode, see keepReadYourWrites.)
func (c *Cache) doWrite(ctx context.Context, cmd rueidis.Completed, key string) rueidis.RedisResult {
	if c.cacheTTL == 0 {
		return c.client.Do(ctx, cmd)
	}
	return c.client.DoMulti(ctx, cmd, c.client.B().Pttl().Key(key).Build())[0]
}

// millis converts a positive ttl to milliseconds, rounding up so that a
// sub-millisecond ttl counts as 1ms (never PX 0, which Redis rejects). It
// does not overflow: time.Duration(math.MaxInt64) is 9 223 372 036 854ms,
// which Redis holds.
func millis(ttl time.Duration) int64 {
	ms := int64(ttl / time.Millisecond)
	if ttl%time.Millisecond != 0 {
		ms++
	}
	return ms
}

// Delete removes the keys. On a cluster the keys are grouped by hash slot.
// With client-side caching on, each DEL is followed by a PTTL of its key
// (see doWrite), in pipelines short enough to stay on the connection of
// the local cache.
func (c *Cache) Delete(ctx context.Context, keys ...string) error {
	ctx, sp := c.in.Start(ctx, obs.OpDelete)
	err := c.doDelete(ctx, keys...)
	sp.End(err)
	return err
}

func (c *Cache) doDelete(ctx context.Context, keys ...string) error {
	if err := c.gate.Begin(ctx, backend, "delete"); err != nil {
		return err
	}
	defer c.gate.End()
	if err := c.checkKeys("delete", keys); err != nil {
		return err
	}
	switch {
	case len(keys) == 0:
		return nil
	case c.cacheTTL > 0:
		for chunk := range slices.Chunk(keys, c.pairs) {
			cmds := make(rueidis.Commands, 0, 2*len(chunk))
			for _, k := range chunk {
				k = c.key(k)
				cmds = append(cmds, c.client.B().Del().Key(k).Build(), c.client.B().Pttl().Key(k).Build())
			}
			for _, r := range c.client.DoMulti(ctx, cmds...) {
				if err := r.Error(); err != nil {
					return c.wrapWrite("delete", err)
				}
			}
		}
		return nil
	case len(keys) == 1:
		return c.wrapWrite("delete", c.client.Do(ctx, c.client.B().Del().Key(c.key(keys[0])).Build()).Error())
	}
	sent := keys
	if c.prefix != "" {
		sent = make([]string, len(keys))
		for i, k := range keys {
			sent[i] = c.prefix + k
		}
	}
	for _, err := range rueidis.MDel(c.client, ctx, sent) {
		if err != nil {
			return c.wrapWrite("delete", err)
		}
	}
	return nil
}

// Incr adds delta to the integer under key (INCRBY) and returns the new
// value. A value that is not an integer, or an overflow, is ErrInvalid.
func (c *Cache) Incr(ctx context.Context, key string, delta int64) (int64, error) {
	ctx, sp := c.in.Start(ctx, obs.OpIncr)
	v, err := c.doIncr(ctx, key, delta)
	sp.End(err)
	return v, err
}

func (c *Cache) doIncr(ctx context.Context, key string, delta int64) (int64, error) {
	if err := c.gate.Begin(ctx, backend, "incr"); err != nil {
		return 0, err
	}
	defer c.gate.End()
	if err := c.checkKey("incr", key); err != nil {
		return 0, err
	}
	k := c.key(key)
	n, err := c.doWrite(ctx, c.client.B().Incrby().Key(k).Increment(delta).Build(), k).AsInt64()
	if err != nil {
		return 0, c.wrapWrite("incr", err)
	}
	return n, nil
}

// Check PINGs the server (every node of a cluster) within the check
// timeout and ctx. It returns ErrUnavailable when a node does not answer
// in time, ErrClosed after Close.
func (c *Cache) Check(ctx context.Context) error {
	ctx, sp := c.conn.Start(ctx, obs.OpCheck)
	err := c.doCheck(ctx)
	sp.End(err)
	return err
}

func (c *Cache) doCheck(ctx context.Context) error {
	if err := c.gate.Begin(ctx, backend, "check"); err != nil {
		return err
	}
	defer c.gate.End()
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

// Close makes every later call return ErrClosed and closes the client
// once the calls in flight have returned: at once when none is, else
// within ctx (when ctx ends first, Close returns ErrUnavailable wrapping
// its error and the client is closed in the background when they
// return). A second Close returns ErrClosed; a nil ctx is ErrInvalid and
// closes nothing.
func (c *Cache) Close(ctx context.Context) error {
	ctx, sp := c.conn.Start(ctx, obs.OpClose)
	err := c.doClose(ctx)
	sp.End(err)
	return err
}

func (c *Cache) doClose(ctx context.Context) error {
	if c.gate.Closed() {
		return classifier.Closed("close")
	}
	if ctx == nil {
		return classifier.Invalid("close", gate.ErrNilContext)
	}
	if !c.gate.Close() {
		return classifier.Closed("close")
	}
	if c.gate.InFlight() == 0 {
		// No call can reach the client any more (gate.Begin counts a call
		// before it checks the gate a second time).
		c.client.Close()
		close(c.closeDone)
		c.log.Info("redis: closed")
		return nil
	}
	go func() {
		_ = c.gate.Wait(context.Background())
		c.client.Close()
		close(c.closeDone)
	}()
	select {
	case <-c.closeDone:
		c.log.Info("redis: closed")
		return nil
	case <-ctx.Done():
		c.log.Warn("redis: close did not finish in time", slog.Any("err", context.Cause(ctx)))
		return gate.ContextError(ctx, backend, "close")
	}
}
