package redis

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/ports"
)

// TestKeyPrefix (issue 13): the prefix is applied to every key sent (Get,
// GetMany, Set, SetNX, Delete, Incr, the PTTL fences, cluster routing by
// the prefixed key's slot) and never to the keys GetMany returns; two
// Caches with different prefixes over one server do not see each other's
// keys. In every mode.
func TestKeyPrefix(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			cfg := modeConfig(t, m.cluster, m.ttl)
			base := testenv.UniqueName("portkit-redis-prefix") + ":"
			raw := openT(t, cfg, WithKeyPrefix(""))
			a := openT(t, cfg, WithKeyPrefix(base+"a:"))
			cfgB := cfg
			cfgB.KeyPrefix = base + "b:" // the Config's prefix, the default
			b := openT(t, cfgB)
			ctx := t.Context()
			keys := make([]string, 30) // across slots on the cluster
			for i := range keys {
				keys[i] = "k" + strconv.Itoa(i)
			}
			t.Cleanup(func() {
				for _, c := range []*Cache{a, b} {
					_ = c.Delete(context.Background(), append(keys, "n", "nx")...)
				}
			})

			for _, k := range keys {
				if err := a.Set(ctx, k, []byte("a-"+k), 0); err != nil {
					t.Fatalf("a.Set: %v", err)
				}
				if err := b.Set(ctx, k, []byte("b-"+k), 0); err != nil {
					t.Fatalf("b.Set: %v", err)
				}
			}
			if v, err := raw.Get(ctx, base+"a:k1"); err != nil || string(v) != "a-k1" {
				t.Errorf("unprefixed Get of a's key as stored = %q, %v, want a-k1", v, err)
			}
			if v, err := raw.Get(ctx, "k1"); !errors.Is(err, ports.ErrNotFound) {
				t.Errorf("unprefixed Get(k1) = %q, %v, want ErrNotFound", v, err)
			}
			for _, c := range []struct {
				c    *Cache
				name string
			}{{a, "a"}, {b, "b"}} {
				got, err := c.c.GetMany(ctx, append(keys, "k1", "missing")...)
				if err != nil || len(got) != len(keys) {
					t.Fatalf("%s.GetMany = %d entries, %v, want %d", c.name, len(got), err, len(keys))
				}
				for _, k := range keys {
					if string(got[k]) != c.name+"-"+k {
						t.Errorf("%s.GetMany[%s] = %q, want %q (returned keys carry no prefix)", c.name, k, got[k], c.name+"-"+k)
					}
				}
			}

			// Delete, Incr and SetNX stay within their prefix; with
			// client-side caching, each write is read back at once.
			if err := b.Delete(ctx, keys[:20]...); err != nil {
				t.Fatal(err)
			}
			if got, err := b.GetMany(ctx, keys...); err != nil || len(got) != len(keys)-20 {
				t.Errorf("b.GetMany right after b.Delete of 20 = %d entries, %v, want %d", len(got), err, len(keys)-20)
			}
			if got, err := a.GetMany(ctx, keys...); err != nil || len(got) != len(keys) {
				t.Errorf("a.GetMany after b.Delete = %d entries, %v, want %d", len(got), err, len(keys))
			}
			if n, err := a.Incr(ctx, "n", 5); err != nil || n != 5 {
				t.Errorf("a.Incr = %d, %v", n, err)
			}
			if n, err := b.Incr(ctx, "n", 1); err != nil || n != 1 {
				t.Errorf("b.Incr of its own n = %d, %v, want 1", n, err)
			}
			if ok, err := a.SetNX(ctx, "nx", []byte("a"), 0); err != nil || !ok {
				t.Errorf("a.SetNX = %v, %v", ok, err)
			}
			if ok, err := b.SetNX(ctx, "nx", []byte("b"), 0); err != nil || !ok {
				t.Errorf("b.SetNX of a key only a has = %v, %v, want true", ok, err)
			}
			for i, k := range keys[20:] {
				want := "a2-" + strconv.Itoa(i)
				if _, err := a.Get(ctx, k); err != nil { // cached, with client-side caching
					t.Fatal(err)
				}
				if err := a.Set(ctx, k, []byte(want), 0); err != nil {
					t.Fatal(err)
				}
				if v, err := a.Get(ctx, k); err != nil || string(v) != want {
					t.Errorf("a.Get right after a.Set = %q, %v, want %q", v, err, want)
				}
				if v, err := b.Get(ctx, k); err != nil || string(v) != "b-"+k {
					t.Errorf("b.Get after a.Set = %q, %v, want %q", v, err, "b-"+k)
				}
			}
		})
	}
}

// TestKeyPrefixFromEnv: REDIS_KEY_PREFIX sets Config.KeyPrefix.
func TestKeyPrefixFromEnv(t *testing.T) {
	t.Setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
	t.Setenv("REDIS_KEY_PREFIX", "orders:")
	cfg, err := ConfigFromEnv()
	if err != nil || cfg.KeyPrefix != "orders:" {
		t.Errorf("ConfigFromEnv with REDIS_KEY_PREFIX=orders: = KeyPrefix %q, %v", cfg.KeyPrefix, err)
	}
}
