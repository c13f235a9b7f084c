package fakes_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"
	"unsafe"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/ports"
)

// cacheEpoch is where the manual clocks of these tests start, 0.7ms into a
// second (expiry is decided in whole milliseconds, as by Redis).
var cacheEpoch = time.Date(2025, 1, 1, 0, 0, 0, 700_000, time.UTC)

func newClockedCache(t *testing.T, opts ...fakes.Option) (*fakes.Cache, *fakes.ManualClock) {
	t.Helper()
	clock := fakes.NewManualClock(cacheEpoch)
	c := fakes.NewCache(append([]fakes.Option{fakes.WithClock(clock)}, opts...)...)
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c, clock
}

func wantHit(t *testing.T, c *fakes.Cache, what, key, want string) {
	t.Helper()
	v, err := c.Get(t.Context(), key)
	if err != nil || string(v) != want {
		t.Errorf("%s: Get(%q) = %q, %v, want %q", what, key, v, err, want)
	}
}

func wantMiss(t *testing.T, c *fakes.Cache, what, key string) {
	t.Helper()
	if v, err := c.Get(t.Context(), key); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("%s: Get(%q) = %q, %v, want ErrNotFound", what, key, v, err)
	}
}

// TestCacheSubMillisecondTTL (issue 13): a positive TTL below 1ms counts
// as 1ms, as on Redis (the adapter sends PX 1): an immediate Get hits. The
// fake used to expire such a key at once (0 of 20 immediate Gets hit; 19
// of 20 on Redis, the 20th crossing a millisecond boundary).
func TestCacheSubMillisecondTTL(t *testing.T) {
	c, clock := newClockedCache(t)
	ctx := t.Context()
	for _, ttl := range []time.Duration{time.Nanosecond, 999 * time.Microsecond} {
		if err := c.Set(ctx, "k", []byte("v"), ttl); err != nil {
			t.Fatal(err)
		}
		wantHit(t, c, "right after Set with TTL "+ttl.String(), "k", "v")
		if ok, err := c.SetNX(ctx, "nx", []byte("v"), ttl); err != nil || !ok {
			t.Fatalf("SetNX = %v, %v", ok, err)
		}
		wantHit(t, c, "right after SetNX with TTL "+ttl.String(), "nx", "v")
		clock.Advance(500 * time.Microsecond) // past the TTL, within its millisecond
		wantHit(t, c, "500µs after Set with TTL "+ttl.String(), "k", "v")
		wantHit(t, c, "500µs after SetNX with TTL "+ttl.String(), "nx", "v")
		clock.Advance(1500 * time.Microsecond)
		wantMiss(t, c, "2ms after Set with TTL "+ttl.String(), "k")
		wantMiss(t, c, "2ms after SetNX with TTL "+ttl.String(), "nx")
	}
}

// TestCacheExpiryInstant (issue 13): Redis keeps a key while its clock,
// in whole milliseconds, is not past the expiry (db.c: expired when
// now > when): a key set with TTL d is still there at exactly d, and gone
// 1ms later. The fake used to drop it at exactly d.
func TestCacheExpiryInstant(t *testing.T) {
	c, clock := newClockedCache(t)
	ctx := t.Context()
	if err := c.Set(ctx, "k", []byte("v"), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Incr(ctx, "n", 1); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Second)
	wantHit(t, c, "at exactly the TTL", "k", "v")
	if ok, err := c.SetNX(ctx, "k", []byte("other"), 0); err != nil || ok {
		t.Errorf("SetNX at exactly the TTL = %v, %v, want false (the key lives)", ok, err)
	}
	clock.Advance(999 * time.Microsecond) // 0.7ms+0.999ms: the next millisecond
	wantMiss(t, c, "in the millisecond after the TTL", "k")
}

// TestCacheMaxTTL (issue 13): any positive time.Duration is a TTL; the
// largest used to overflow the fake's nanosecond expiry (UnixNano past
// 2262), so the key expired at once.
func TestCacheMaxTTL(t *testing.T) {
	c, clock := newClockedCache(t)
	ctx := t.Context()
	const maxTTL = time.Duration(math.MaxInt64)
	if err := c.Set(ctx, "k", []byte("v"), maxTTL); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.SetNX(ctx, "nx", []byte("v"), maxTTL); err != nil || !ok {
		t.Fatalf("SetNX = %v, %v", ok, err)
	}
	clock.Advance(200 * 365 * 24 * time.Hour)
	wantHit(t, c, "200 years into TTL MaxInt64", "k", "v")
	wantHit(t, c, "200 years into TTL MaxInt64 (SetNX)", "nx", "v")
	clock.Advance(100 * 365 * 24 * time.Hour)
	wantMiss(t, c, "300 years into TTL MaxInt64", "k")
}

