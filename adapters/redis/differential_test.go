package redis

import (
	"context"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/ports"
)

// outcome is what a Cache call returned, in a form two implementations
// can be compared by: the sentinel's name and the values.
type outcome string

func result(err error, v ...any) outcome {
	if err != nil {
		return outcome("err " + ports.KindName(err))
	}
	var b strings.Builder
	b.WriteString("ok")
	for _, x := range v {
		switch x := x.(type) {
		case []byte:
			fmt.Fprintf(&b, " %q(nil=%t)", x, x == nil)
		case map[string][]byte:
			for _, k := range slices.Sorted(maps.Keys(x)) {
				fmt.Fprintf(&b, " %q=%q(nil=%t)", k, x[k], x[k] == nil)
			}
		default:
			fmt.Fprintf(&b, " %v", x)
		}
	}
	return outcome(b.String())
}

// call is one Cache operation.
type call struct {
	name string
	do   func(ctx context.Context, c ports.Cache) outcome
	keys []string // the keys it names
}

func cGet(k string) call {
	return call{"Get " + strconv.Quote(k), func(ctx context.Context, c ports.Cache) outcome {
		v, err := c.Get(ctx, k)
		return result(err, v)
	}, []string{k}}
}

func cGetMany(keys ...string) call {
	return call{fmt.Sprintf("GetMany %q", keys), func(ctx context.Context, c ports.Cache) outcome {
		m, err := c.GetMany(ctx, keys...)
		return result(err, m)
	}, keys}
}

func cSet(k, v string, ttl time.Duration) call {
	return call{fmt.Sprintf("Set %q %q %v", k, v, ttl), func(ctx context.Context, c ports.Cache) outcome {
		return result(c.Set(ctx, k, []byte(v), ttl))
	}, []string{k}}
}

func cSetNX(k, v string, ttl time.Duration) call {
	return call{fmt.Sprintf("SetNX %q %q %v", k, v, ttl), func(ctx context.Context, c ports.Cache) outcome {
		ok, err := c.SetNX(ctx, k, []byte(v), ttl)
		return result(err, ok)
	}, []string{k}}
}

func cDelete(keys ...string) call {
	return call{fmt.Sprintf("Delete %q", keys), func(ctx context.Context, c ports.Cache) outcome {
		return result(c.Delete(ctx, keys...))
	}, keys}
}

func cIncr(k string, d int64) call {
	return call{fmt.Sprintf("Incr %q %d", k, d), func(ctx context.Context, c ports.Cache) outcome {
		n, err := c.Incr(ctx, k, d)
		return result(err, n)
	}, []string{k}}
}

