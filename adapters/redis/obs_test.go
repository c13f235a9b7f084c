package redis

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/internal/obs/obstest"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/internal/testutil"
)

// TestTelemetry: one span per operation with the semantic conventions'
// attributes, hits and misses (client-side hits apart), errors by
// sentinel, and never a key or a value.
func TestTelemetry(t *testing.T) {
	u := redisURL(t)
	s := obstest.New(t)
	c := openT(t, Config{URL: u, ClientCacheTTL: time.Minute, KeyPrefix: testenv.UniqueName("pk_t2:") + ":"},
		WithTracerProvider(s.TP), WithMeterProvider(s.MP))
	if c.cacheTTL == 0 {
		t.Skip("the server does not support client-side caching")
	}
	ctx := context.Background()
	key, val := "key-"+testutil.SecretPassword, []byte("value-"+testutil.SecretPassword)
	if err := c.Set(ctx, key, val, time.Minute); err != nil {
		t.Fatal(err)
	}
	defer c.Delete(ctx, key)
	for range 3 { // a miss of the local cache, then local hits
		if _, err := c.Get(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = c.Get(ctx, "absent-"+testutil.SecretPassword)
	if _, err := c.GetMany(ctx, key, "absent"); err != nil {
		t.Fatal(err)
	}
	_ = c.Set(ctx, key, val, -time.Second) // ErrInvalid
	if _, err := c.Incr(ctx, key, 1); err == nil {
		t.Fatal("Incr of a non-integer succeeded")
	}
	if err := c.Check(ctx); err != nil {
		t.Fatal(err)
	}

	gets := s.Named("cache.get")
	if len(gets) != 4 {
		t.Fatalf("%d cache.get spans: %v", len(gets), obstest.Names(s.Ended()))
	}
	obstest.WantAttrs(t, gets[0], "db.system.name", "redis", "db.operation.name", "get", "server.port", "6379", "portkit.port", "cache")
	obstest.WantNoAttr(t, gets[3], "error.type")
	sets := s.Named("cache.set")
	obstest.WantAttrs(t, sets[1], "error.type", "ErrInvalid")
	obstest.WantAttrs(t, s.Span("cache.incr"), "error.type", "ErrInvalid")
	if len(s.Named("cache.get_many")) != 1 || len(s.Named("check redis")) != 1 {
		t.Errorf("spans %v", obstest.Names(s.Ended()))
	}
	local := s.Total(obs.MetricCacheHits, "portkit.cache.client_side", "true")
	remote := s.Total(obs.MetricCacheHits, "portkit.cache.client_side", "false")
	if local < 2 || local+remote != 4 {
		t.Errorf("client-side hits %v, server hits %v: want 4 hits, 2 or more client-side (Get 2nd and 3rd, GetMany)", local, remote)
	}
	if m := s.Total(obs.MetricCacheMisses); m != 2 {
		t.Errorf("misses %v, want 2", m)
	}
	s.NoSecret(testutil.SecretMarker)
}

// TestServerAddressHoldsNoSecret: server.address, the only part of the
// URL the spans record, never holds a credential.
func TestServerAddressHoldsNoSecret(t *testing.T) {
	n := 0
	for _, f := range testutil.SecretForms("cache.internal:6380") {
		if f.Backend != "redis" {
			continue
		}
		cfg, err := ConfigFromEnviron(f.Env)
		if err != nil {
			continue
		}
		co, err := cfg.clientOption()
		if err != nil {
			continue
		}
		host, _ := serverAddress(co.InitAddress)
		if strings.Contains(host, testutil.SecretMarker) || strings.Contains(host, "app") {
			t.Errorf("%s: server.address %q", f.Name, host)
		}
		n++
	}
	if n < 3 {
		t.Fatalf("only %d forms parsed", n)
	}
}
