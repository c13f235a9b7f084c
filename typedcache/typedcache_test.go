package typedcache_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/portkit/portkit/codec"
	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/typedcache"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type Order struct {
	ID    int64    `json:"id"`
	Lines []string `json:"lines"`
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestCache(t *testing.T) {
	ctx := context.Background()
	raw := fakes.NewCache()
	defer raw.Close(ctx)
	c, err := typedcache.New[Order](raw, nil, "pk_mg:order:")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "7"); !errors.Is(err, ports.ErrNotFound) {
		t.Fatalf("miss: %v", err)
	}
	if err := c.Set(ctx, "7", Order{ID: 7, Lines: []string{"a"}}, time.Minute); err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, "7")
	if err != nil || got.ID != 7 || got.Lines[0] != "a" {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	if b, _ := raw.Get(ctx, "pk_mg:order:7"); string(b) != `{"id":7,"lines":["a"]}` {
		t.Fatalf("stored %q under the prefixed key", b)
	}
	_ = raw.Set(ctx, "pk_mg:order:8", []byte("not json"), 0)
	if _, err := c.Get(ctx, "8"); !errors.Is(err, ports.ErrInvalid) || !codec.IsDecodeError(err) {
		t.Fatalf("malformed: %v", err)
	}
	if err := c.Delete(ctx, "7", "8", "absent"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "7"); !errors.Is(err, ports.ErrNotFound) {
		t.Fatalf("after Delete: %v", err)
	}
	if err := c.Set(ctx, "x", Order{}, -time.Second); !errors.Is(err, ports.ErrInvalid) {
		t.Fatalf("negative TTL: %v", err)
	}
	if _, err := typedcache.New[Order](nil, nil, ""); !errors.Is(err, ports.ErrInvalid) {
		t.Fatalf("nil cache: %v", err)
	}
}

// countingCache counts the misses of Get.
type countingCache struct {
	ports.Cache
	misses atomic.Int32
}

func (c *countingCache) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := c.Cache.Get(ctx, key)
	if errors.Is(err, ports.ErrNotFound) {
		c.misses.Add(1)
	}
	return b, err
}

func newLoader(t *testing.T, cfg typedcache.LoaderConfig[Order]) *typedcache.Loader[Order] {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet()
	}
	l, err := typedcache.NewLoader(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// 50 concurrent misses of one key make one load.
func TestLoaderCollapsesConcurrentMisses(t *testing.T) {
	ctx := context.Background()
	raw := fakes.NewCache()
	defer raw.Close(ctx)
	cache := &countingCache{Cache: raw}
	release := make(chan struct{})
	var loads atomic.Int32
	l := newLoader(t, typedcache.LoaderConfig[Order]{
		Cache: cache, TTL: time.Minute,
		Load: func(ctx context.Context, key string) (Order, error) {
			loads.Add(1)
			<-release
			return Order{ID: 7, Lines: []string{"a"}}, nil
		},
	})
	const callers = 50
	var wg sync.WaitGroup
	results := make(chan Order, callers)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, err := l.Get(ctx, "7")
			if err != nil {
				t.Error(err)
			}
			results <- o
		}()
	}
	// Every caller has missed before the load may end: without
	// collapsing, each of them would have called Load.
	waitFor(t, "50 misses", func() bool { return cache.misses.Load() >= callers })
	close(release)
	wg.Wait()
	close(results)
	if n := loads.Load(); n != 1 {
		t.Fatalf("%d loads for %d concurrent misses, want 1", n, callers)
	}
	var first *Order
	for o := range results {
		if o.ID != 7 || len(o.Lines) != 1 {
			t.Fatalf("result = %+v", o)
		}
		if first == nil {
			first = &o
		} else if &first.Lines[0] == &o.Lines[0] {
			t.Fatal("two callers share one value's memory")
		}
	}
	// Cached now: no more load.
	if _, err := l.Get(ctx, "7"); err != nil || loads.Load() != 1 {
		t.Fatalf("hit: err = %v, loads = %d", err, loads.Load())
	}
}

