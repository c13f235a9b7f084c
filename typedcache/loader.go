package typedcache

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/portkit/portkit/codec"
	"github.com/portkit/portkit/internal/gate"
	"github.com/portkit/portkit/ports"
)

// LoaderConfig configures a [Loader].
type LoaderConfig[T any] struct {
	// Cache stores the loaded values (required).
	Cache ports.Cache
	// Codec encodes them (codec.JSON[T]() when nil).
	Codec codec.Codec[T]
	// Prefix is prepended to every key. The loader's entries carry their
	// freshness with the value: read them only through a Loader.
	Prefix string
	// Load returns the value of key from the source of truth (required).
	// Its errors reach every caller waiting for that load; they are not
	// cached.
	Load func(ctx context.Context, key string) (T, error)
	// TTL is how long a loaded value is fresh (required, > 0).
	TTL time.Duration
	// MaxStale is how long past its TTL a value may still be served while
	// one background call refreshes it (0: never; a value past its TTL is
	// a miss).
	MaxStale time.Duration
	// LoadTimeout bounds a shared load, which runs on a context detached
	// from the callers' (one caller leaving does not fail the others):
	// default 10 s.
	LoadTimeout time.Duration
	// Now is the clock of freshness (time.Now when nil); it must agree with
	// the cache's clock.
	Now func() time.Time
	// Logger receives cache failures and malformed entries
	// (slog.Default() when nil).
	Logger *slog.Logger
}

// Loader is a cache-aside reader of values of T (see the package
// documentation). It is safe for concurrent use; Close waits for the
// loads it started in the background.
type Loader[T any] struct {
	cfg    LoaderConfig[T]
	flight singleflight.Group
	g      gate.Gate
	mu     sync.Mutex // guards wg.Add against Close
	wg     sync.WaitGroup
}

// NewLoader returns a Loader; a missing Cache or Load, a TTL that is not
// positive, or a negative MaxStale or LoadTimeout is ErrInvalid.
func NewLoader[T any](cfg LoaderConfig[T]) (*Loader[T], error) {
	fail := func(format string, args ...any) (*Loader[T], error) {
		return nil, ports.NewError("typedcache", "new loader", ports.ErrInvalid, fmt.Errorf(format, args...))
	}
	switch {
	case cfg.Cache == nil:
		return fail("Cache is required")
	case cfg.Load == nil:
		return fail("Load is required")
	case cfg.TTL <= 0:
		return fail("TTL %v must be positive", cfg.TTL)
	case cfg.MaxStale < 0 || cfg.LoadTimeout < 0:
		return fail("MaxStale %v and LoadTimeout %v must not be negative", cfg.MaxStale, cfg.LoadTimeout)
	}
	if cfg.Codec == nil {
		cfg.Codec = codec.JSON[T]()
	}
	if cfg.LoadTimeout == 0 {
		cfg.LoadTimeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Loader[T]{cfg: cfg}, nil
}

// entry layout: one version byte, the fresh-until time (Unix
// nanoseconds, big-endian int64), then the encoded value.
const (
	entryVersion = 1
	entryHeader  = 9
)

func encodeEntry(freshUntil time.Time, payload []byte) []byte {
	b := make([]byte, entryHeader, entryHeader+len(payload))
	b[0] = entryVersion
	binary.BigEndian.PutUint64(b[1:], uint64(freshUntil.UnixNano()))
	return append(b, payload...)
}

func decodeEntry(b []byte) (freshUntil time.Time, payload []byte, ok bool) {
	if len(b) < entryHeader || b[0] != entryVersion {
		return time.Time{}, nil, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b[1:]))), b[entryHeader:], true
}

// Get returns the value of key: from the cache while fresh; a stale one
// (within MaxStale) at once, while a background load refreshes it; else
// from Load, one call shared by every concurrent caller of the key, and
// cached. Each caller gets its own decoded copy. It returns Load's error,
// an error wrapping ErrUnavailable and ctx's error when ctx ends first, and
// ErrClosed after Close.
func (l *Loader[T]) Get(ctx context.Context, key string) (T, error) {
	var zero T
	if err := l.g.Check(ctx, "typedcache", "get"); err != nil {
		return zero, err
	}
	if v, fresh, ok := l.cached(ctx, key); ok {
		if !fresh {
			l.start(key) // refresh in the background; serve the stale value now
		}
		return v, nil
	}
	ch, err := l.start(key)
	if err != nil {
		return zero, err
	}
	select {
	case r := <-ch:
		if r.Err != nil {
			return zero, r.Err
		}
		v, err := l.cfg.Codec.Unmarshal(r.Val.([]byte))
		if err != nil { // cannot happen: the flight encoded it
			return zero, ports.NewError("typedcache", "get", ports.ErrInvalid, err)
		}
		return v, nil
	case <-ctx.Done():
		return zero, gate.ContextError(ctx, "typedcache", "get "+key)
	}
}

