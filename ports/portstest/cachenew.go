package portstest

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/portkit/portkit/ports"
)

func cacheNewCases() []testCase[*cacheEnv] {
	return []testCase[*cacheEnv]{
		{"TTLBelowMillisecond", func(t *testing.T, e *cacheEnv) {
			if e.Advance == nil {
				t.Skip("needs CacheSetup.Advance: on real time the boundary is a race")
			}
			ctx := caseCtx(t)
			for _, ttl := range []time.Duration{time.Nanosecond, 999 * time.Microsecond} {
				k := e.key("sub-ms-" + ttl.String())
				e.mustSet(t, ctx, k, []byte("v"), ttl)
				e.wantValue(t, ctx, fmt.Sprintf("Get right after Set with TTL %v (counts as 1ms)", ttl), k, []byte("v"))
				// Redis keeps a key until its clock is past the expiry:
				// at exactly 1 ms it may still be there, after 2 ms it is not.
				e.Advance(2 * time.Millisecond)
				e.wantMissing(t, ctx, fmt.Sprintf("Get 2ms after Set with TTL %v", ttl), k)
			}
			k := e.key("nx-sub-ms")
			ok, err := e.Cache.SetNX(ctx, k, []byte("v"), time.Nanosecond)
			if err != nil || !ok {
				t.Fatalf("SetNX with TTL 1ns = %v, %v", ok, err)
			}
			e.wantValue(t, ctx, "Get right after SetNX with TTL 1ns", k, []byte("v"))
		}},
		{"TTLMaxInt64", func(t *testing.T, e *cacheEnv) {
			ctx := caseCtx(t)
			k := e.key("forever")
			wantNoErr(t, "Set with TTL math.MaxInt64", e.Cache.Set(ctx, k, []byte("v"), time.Duration(math.MaxInt64)))
			e.wantValue(t, ctx, "Get after Set with TTL math.MaxInt64", k, []byte("v"))
			k2 := e.key("forever-nx")
			ok, err := e.Cache.SetNX(ctx, k2, []byte("w"), time.Duration(math.MaxInt64))
			wantNoErr(t, "SetNX with TTL math.MaxInt64", err)
			if !ok {
				t.Errorf("SetNX of an absent key with TTL math.MaxInt64 = false")
			}
			if e.Advance != nil {
				e.Advance(100 * 365 * 24 * time.Hour)
				e.wantValue(t, ctx, "Get a century after Set with TTL math.MaxInt64", k, []byte("v"))
			}
		}},
		{"ValueOverMaxValueBytes", func(t *testing.T, e *cacheEnv) {
			if !e.HugeValues {
				t.Skip("needs CacheSetup.HugeValues (allocates 512 MiB)")
			}
			ctx := caseCtx(t)
			k := e.key("huge")
			v := make([]byte, ports.MaxValueBytes+1)
			wantOnly(t, "Set of a value over MaxValueBytes", e.Cache.Set(ctx, k, v, 0), ports.ErrInvalid)
			e.wantMissing(t, ctx, "Get after a refused Set", k)
		}},
		{"ReadYourWritesBatch", func(t *testing.T, e *cacheEnv) {
			ctx := caseCtx(t)
			const n = 5000
			keys := make([]string, n)
			for i := range keys {
				keys[i] = e.key(fmt.Sprintf("ryw-%04d", i))
				e.mustSet(t, ctx, keys[i], []byte("one"), 0)
			}
			got, err := e.Cache.GetMany(ctx, keys...)
			wantNoErr(t, "GetMany of 5 000 keys", err)
			if len(got) != n {
				t.Fatalf("GetMany of 5 000 keys just set returned %d", len(got))
			}
			wantNoErr(t, "Delete of 5 000 keys", e.Cache.Delete(ctx, keys...))
			got, err = e.Cache.GetMany(ctx, keys...)
			wantNoErr(t, "GetMany after Delete", err)
			if len(got) != 0 {
				t.Errorf("GetMany right after Delete of 5 000 keys returned %d of them: reads must see the caller's completed writes", len(got))
			}
			for _, k := range keys {
				e.mustSet(t, ctx, k, []byte("two"), 0)
			}
			got, err = e.Cache.GetMany(ctx, keys...)
			wantNoErr(t, "GetMany after Set", err)
			stale := 0
			for _, k := range keys {
				if !bytes.Equal(got[k], []byte("two")) {
					stale++
				}
			}
			if stale > 0 {
				t.Errorf("GetMany right after Set of 5 000 keys returned %d stale or missing values", stale)
			}
		}},
		{"KeyPrefix", func(t *testing.T, e *cacheEnv) {
			if e.Prefixed == nil {
				t.Skip("CacheSetup.Prefixed is nil")
			}
			ctx := caseCtx(t)
			p1, p2 := e.prefix+"p1:", e.prefix+"p2:"
			a, b := e.Prefixed(t, p1), e.Prefixed(t, p2)
			e.key("p1:k")
			e.key("p2:k")
			wantNoErr(t, "Set through the first prefix", a.Set(ctx, "k", []byte("1"), 0))
			if _, err := b.Get(ctx, "k"); !errors.Is(err, ports.ErrNotFound) {
				t.Errorf("Get through another prefix: got %v, want ErrNotFound", err)
			}
			wantNoErr(t, "Set through the second prefix", b.Set(ctx, "k", []byte("2"), 0))
			e.wantValue(t, ctx, "Get of the prefixed key without a prefix", p1+"k", []byte("1"))
			m, err := a.GetMany(ctx, "k", "absent")
			wantNoErr(t, "GetMany through a prefix", err)
			if got := slices.Sorted(maps.Keys(m)); !slices.Equal(got, []string{"k"}) || string(m["k"]) != "1" {
				t.Errorf("GetMany through a prefix returned keys %q, want [k] (the prefix never appears in returned keys)", got)
			}
			n, err := a.Incr(ctx, "n", 2)
			e.key("p1:n")
			wantNoErr(t, "Incr through a prefix", err)
			if n != 2 {
				t.Errorf("Incr = %d, want 2", n)
			}
			wantNoErr(t, "Delete through a prefix", a.Delete(ctx, "k", "n"))
			e.wantValue(t, ctx, "Get of the other prefix's key after Delete", p2+"k", []byte("2"))
		}},
		{"NilContext", func(t *testing.T, e *cacheEnv) {
			for _, c := range cacheCalls(e.Cache, false) {
				err := noPanic(t, c.name, func() error { return c.fn(nil) })
				wantOnly(t, c.name+" with a nil context", err, ports.ErrInvalid)
			}
		}},
		{"ClosedBeforeArguments", func(t *testing.T, e *cacheEnv) {
			if e.Connector == nil {
				t.Skip("CacheSetup.Connector is nil")
			}
			closeConn(t, e.Connector)
			ctx := caseCtx(t)
			for _, c := range slices.Concat(cacheCalls(e.Cache, true), cacheCalls(e.Cache, false)) {
				wantOnly(t, c.name+" after Close", noPanic(t, c.name, func() error { return c.fn(ctx) }), ports.ErrClosed)
			}
		}},
	}
}
