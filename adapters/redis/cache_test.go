package redis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/portkit/portkit/internal/faults"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/ports"
)

// pttl returns the PTTL of key as the server sees it.
func pttl(t *testing.T, c *Cache, key string) int64 {
	t.Helper()
	cl := c.Client()
	n, err := cl.Do(t.Context(), cl.B().Pttl().Key(key).Build()).AsInt64()
	if err != nil {
		t.Fatalf("PTTL %s: %v", key, err)
	}
	return n
}

// TestTTLOnServer checks what reaches Redis: TTL 0 is no expiry (no EX 0,
// which Redis rejects), a positive TTL is PX in milliseconds, and a
// sub-millisecond TTL is rounded up rather than sent as PX 0.
func TestTTLOnServer(t *testing.T) {
	t.Parallel()
	c := openT(t, Config{URL: redisURL(t)})
	ctx := t.Context()
	k := testenv.UniqueName("portkit-redis-ttl")
	t.Cleanup(func() { _ = c.Delete(context.Background(), k, k+"nx", k+"tiny") })

	if err := c.Set(ctx, k, []byte("v"), 0); err != nil {
		t.Fatalf("Set ttl 0: %v", err)
	}
	if got := pttl(t, c, k); got != -1 {
		t.Errorf("PTTL after Set with ttl 0 = %d, want -1 (no expiry)", got)
	}
	if err := c.Set(ctx, k, []byte("v"), 1500*time.Millisecond); err != nil {
		t.Fatalf("Set ttl 1.5s: %v", err)
	}
	if got := pttl(t, c, k); got <= 0 || got > 1500 {
		t.Errorf("PTTL after Set with ttl 1.5s = %d, want in (0, 1500]", got)
	}
	if ok, err := c.SetNX(ctx, k+"nx", []byte("v"), 0); err != nil || !ok {
		t.Fatalf("SetNX ttl 0 = %v, %v", ok, err)
	}
	if got := pttl(t, c, k+"nx"); got != -1 {
		t.Errorf("PTTL after SetNX with ttl 0 = %d, want -1", got)
	}
	if err := c.Set(ctx, k+"tiny", []byte("v"), time.Nanosecond); err != nil {
		t.Errorf("Set with a 1ns ttl: %v, want it sent as PX 1", err)
	}
}