// diffCases are the targeted sequences: each starts on keys nobody else
// uses (a prefix of its own on both sides).
func diffCases() map[string][]call {
	const hour = time.Hour
	cases := map[string][]call{
		"empty-value-vs-missing": {cSet("e", "", 0), cGet("e"), cGet("missing"), cGetMany("e", "missing"), cIncr("e", 1), cGet("e")},
		"getmany-duplicates":     {cSet("a", "1", 0), cGetMany("a", "a", "missing", "missing"), cGetMany(), cGetMany("missing")},
		"delete-duplicates":      {cSet("a", "1", 0), cSet("b", "2", 0), cDelete("a", "a", "missing", "b", "b"), cGet("a"), cGet("b"), cDelete()},
		"setnx-ttl-existing":     {cSet("k", "a", 0), cSetNX("k", "b", hour), cGet("k"), cSetNX("k", "c", 0), cGet("k"), cDelete("k"), cSetNX("k", "d", hour), cSetNX("k", "e", hour), cGet("k")},
		"set-overwrites":         {cSet("k", "a", hour), cSet("k", "b", 0), cGet("k"), cIncr("k", 1), cSet("k", "7", 0), cIncr("k", 1), cGet("k")},
		"incr-missing":           {cIncr("z", 0), cGet("z"), cIncr("m", math.MinInt64), cIncr("m", -1), cGet("m"), cIncr("x", math.MaxInt64), cIncr("x", 1), cIncr("x", math.MinInt64), cGet("x")},
		"incr-overflow":          {cSet("k", "9223372036854775807", 0), cIncr("k", 1), cGet("k"), cSet("k", "-9223372036854775808", 0), cIncr("k", -1), cIncr("k", math.MaxInt64), cGet("k")},
		"incr-after-ttl-set":     {cSet("k", "41", hour), cIncr("k", 1), cGet("k")},
		"max-ttl":                {cSet("k", "v", time.Duration(math.MaxInt64)), cGet("k"), cSetNX("n", "v", time.Duration(math.MaxInt64)), cGet("n"), cIncr("c", 1), cSet("c", "1", time.Duration(math.MaxInt64)), cIncr("c", 1)},
		"sub-ms-ttl-accepted":    {cSet("k", "v", time.Nanosecond), cSetNX("n", "v", time.Microsecond)},
		"values-are-copied": {cSet("k", "abc", 0), {"Get and modify", func(ctx context.Context, c ports.Cache) outcome {
			v, err := c.Get(ctx, "k")
			if len(v) > 0 {
				v[0] = 'X'
			}
			return result(err, v)
		}, []string{"k"}}, cGet("k")},
		"bad-arguments": {
			cGet(""), cGetMany("a", ""), cSet("", "v", 0), cSet("k", "v", -1), cSetNX("", "v", 0), cSetNX("k", "v", -time.Nanosecond),
			cDelete("a", ""), cIncr("", 1), cGet("k"),
		},
		"binary-values-and-keys": {
			cSet("nul\x00key", "a\x00b", 0), cGet("nul\x00key"), cSet("ünï code", "\xff\xfe not utf-8", 0), cGet("ünï code"),
			cSet("sp ace\n", "x", 0), cGetMany("nul\x00key", "ünï code", "sp ace\n"),
		},
	}
	var seq []call
	for _, v := range []string{
		" 1", "1 ", "+1", "01", "-0", "00", "0x10", "1e3", "1.5", "1,000", "", "-", "+", "9223372036854775808",
		"-9223372036854775809", "99999999999999999999", "٣", "１", "\x001", "1\x00", "0", "-1", "-9223372036854775808",
		"9223372036854775807", "123456789012345678901",
	} {
		seq = append(seq, cSet("k", v, 0), cIncr("k", 1), cGet("k"), cIncr("k", -1), cGet("k"))
	}
	cases["incr-forms"] = seq
	return cases
}

// TestFakeAgrees is a differential check of fakes.Cache against the
// adapter on a real server, in every mode: the targeted sequences above
// (the edges issue 13 lists: Incr forms and overflow, SetNX with a TTL on
// an existing key, GetMany and Delete duplicates, empty value vs missing,
// TTL limits, bad arguments) and a seeded random sequence, comparing every
// call's outcome.
func TestFakeAgrees(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			cfg := modeConfig(t, m.cluster, m.ttl)
			run := func(t *testing.T, calls []call) {
				prefix := testenv.UniqueName("portkit-redis-diff") + ":"
				real := openT(t, cfg, WithKeyPrefix(prefix))
				fake := fakes.NewCache(fakes.WithKeyPrefix(prefix))
				t.Cleanup(func() {
					_ = fake.Close(context.Background())
					var keys []string
					for _, c := range calls {
						for _, k := range c.keys {
							if k != "" {
								keys = append(keys, k)
							}
						}
					}
					_ = real.Delete(context.Background(), keys...)
				})
				for i, c := range calls {
					want, got := c.do(t.Context(), real), c.do(t.Context(), fake)
					if want != got {
						t.Errorf("step %d, %s: redis %s, fake %s", i, c.name, want, got)
					}
				}
			}
			for name, calls := range diffCases() {
				t.Run(name, func(t *testing.T) { run(t, calls) })
			}
			t.Run("random", func(t *testing.T) {
				const ops = 1500
				run(t, randomCalls(rand.New(rand.NewPCG(13, 11)), ops))
			})
		})
	}
}