// cached returns the cached value of key, whether it is fresh, and
// whether there is a usable one (fresh, or stale within MaxStale).
func (l *Loader[T]) cached(ctx context.Context, key string) (v T, fresh, ok bool) {
	b, err := l.cfg.Cache.Get(ctx, l.cfg.Prefix+key)
	if err != nil {
		if !errors.Is(err, ports.ErrNotFound) {
			l.cfg.Logger.WarnContext(ctx, "typedcache: cache read failed; loading", slog.String("key", key), slog.Any("error", err))
		}
		return v, false, false
	}
	freshUntil, payload, good := decodeEntry(b)
	if good {
		v, err = l.cfg.Codec.Unmarshal(payload)
		good = err == nil
	}
	if !good {
		l.cfg.Logger.WarnContext(ctx, "typedcache: ignoring a malformed cache entry", slog.String("key", key))
		return v, false, false
	}
	now := l.cfg.Now()
	switch {
	case now.Before(freshUntil):
		return v, true, true
	case l.cfg.MaxStale > 0 && now.Before(freshUntil.Add(l.cfg.MaxStale)):
		return v, false, true
	default:
		return v, false, false
	}
}

// start joins (or begins) the shared load of key, in a goroutine that
// Close waits for, and returns the channel of its result.
func (l *Loader[T]) start(key string) (<-chan singleflight.Result, error) {
	l.mu.Lock()
	if l.g.Closed() {
		l.mu.Unlock()
		return nil, gate.Closed("typedcache", "get")
	}
	l.wg.Add(1)
	l.mu.Unlock()
	ch := make(chan singleflight.Result, 1)
	go func() {
		defer l.wg.Done()
		v, err, shared := l.flight.Do(key, func() (any, error) { return l.load(key) })
		ch <- singleflight.Result{Val: v, Err: err, Shared: shared}
	}()
	return ch, nil
}

// load is the shared load of key: it returns the encoded value.
func (l *Loader[T]) load(key string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.LoadTimeout)
	defer cancel()
	// A flight that starts just after another one refreshed the entry
	// finds it fresh.
	if b, err := l.cfg.Cache.Get(ctx, l.cfg.Prefix+key); err == nil {
		if freshUntil, payload, ok := decodeEntry(b); ok && l.cfg.Now().Before(freshUntil) {
			if _, err := l.cfg.Codec.Unmarshal(payload); err == nil {
				return payload, nil
			}
		}
	}
	v, err := l.cfg.Load(ctx, key)
	if err != nil {
		return nil, err
	}
	payload, err := l.cfg.Codec.Marshal(v)
	if err != nil {
		return nil, ports.NewError("typedcache", "load", ports.ErrInvalid, err)
	}
	entry := encodeEntry(l.cfg.Now().Add(l.cfg.TTL), payload)
	if err := l.cfg.Cache.Set(ctx, l.cfg.Prefix+key, entry, l.cfg.TTL+l.cfg.MaxStale); err != nil {
		l.cfg.Logger.WarnContext(ctx, "typedcache: cannot cache a loaded value", slog.String("key", key), slog.Any("error", err))
	}
	return payload, nil
}

// Invalidate removes the cached values of keys: the next Get loads.
func (l *Loader[T]) Invalidate(ctx context.Context, keys ...string) error {
	if err := l.g.Check(ctx, "typedcache", "invalidate"); err != nil {
		return err
	}
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = l.cfg.Prefix + k
	}
	return l.cfg.Cache.Delete(ctx, full...)
}

// Close stops the loader: later calls return ErrClosed. It waits for the
// loads in progress (background refreshes included) until ctx ends. It
// does not close the cache.
func (l *Loader[T]) Close(ctx context.Context) error {
	if ctx == nil {
		return ports.NewError("typedcache", "close", ports.ErrInvalid, gate.ErrNilContext)
	}
	l.mu.Lock()
	first := l.g.Close()
	l.mu.Unlock()
	if !first {
		return gate.Closed("typedcache", "close")
	}
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return gate.ContextError(ctx, "typedcache", "close")
	}
}