func TestLoaderServesStaleWhileOneRefreshes(t *testing.T) {
	ctx := context.Background()
	clock := fakes.NewManualClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	raw := fakes.NewCache(fakes.WithClock(clock))
	defer raw.Close(ctx)
	var loads atomic.Int32
	gateLoad := make(chan struct{}, 10) // a token per load allowed to finish
	gateLoad <- struct{}{}
	l := newLoader(t, typedcache.LoaderConfig[Order]{
		Cache: raw, TTL: time.Minute, MaxStale: 5 * time.Minute, Now: clock.Now,
		Load: func(ctx context.Context, key string) (Order, error) {
			n := loads.Add(1)
			<-gateLoad
			return Order{ID: int64(n)}, nil
		},
	})
	get := func() int64 {
		t.Helper()
		o, err := l.Get(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		return o.ID
	}
	if v := get(); v != 1 {
		t.Fatalf("first Get = %d", v)
	}
	clock.Advance(2 * time.Minute) // stale, within MaxStale
	// The refresh is blocked; every caller gets the stale value at once,
	// and only one refresh runs.
	for range 20 {
		if v := get(); v != 1 {
			t.Fatalf("stale Get = %d, want 1", v)
		}
	}
	waitFor(t, "the refresh to start", func() bool { return loads.Load() == 2 })
	gateLoad <- struct{}{}
	waitFor(t, "the refreshed value", func() bool { return get() == 2 })
	if n := loads.Load(); n != 2 {
		t.Fatalf("%d loads, want 2 (one refresh for 20 stale reads)", n)
	}
	// Past MaxStale the value is gone: the caller waits for the load.
	clock.Advance(10 * time.Minute)
	gateLoad <- struct{}{}
	if v := get(); v != 3 {
		t.Fatalf("Get past MaxStale = %d, want 3 (a synchronous load)", v)
	}
}

func TestLoaderWithoutMaxStaleLoadsAfterTTL(t *testing.T) {
	ctx := context.Background()
	clock := fakes.NewManualClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	raw := fakes.NewCache(fakes.WithClock(clock))
	defer raw.Close(ctx)
	var loads atomic.Int32
	l := newLoader(t, typedcache.LoaderConfig[Order]{
		Cache: raw, TTL: time.Minute, Now: clock.Now,
		Load: func(context.Context, string) (Order, error) { return Order{ID: int64(loads.Add(1))}, nil },
	})
	o, _ := l.Get(ctx, "k")
	clock.Advance(30 * time.Second)
	o2, _ := l.Get(ctx, "k")
	clock.Advance(31 * time.Second)
	o3, _ := l.Get(ctx, "k")
	if o.ID != 1 || o2.ID != 1 || o3.ID != 2 {
		t.Fatalf("IDs %d %d %d, want 1 1 2", o.ID, o2.ID, o3.ID)
	}
	if err := l.Invalidate(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if o4, _ := l.Get(ctx, "k"); o4.ID != 3 {
		t.Fatalf("after Invalidate: %d, want 3", o4.ID)
	}
}

func TestLoaderErrorsAndDegradation(t *testing.T) {
	ctx := context.Background()
	raw := fakes.NewCache()
	defer raw.Close(ctx)
	var loads atomic.Int32
	fail := true
	l := newLoader(t, typedcache.LoaderConfig[Order]{
		Cache: raw, TTL: time.Minute, Prefix: "pk_mg:",
		Load: func(_ context.Context, key string) (Order, error) {
			loads.Add(1)
			if fail {
				return Order{}, fmt.Errorf("order %s: %w", key, ports.ErrNotFound)
			}
			return Order{ID: 1}, nil
		},
	})
	// Load's error reaches the caller and is not cached.
	if _, err := l.Get(ctx, "k"); !errors.Is(err, ports.ErrNotFound) {
		t.Fatalf("err = %v", err)
	}
	fail = false
	if o, err := l.Get(ctx, "k"); err != nil || o.ID != 1 || loads.Load() != 2 {
		t.Fatalf("Get = %+v, %v after %d loads", o, err, loads.Load())
	}
	// A malformed entry is a miss, and is overwritten.
	_ = raw.Set(ctx, "pk_mg:k", []byte("garbage"), 0)
	if o, err := l.Get(ctx, "k"); err != nil || o.ID != 1 || loads.Load() != 3 {
		t.Fatalf("malformed: %+v, %v, %d loads", o, err, loads.Load())
	}
	// An unavailable cache degrades to loading.
	raw.SetUnavailable(true)
	if o, err := l.Get(ctx, "k"); err != nil || o.ID != 1 || loads.Load() != 4 {
		t.Fatalf("cache down: %+v, %v, %d loads", o, err, loads.Load())
	}
	raw.SetUnavailable(false)
}

func TestLoaderCallerLeavesTheSharedLoadGoesOn(t *testing.T) {
	raw := fakes.NewCache()
	defer raw.Close(context.Background())
	release, started := make(chan struct{}), make(chan struct{})
	var loadCtxErr atomic.Value
	l := newLoader(t, typedcache.LoaderConfig[Order]{
		Cache: raw, TTL: time.Minute,
		Load: func(ctx context.Context, _ string) (Order, error) {
			close(started)
			<-release
			loadCtxErr.Store(fmt.Sprint(ctx.Err()))
			return Order{ID: 1}, nil
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := l.Get(ctx, "k"); done <- err }()
	<-started
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) || !errors.Is(err, ports.ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
	close(release)
	o, err := l.Get(context.Background(), "k")
	if err != nil || o.ID != 1 {
		t.Fatalf("Get = %+v, %v", o, err)
	}
	if loadCtxErr.Load() != "<nil>" {
		t.Fatalf("the shared load saw its context end: %v", loadCtxErr.Load())
	}
}

func TestLoaderConfigAndClose(t *testing.T) {
	raw := fakes.NewCache()
	defer raw.Close(context.Background())
	load := func(context.Context, string) (Order, error) { return Order{}, nil }
	for name, cfg := range map[string]typedcache.LoaderConfig[Order]{
		"no cache":       {Load: load, TTL: time.Second},
		"no load":        {Cache: raw, TTL: time.Second},
		"no TTL":         {Cache: raw, Load: load},
		"negative stale": {Cache: raw, Load: load, TTL: time.Second, MaxStale: -1},
	} {
		if _, err := typedcache.NewLoader(cfg); !errors.Is(err, ports.ErrInvalid) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	l, err := typedcache.NewLoader(typedcache.LoaderConfig[Order]{Cache: raw, Load: load, TTL: time.Second, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Get(context.Background(), "k"); !errors.Is(err, ports.ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
	if err := l.Close(context.Background()); !errors.Is(err, ports.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
}