// randomCalls returns n calls over a few keys and edge values, without
// expiry in play (TTL 0 or an hour), so that the outcome does not depend
// on timing.
func randomCalls(r *rand.Rand, n int) []call {
	keys := []string{"a", "b", "c", "d", "{t}x", "{t}y", "n"}
	values := []string{"", "0", "1", "-1", "+1", " 2", "007", "9223372036854775807", "-9223372036854775808", "x", "\x00", "ü"}
	deltas := []int64{0, 1, -1, 100, math.MaxInt64, math.MinInt64}
	ttls := []time.Duration{0, time.Hour}
	key := func() string { return keys[r.IntN(len(keys))] }
	someKeys := func() []string {
		ks := make([]string, r.IntN(4))
		for i := range ks {
			ks[i] = key()
		}
		return ks
	}
	calls := make([]call, n)
	for i := range calls {
		switch r.IntN(6) {
		case 0:
			calls[i] = cGet(key())
		case 1:
			calls[i] = cGetMany(someKeys()...)
		case 2:
			calls[i] = cSet(key(), values[r.IntN(len(values))], ttls[r.IntN(len(ttls))])
		case 3:
			calls[i] = cSetNX(key(), values[r.IntN(len(values))], ttls[r.IntN(len(ttls))])
		case 4:
			calls[i] = cDelete(someKeys()...)
		default:
			calls[i] = cIncr(key(), deltas[r.IntN(len(deltas))])
		}
	}
	return calls
}

// lifeStep is one call of TestFakeAgreesLifecycle.
type lifeStep struct {
	name string
	do   func(c cacheConnector) outcome
}

// TestFakeAgreesLifecycle: the fake and the adapter agree on the entry
// rules and on Close: a cancelled or nil ctx before the arguments, Close
// with a cancelled ctx (nothing in flight: it closes, nil), a second
// Close, every call after Close.
func TestFakeAgreesLifecycle(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			real := openT(t, modeConfig(t, m.cluster, m.ttl))
			fake := fakes.NewCache()
			cancelled, cancel := context.WithCancel(t.Context())
			cancel()
			var steps []lifeStep
			for _, bad := range []bool{false, true} {
				for _, ctx := range []struct {
					name string
					ctx  context.Context
				}{{"nil", nilCtx}, {"cancelled", cancelled}} {
					for name := range cacheCalls(fake, bad) {
						steps = append(steps, lifeStep{fmt.Sprintf("%s(%s ctx, bad args %t)", name, ctx.name, bad), func(c cacheConnector) outcome {
							return result(cacheCalls(c, bad)[name](ctx.ctx))
						}})
					}
				}
			}
			closeStep := func(name string, ctx context.Context) lifeStep {
				return lifeStep{name, func(c cacheConnector) outcome { return result(c.Close(ctx)) }}
			}
			steps = append(steps, closeStep("Close(nil)", nilCtx), closeStep("Close(cancelled)", cancelled),
				closeStep("second Close", t.Context()), closeStep("Close(nil) after Close", nilCtx))
			for _, bad := range []bool{false, true} {
				for name := range cacheCalls(fake, bad) {
					for _, ctx := range []context.Context{t.Context(), nilCtx, cancelled} {
						steps = append(steps, lifeStep{fmt.Sprintf("%s after Close (bad args %t)", name, bad), func(c cacheConnector) outcome {
							return result(cacheCalls(c, bad)[name](ctx))
						}})
					}
				}
			}
			for i, s := range steps {
				if want, got := s.do(real), s.do(fake); want != got {
					t.Errorf("step %d, %s: redis %s, fake %s", i, s.name, want, got)
				}
			}
		})
	}
}