// TestCacheValueTooLarge (issue 13): a value over ports.MaxValueBytes is
// ErrInvalid and stores nothing, as on the adapter (the fake stored it,
// Redis cuts the connection). A key over the limit, the prefix counted,
// is ErrInvalid too.
func TestCacheValueTooLarge(t *testing.T) {
	c, _ := newClockedCache(t)
	ctx := t.Context()
	big := make([]byte, ports.MaxValueBytes+1) // never written: its pages stay unbacked
	if err := c.Set(ctx, "k", big, 0); !errors.Is(err, ports.ErrInvalid) {
		t.Errorf("Set of MaxValueBytes+1: err %v, want ErrInvalid", err)
	}
	if ok, err := c.SetNX(ctx, "k", big, 0); ok || !errors.Is(err, ports.ErrInvalid) {
		t.Errorf("SetNX of MaxValueBytes+1 = %v, %v, want ErrInvalid", ok, err)
	}
	wantMiss(t, c, "after the oversized writes", "k")

	atLimit := unsafe.String(unsafe.SliceData(big), ports.MaxValueBytes) // no copy
	if _, err := c.Get(ctx, atLimit); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("Get of a key of MaxValueBytes: err %v, want ErrNotFound", err)
	}
	if _, err := c.Get(ctx, unsafe.String(unsafe.SliceData(big), ports.MaxValueBytes+1)); !errors.Is(err, ports.ErrInvalid) {
		t.Errorf("Get of a key of MaxValueBytes+1: err %v, want ErrInvalid", err)
	}
	p, _ := newClockedCache(t, fakes.WithKeyPrefix("p:"))
	if _, err := p.Incr(ctx, atLimit[:ports.MaxValueBytes-1], 1); !errors.Is(err, ports.ErrInvalid) {
		t.Errorf("Incr of a key the prefix takes over MaxValueBytes: err %v, want ErrInvalid", err)
	}
}

// TestCacheKeyPrefix (issue 13): Caches of one store with different
// prefixes keep apart; returned keys carry no prefix; a Cache without a
// prefix sees the prefixed keys as they are stored.
func TestCacheKeyPrefix(t *testing.T) {
	ctx := t.Context()
	raw, clock := newClockedCache(t)
	a := fakes.NewCache(fakes.WithSharedStore(raw), fakes.WithKeyPrefix("a:"))
	b := fakes.NewCache(fakes.WithSharedStore(raw), fakes.WithKeyPrefix("b:"), fakes.WithName("b"))
	t.Cleanup(func() { _ = a.Close(ctx); _ = b.Close(ctx) })

	for _, c := range []*fakes.Cache{a, b} {
		if err := c.Set(ctx, "k", []byte(c.Name()), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	wantHit(t, a, "a", "k", "fake-cache")
	wantHit(t, b, "b", "k", "b")
	wantHit(t, raw, "unprefixed view of a's key", "a:k", "fake-cache")
	wantMiss(t, raw, "unprefixed view of k", "k")

	got, err := a.GetMany(ctx, "k", "k", "missing")
	if err != nil || len(got) != 1 || string(got["k"]) != "fake-cache" {
		t.Errorf("a.GetMany(k, k, missing) = %q, %v, want {k: fake-cache}", got, err)
	}
	if n, err := a.Incr(ctx, "n", 5); err != nil || n != 5 {
		t.Errorf("a.Incr = %d, %v", n, err)
	}
	if n, err := b.Incr(ctx, "n", 1); err != nil || n != 1 {
		t.Errorf("b.Incr of its own n = %d, %v, want 1", n, err)
	}
	if ok, err := b.SetNX(ctx, "only-a", []byte("b"), 0); err != nil || !ok {
		t.Errorf("b.SetNX of a key only a has = %v, %v, want true", ok, err)
	}
	if err := b.Delete(ctx, "k", "k"); err != nil {
		t.Fatal(err)
	}
	wantMiss(t, b, "b after its Delete", "k")
	wantHit(t, a, "a after b's Delete", "k", "fake-cache")

	// The store's clock rules expiry for every client.
	clock.Advance(time.Minute + time.Millisecond)
	wantMiss(t, a, "a past the TTL", "k")

	// Closing one client leaves the store to the others.
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	wantHit(t, raw, "raw after b's Close", "a:n", "5")
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	wantHit(t, raw, "raw after a's Close", "a:n", "5")
}

// TestCacheNilContext: a nil ctx is ErrInvalid before the arguments, never
// a panic, and Close(nil) closes nothing; after Close, ErrClosed comes
// first.
func TestCacheNilContext(t *testing.T) {
	c := fakes.NewCache()
	var nilCtx context.Context
	if _, err := c.Get(nilCtx, ""); !errors.Is(err, ports.ErrInvalid) {
		t.Errorf("Get(nil, \"\"): err %v, want ErrInvalid", err)
	}
	if err := c.Close(nilCtx); !errors.Is(err, ports.ErrInvalid) {
		t.Errorf("Close(nil): err %v, want ErrInvalid", err)
	}
	if err := c.Set(t.Context(), "k", nil, 0); err != nil {
		t.Errorf("Set after Close(nil): %v, want the cache still open", err)
	}
	if err := c.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(nilCtx, ""); !errors.Is(err, ports.ErrClosed) {
		t.Errorf("Get(nil, \"\") after Close: err %v, want ErrClosed", err)
	}
	if err := c.Close(nilCtx); !errors.Is(err, ports.ErrClosed) {
		t.Errorf("Close(nil) after Close: err %v, want ErrClosed", err)
	}
}

// Two services sharing one Redis, each with its key prefix: WithSharedStore
// makes the second fake a client of the first one's store.
func ExampleWithKeyPrefix() {
	ctx := context.Background()
	orders := fakes.NewCache(fakes.WithKeyPrefix("orders:"))
	defer orders.Close(ctx)
	users := fakes.NewCache(fakes.WithSharedStore(orders), fakes.WithKeyPrefix("users:"))
	defer users.Close(ctx)
	raw := fakes.NewCache(fakes.WithSharedStore(orders)) // what the server holds
	defer raw.Close(ctx)

	_ = orders.Set(ctx, "42", []byte("placed"), 0)
	_ = users.Set(ctx, "42", []byte("alice"), 0)
	o, _ := orders.GetMany(ctx, "42")
	u, _ := users.Get(ctx, "42")
	stored, _ := raw.Get(ctx, "orders:42")
	fmt.Printf("%s %s %s\n", o["42"], u, stored)
	// Output: placed alice placed
}