func TestMillis(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   time.Duration
		want int64
	}{{time.Nanosecond, 1}, {time.Millisecond, 1}, {1500 * time.Microsecond, 2}, {time.Second, 1000}, {time.Hour, 3_600_000},
		{time.Duration(math.MaxInt64), 9_223_372_036_855}, {time.Duration(math.MaxInt64) - 775_807, 9_223_372_036_854}} {
		if got := millis(tc.in); got != tc.want {
			t.Errorf("millis(%v) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// TestWrongType checks a key of another type: Get is ErrInvalid, GetMany
// leaves it out.
func TestWrongType(t *testing.T) {
	t.Parallel()
	u := redisURL(t)
	for _, ttl := range []time.Duration{0, time.Minute} {
		t.Run(fmt.Sprint("cache-ttl=", ttl), func(t *testing.T) {
			t.Parallel()
			c := openT(t, Config{URL: u, ClientCacheTTL: ttl})
			k := testenv.UniqueName("portkit-redis-list")
			t.Cleanup(func() { _ = c.Delete(context.Background(), k) })
			cl := c.Client()
			if err := cl.Do(t.Context(), cl.B().Rpush().Key(k).Element("x").Build()).Error(); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Get(t.Context(), k); !errors.Is(err, ports.ErrInvalid) {
				t.Errorf("Get of a list: err %v, want ErrInvalid", err)
			}
			if _, err := c.Incr(t.Context(), k, 1); !errors.Is(err, ports.ErrInvalid) {
				t.Errorf("Incr of a list: err %v, want ErrInvalid", err)
			}
			got, err := c.GetMany(t.Context(), k)
			if err != nil || len(got) != 0 {
				t.Errorf("GetMany of a list = %q, %v, want no entry and no error", got, err)
			}
		})
	}
}

// TestClusterCrossSlot runs GetMany and Delete on keys that hash to
// different slots of a cluster (MGET and DEL of them in one command would
// be a CROSSSLOT error).
func TestClusterCrossSlot(t *testing.T) {
	t.Parallel()
	u := clusterURL(t)
	for _, ttl := range []time.Duration{0, time.Minute} {
		t.Run(fmt.Sprint("cache-ttl=", ttl), func(t *testing.T) {
			t.Parallel()
			c := openT(t, Config{URL: u, ClientCacheTTL: ttl})
			ctx := t.Context()
			if m := c.Client().Mode(); m != rueidis.ClientModeCluster {
				t.Fatalf("REDIS_CLUSTER_URL: client mode %q, want cluster", m)
			}
			prefix := testenv.UniqueName("portkit-redis-xslot")
			var keys []string
			slots := map[int64]bool{}
			cl := c.Client()
			for _, tag := range []string{"a", "b", "c", "d", "e", "f"} {
				k := "{" + tag + "}" + prefix
				keys = append(keys, k)
				s, err := cl.Do(ctx, cl.B().ClusterKeyslot().Key(k).Build()).AsInt64()
				if err != nil {
					t.Fatal(err)
				}
				slots[s] = true
				if err := c.Set(ctx, k, []byte(tag), 0); err != nil {
					t.Fatalf("Set %s: %v", k, err)
				}
			}
			t.Cleanup(func() { _ = c.Delete(context.Background(), keys...) })
			if len(slots) < 2 {
				t.Fatalf("test keys share one slot; want several")
			}
			got, err := c.GetMany(ctx, append(keys, "{zz}"+prefix)...)
			if err != nil {
				t.Fatalf("GetMany across slots: %v", err)
			}
			if len(got) != len(keys) {
				t.Errorf("GetMany across slots returned %d entries, want %d", len(got), len(keys))
			}
			for _, k := range keys {
				if want := k[1:2]; string(got[k]) != want {
					t.Errorf("GetMany[%s] = %q, want %q", k, got[k], want)
				}
			}
			if err := c.Delete(ctx, keys[:4]...); err != nil {
				t.Fatalf("Delete across slots: %v", err)
			}
			got, err = c.GetMany(ctx, keys...)
			if err != nil || len(got) != 2 {
				t.Errorf("GetMany after deleting 4 of 6 keys = %d entries, %v, want 2", len(got), err)
			}
		})
	}
}

// TestClientCacheServedLocally shows that a hot Get does not go to the
// server: once the value is cached, the network path is cut (a proxy that
// swallows all traffic) and the Get still answers, while a Get of another
// key cannot.
func TestClientCacheServedLocally(t *testing.T) {
	t.Parallel()
	direct := redisURL(t)
	u, err := url.Parse(direct)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "redis" {
		t.Skipf("the proxy speaks plain TCP; REDIS_URL scheme is %s", u.Scheme)
	}
	p := newProxy(t, u.Host)
	viaProxy := *u
	viaProxy.Host = p.Addr()
	c := openT(t, Config{URL: viaProxy.String(), ClientCacheTTL: time.Minute, ClientCacheRequired: true})
	ctx := t.Context()
	k := testenv.UniqueName("portkit-redis-hot")
	t.Cleanup(func() {
		if d, err := Open(context.Background(), Config{URL: direct}, WithLogger(discardLogger())); err == nil {
			_ = d.Delete(context.Background(), k)
			_ = d.Close(context.Background())
		}
	})
	if err := c.Set(ctx, k, []byte("hot"), 0); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Get(ctx, k); err != nil || string(v) != "hot" {
		t.Fatalf("first Get = %q, %v", v, err)
	}

	p.blackhole.Store(true)

	within(t, "a cached Get with the network cut", time.Second, func() {
		v, err := c.Get(ctx, k)
		if err != nil || string(v) != "hot" {
			t.Errorf("cached Get with the network cut = %q, %v, want \"hot\" from local memory", v, err)
		}
		many, err := c.GetMany(ctx, k)
		if err != nil || string(many[k]) != "hot" {
			t.Errorf("cached GetMany with the network cut = %q, %v, want \"hot\" from local memory", many, err)
		}
	})
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := c.Get(short, k+"-cold"); !errors.Is(err, ports.ErrUnavailable) {
		t.Errorf("Get of an uncached key with the network cut: err %v, want ErrUnavailable", err)
	}
}

// TestClientCacheInvalidation: a value cached by one client is replaced
// within 100ms after another client writes the key.
func TestClientCacheInvalidation(t *testing.T) {
	t.Parallel()
	u := redisURL(t)
	cached := openT(t, Config{URL: u, ClientCacheTTL: time.Hour, ClientCacheRequired: true})
	other := openT(t, Config{URL: u})
	ctx := t.Context()
	k := testenv.UniqueName("portkit-redis-inval")
	t.Cleanup(func() { _ = other.Delete(context.Background(), k) })

	if err := other.Set(ctx, k, []byte("v1"), 0); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second Get is a local hit
		if v, err := cached.Get(ctx, k); err != nil || string(v) != "v1" {
			t.Fatalf("Get = %q, %v, want v1", v, err)
		}
	}
	for i, write := range []func() error{
		func() error { return other.Set(ctx, k, []byte("v2"), 0) },
		func() error { return other.Set(ctx, k, []byte("v3"), time.Hour) },
		func() error { return other.Delete(ctx, k) },
	} {
		want := []string{"v2", "v3", ""}[i]
		if err := write(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		var v []byte
		var err error
		for time.Since(start) < 100*time.Millisecond {
			v, err = cached.Get(ctx, k)
			if (want == "" && errors.Is(err, ports.ErrNotFound)) || (err == nil && string(v) == want) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if want == "" && !errors.Is(err, ports.ErrNotFound) {
			t.Errorf("write %d: 100ms after another client deleted the key, Get = %q, %v, want ErrNotFound", i, v, err)
		} else if want != "" && (err != nil || string(v) != want) {
			t.Errorf("write %d: 100ms after another client wrote %q, Get = %q, %v", i, want, v, err)
		}
	}
}

// TestClientCacheReadYourWrites: with client-side caching on, a Get right
// after this client's own write sees it (never the stale cached value).
func TestClientCacheReadYourWrites(t *testing.T) {
	t.Parallel()
	c := openT(t, Config{URL: redisURL(t), ClientCacheTTL: time.Hour, ClientCacheRequired: true})
	ctx := t.Context()
	base := testenv.UniqueName("portkit-redis-ryw")
	keys := []string{base + "0", base + "1", base + "2", base + "3", base + "n"}
	t.Cleanup(func() { _ = c.Delete(context.Background(), keys...) })

	stale := 0
	for i := range 500 {
		k := keys[i%4]
		if _, err := c.Get(ctx, k); err != nil && !errors.Is(err, ports.ErrNotFound) {
			t.Fatal(err)
		}
		want := strconv.Itoa(i)
		switch i % 3 {
		case 0:
			if err := c.Set(ctx, k, []byte(want), 0); err != nil {
				t.Fatal(err)
			}
		case 1:
			if err := c.Delete(ctx, k, keys[(i+1)%4]); err != nil {
				t.Fatal(err)
			}
			if ok, err := c.SetNX(ctx, k, []byte(want), time.Hour); err != nil || !ok {
				t.Fatalf("SetNX after Delete = %v, %v", ok, err)
			}
		case 2:
			if err := c.Set(ctx, k, []byte(strconv.Itoa(i-1)), 0); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Get(ctx, k); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Incr(ctx, k, 1); err != nil {
				t.Fatal(err)
			}
		}
		if v, err := c.Get(ctx, k); err != nil || string(v) != want {
			stale++
		}
		if m, err := c.GetMany(ctx, k); err != nil || string(m[k]) != want {
			stale++
		}
	}
	if stale != 0 {
		t.Errorf("%d of 1000 reads after this client's own write returned a stale value", stale)
	}
}

// TestConnectionFailure: a server that cannot be reached is ErrUnavailable
// wrapping the network error, at Open and on calls after the connection
// is lost; nothing hangs.
func TestConnectionFailure(t *testing.T) {
	t.Parallel()
	t.Run("open-refused", func(t *testing.T) {
		t.Parallel()
		addr := faults.ClosedPort(t)
		var err error
		within(t, "Open of a closed port", 10*time.Second, func() {
			_, err = Open(t.Context(), Config{URL: "redis://" + addr, DialTimeout: time.Second}, WithLogger(discardLogger()))
		})
		if !errors.Is(err, ports.ErrUnavailable) {
			t.Fatalf("Open of a closed port: err %v, want ErrUnavailable", err)
		}
		var ne *net.OpError
		if !errors.As(err, &ne) {
			t.Errorf("Open of a closed port: err %v does not wrap the *net.OpError", err)
		}
	})
	t.Run("lost", func(t *testing.T) {
		t.Parallel()
		u, err := url.Parse(redisURL(t))
		if err != nil || u.Scheme != "redis" {
			t.Skip("needs a redis:// REDIS_URL")
		}
		p := newProxy(t, u.Host)
		u.Host = p.Addr()
		c := openT(t, Config{URL: u.String()})
		ctx := t.Context()
		if _, err := c.Get(ctx, testenv.UniqueName("portkit-redis-lost")); !errors.Is(err, ports.ErrNotFound) {
			t.Fatalf("Get before the cut: %v", err)
		}
		p.Cut()
		within(t, "calls after the connection was lost", 10*time.Second, func() {
			_, err := c.Get(ctx, "k")
			if !errors.Is(err, ports.ErrUnavailable) {
				t.Errorf("Get after the connection was lost: err %v, want ErrUnavailable", err)
			}
			var oe *ports.OpError
			if errors.As(err, &oe) && oe.Err == nil {
				t.Errorf("Get after the connection was lost: %v carries no cause", err)
			}
			if err := c.Set(ctx, "k", []byte("v"), 0); !errors.Is(err, ports.ErrUnavailable) {
				t.Errorf("Set after the connection was lost: err %v, want ErrUnavailable", err)
			}
			if err := c.Check(ctx); !errors.Is(err, ports.ErrUnavailable) {
				t.Errorf("Check after the connection was lost: err %v, want ErrUnavailable", err)
			}
		})
	})
}

// TestCheckBounded: Check of a server that stopped answering returns
// ErrUnavailable within its check timeout, and within the caller's
// context when that ends sooner.
func TestCheckBounded(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(redisURL(t))
	if err != nil || u.Scheme != "redis" {
		t.Skip("needs a redis:// REDIS_URL")
	}
	p := newProxy(t, u.Host)
	u.Host = p.Addr()
	c := openT(t, Config{URL: u.String(), CheckTimeout: 300 * time.Millisecond})
	if err := c.Check(t.Context()); err != nil {
		t.Fatalf("Check of a live server: %v", err)
	}
	p.blackhole.Store(true)
	within(t, "Check of a silent server (check timeout 300ms)", 3*time.Second, func() {
		if err := c.Check(t.Context()); !errors.Is(err, ports.ErrUnavailable) {
			t.Errorf("Check of a silent server: err %v, want ErrUnavailable", err)
		}
	})
	c2 := openT(t, Config{URL: redisURL(t), CheckTimeout: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	within(t, "Check with a cancelled context", 3*time.Second, func() {
		if err := c2.Check(ctx); !errors.Is(err, ports.ErrUnavailable) || !errors.Is(err, context.Canceled) {
			t.Errorf("Check with a cancelled context: err %v, want ErrUnavailable wrapping context.Canceled", err)
		}
	})
}

// TestOpenSilentServer: Open gives up within its dial timeout on a server
// that accepts connections but never answers, within its context when that
// ends sooner, and at once when its context is already cancelled.
func TestOpenSilentServer(t *testing.T) {
	t.Parallel()
	s := newFakeServer(t, true)
	var err error
	within(t, "Open of a silent server (dial timeout 300ms)", 5*time.Second, func() {
		_, err = Open(t.Context(), Config{URL: s.URL(), DialTimeout: 300 * time.Millisecond}, WithLogger(discardLogger()))
	})
	if !errors.Is(err, ports.ErrUnavailable) {
		t.Errorf("Open of a silent server: err %v, want ErrUnavailable", err)
	}

	short, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	within(t, "Open of a silent server (dial timeout 1h, context 300ms)", 5*time.Second, func() {
		_, err = Open(short, Config{URL: s.URL(), DialTimeout: time.Hour}, WithLogger(discardLogger()))
	})
	if !errors.Is(err, ports.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Open of a silent server with a 300ms context: err %v, want ErrUnavailable wrapping context.DeadlineExceeded", err)
	}

	cancelled, cancel2 := context.WithCancel(t.Context())
	cancel2()
	within(t, "Open with a cancelled context", 3*time.Second, func() {
		_, err = Open(cancelled, Config{URL: s.URL(), DialTimeout: time.Hour}, WithLogger(discardLogger()))
	})
	if !errors.Is(err, ports.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("Open with a cancelled context: err %v, want ErrUnavailable wrapping context.Canceled", err)
	}
}

// TestClientCacheFallback: against a server without RESP3 and CLIENT
// TRACKING (a Redis 5 stand-in), Open falls back to plain reads with one
// log line, or fails with a clear ErrInvalid when caching is required.
func TestClientCacheFallback(t *testing.T) {
	t.Parallel()
	s := newFakeServer(t, false)
	var logs logBuffer
	c, err := Open(t.Context(), Config{URL: s.URL(), ClientCacheTTL: time.Minute, DialTimeout: 3 * time.Second}, WithLogger(logs.logger()))
	if err != nil {
		t.Fatalf("Open with client caching on a server without tracking: %v, want a fallback", err)
	}
	defer func() { _ = c.Close(context.Background()) }()
	if n := strings.Count(logs.String(), "client-side caching"); n != 1 {
		t.Errorf("fallback logged %d lines about client-side caching, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "client_cache=false") {
		t.Errorf("status line does not report client_cache=false:\n%s", logs.String())
	}
	if _, err := c.Get(t.Context(), "k"); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("Get after the fallback: err %v, want ErrNotFound (the fake's miss)", err)
	}

	_, err = Open(t.Context(), Config{URL: s.URL(), ClientCacheTTL: time.Minute, ClientCacheRequired: true, DialTimeout: 3 * time.Second}, WithLogger(discardLogger()))
	if !errors.Is(err, ports.ErrInvalid) || !errors.Is(err, rueidis.ErrNoCache) {
		t.Fatalf("Open requiring client caching on a server without tracking: err %v, want ErrInvalid wrapping rueidis.ErrNoCache", err)
	}
	if !strings.Contains(err.Error(), "CLIENT TRACKING") || !strings.Contains(err.Error(), EnvClientCacheRequired) {
		t.Errorf("error %q does not say what is missing and which setting demanded it", err)
	}
}

// TestNoSecretInLogsOrErrors: the password of the URL reaches the server
// but no log line or error.
func TestNoSecretInLogsOrErrors(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-Pa55"
	s := newFakeServer(t, false)
	u := "redis://app:" + secret + "@" + strings.TrimPrefix(s.URL(), "redis://") + "/2"
	var logs logBuffer
	c, err := Open(t.Context(), Config{URL: u, DialTimeout: 3 * time.Second}, WithLogger(logs.logger()))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if s.auths.Load() == 0 {
		t.Errorf("the fake server saw no AUTH: the password was not used")
	}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c)} {
		if strings.Contains(s, secret) {
			t.Errorf("printed Cache shows the password: %s", s)
		}
	}
	_ = c.Close(context.Background())
	if !strings.Contains(logs.String(), "redis: connected") || !strings.Contains(logs.String(), "app:xxxxx@") {
		t.Errorf("Open did not log its status with the URL redacted:\n%s", logs.String())
	}

	// A refused connection and a rejected password.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()
	urls := []string{"redis://app:" + secret + "@" + closed}
	if real := testenvURL(); real != nil {
		r := *real
		r.User = url.UserPassword("portkit-no-such-user", secret)
		urls = append(urls, r.String())
	}
	for _, u := range urls {
		_, err := Open(t.Context(), Config{URL: u, DialTimeout: 2 * time.Second}, WithLogger(logs.logger()))
		if err == nil {
			t.Errorf("Open(%s) succeeded, want an error", redactURL(u))
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error shows the password: %v", err)
		}
	}
	if strings.Contains(logs.String(), secret) {
		t.Errorf("a log line shows the password:\n%s", logs.String())
	}
}

// testenvURL returns REDIS_URL parsed when it is a redis:// URL, else nil
// (this test has a fake-server part that runs without a backend).
func testenvURL() *url.URL {
	u, err := url.Parse(strings.TrimSpace(os.Getenv("REDIS_URL")))
	if err != nil || u.Scheme != "redis" || u.Host == "" {
		return nil
	}
	return u
}
