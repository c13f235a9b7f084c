package portstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portkit/portkit/ports"
)

// TestCache runs the Cache conformance suite: every case of [CacheCases]
// as a parallel subtest of a subtest named "Cache", each on a fresh cache
// from newCache (which must not call t.Parallel itself). Keys are prefixed
// with a string unique to the case, so a shared server is fine; nothing is
// flushed.
//
// It checks:
//   - Get of an absent key is ErrNotFound; Set then Get returns the value,
//     a second Set replaces it; empty, binary (every byte value) and large
//     (1 MiB) values and keys with spaces and non-ASCII runes round-trip;
//     the cache keeps its own copy of values in and out;
//   - TTL 0 never expires, a positive TTL expires (Get, GetMany, SetNX see
//     the key as absent), a later Set replaces the TTL, a negative TTL is
//     ErrInvalid and stores nothing;
//   - SetNX stores only when absent and reports it, keeps the old value,
//     honours its TTL;
//   - GetMany omits missing keys, with no key is an empty result;
//   - Delete removes one or many keys, ignores absent ones, with no key is a
//     no-op;
//   - Incr on a missing key starts at 0, on an existing one adds, keeps the
//     key's TTL, and is ErrInvalid on a non-integer value or on overflow
//     (the value is left as it was);
//   - an empty key is ErrInvalid for every method;
//   - 16 goroutines at once: 16×50 Incr sum exactly, exactly one SetNX
//     wins, concurrent Set/Get of own keys read their own values;
//   - a cancelled context makes every method return promptly with the
//     context's error or ErrUnavailable;
//   - after Connector.Close every method, and a second Close, return
//     ErrClosed.
//
// Capability flags: CacheSetup.Advance, when set, is the cache's clock and
// expiry cases advance it instead of sleeping (real-time cases sleep at most
// 1.2 s). A nil Connector skips the Close cases.
func TestCache(t *testing.T, newCache func(t *testing.T) CacheSetup) {
	t.Helper()
	runCases(t, "Cache", cacheCases(), func(t *testing.T) *cacheEnv {
		s := newCache(t)
		if s.Cache == nil {
			t.Fatal("CacheSetup.Cache is nil")
		}
		e := &cacheEnv{CacheSetup: s, prefix: uniquePrefix() + ":", keys: make(map[string]bool)}
		// Registered after the constructor's own cleanup, so it runs before
		// the cache is closed: a shared server keeps no key of the suite.
		t.Cleanup(e.cleanup)
		return e
	})
}

// CacheCases returns the names of the cases TestCache runs, in order.
func CacheCases() []string { return names(cacheCases()) }

// cacheEnv is one case's cache, its key prefix and the keys it used.
type cacheEnv struct {
	CacheSetup
	prefix string

	mu   sync.Mutex
	keys map[string]bool
}

// key returns name under the case's unique prefix and remembers it for
// cleanup.
func (e *cacheEnv) key(name string) string {
	k := e.prefix + name
	e.mu.Lock()
	e.keys[k] = true
	e.mu.Unlock()
	return k
}

// cleanup deletes every key the case used (best effort: the case may have
// closed the cache).
func (e *cacheEnv) cleanup() {
	e.mu.Lock()
	keys := make([]string, 0, len(e.keys))
	for k := range e.keys {
		keys = append(keys, k)
	}
	e.mu.Unlock()
	if len(keys) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = e.Cache.Delete(ctx, keys...)
}

// ttl returns the TTL expiry cases use: long under a fake clock, short
// under real time.
func (e *cacheEnv) ttl() time.Duration {
	if e.Advance != nil {
		return time.Hour
	}
	return time.Second
}

// pastTTL moves time beyond ttl(): by advancing the fake clock, or by
// sleeping.
func (e *cacheEnv) pastTTL() {
	if e.Advance != nil {
		e.Advance(time.Hour + time.Second)
		return
	}
	time.Sleep(1200 * time.Millisecond)
}

// mustSet sets key to value with ttl or fails t.
func (e *cacheEnv) mustSet(t *testing.T, ctx context.Context, key string, value []byte, ttl time.Duration) {
	t.Helper()
	wantNoErr(t, "Set "+key, e.Cache.Set(ctx, key, value, ttl))
}

// wantValue checks that Get(key) returns want.
func (e *cacheEnv) wantValue(t *testing.T, ctx context.Context, what, key string, want []byte) {
	t.Helper()
	got, err := e.Cache.Get(ctx, key)
	if err != nil {
		t.Errorf("%s: Get(%q): got err %v (%s), want the value %q", what, key, err, sentinelName(err), abbrev(want))
		return
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: Get(%q) = %q, want %q", what, key, abbrev(got), abbrev(want))
	}
}

// wantMissing checks that Get(key) is ErrNotFound.
func (e *cacheEnv) wantMissing(t *testing.T, ctx context.Context, what, key string) {
	t.Helper()
	got, err := e.Cache.Get(ctx, key)
	if !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("%s: Get(%q) = %q, err %v (%s), want ErrNotFound", what, key, abbrev(got), err, sentinelName(err))
	}
}

// abbrev shortens a value for a failure message.
func abbrev(b []byte) []byte {
	if len(b) > 64 {
		return append(append([]byte(nil), b[:64]...), "..."...)
	}
	return b
}

func (e *cacheEnv) skips() Skips { return e.Skip }

func cacheCases() []testCase[*cacheEnv] {
	return append(cacheBaseCases(), cacheNewCases()...)
}

func cacheBaseCases() []testCase[*cacheEnv] {
	return []testCase[*cacheEnv]{
		{"GetMissing", func(t *testing.T, e *cacheEnv) {
			e.wantMissing(t, caseCtx(t), "Get of a key never set", e.key("missing"))
		}},
		{"SetGet", func(t *testing.T, e *cacheEnv) {
			ctx := caseCtx(t)
			e.mustSet(t, ctx, e.key("k"), []byte("v1"), 0)
			e.wantValue(t, ctx, "Get after Set", e.key("k"), []byte("v1"))
		}},
		{"SetOverwrites", func(t *testing.T, e *cacheEnv) {
			ctx := caseCtx(t)
			e.mustSet(t, ctx, e.key("k"), []byte("first"), 0)
			e.mustSet(t, ctx, e.key("k"), []byte("second"), 0)
			e.wantValue(t, ctx, "Get after a second Set", e.key("k"), []byte("second"))
		}},
		{"EmptyValue", func(t *testing.T, e *cacheEnv) {
			ctx := caseCtx(t)
			e.mustSet(t, ctx, e.key("k"), []byte{}, 0)
			got, err := e.Cache.Get(ctx, e.key("k"))
			if err != nil || len(got) != 0 {
				t.Errorf("Get of a key set to an empty value: got %q, err %v (%s), want an empty value and no error", got, err, sentinelName(err))
			}
		}},
		{"BinaryValue", func(t *testing.T, e *cacheEnv) {
			ctx := caseCtx(t)
			v := make([]byte, 0, 512)
			for i := range 256 {
				v = append(v, byte(i))
			}
			v = append(v, 0xff, 0xfe, 0x00, 0x00, 0xc3, 0x28) // NULs and invalid UTF-8
			e.mustSet(t, ctx, e.key("bin"), v, 0)
			e.wantValue(t, ctx, "Get of a binary value", e.key("bin"), v)
		}},
		{"LargeValue", func(t *testing.T, e *cacheEnv) {
			ctx := caseCtx(t)
			v := make([]byte, 1<<20)
			_, _ = rand.Read(v)
			e.mustSet(t, ctx, e.key("big"), v, 0)
			got, err := e.Cache.Get(ctx, e.key("big"))
			wantNoErr(t, "Get of a 1 MiB value", err)
			if !bytes.Equal(got, v) {
				t.Errorf("Get of a 1 MiB value: got %d bytes that differ from the %d set", len(got), len(v))
			}
		}},
		{"UnusualKeys", func(t *testing.T, e *cacheEnv) {
			ctx := caseCtx(t)
			for i, k := range []string{"with space", "colon:and/slash", "ünïcødé-∑", "tab\tnewline\n", "*?[glob]"} {
				v := []byte("value " + strconv.Itoa(i))
				e.mustSet(t, ctx, e.key(k), v, 0)
				e.wantValue(t, ctx, "Get of an unusual key", e.key(k), v)
			}
			got, err := e.Cache.GetMany(ctx, e.key("*?[glob]"), e.key("*"))
			wantNoErr(t, "GetMany with glob characters", err)
			if len(got) != 1 {
				t.Errorf("GetMany(%q, %q): got %d entries, want 1 (keys are literal, not patterns)", e.key("*?[glob]"), e.key("*"), len(got))
			}
		}},
		{"ValuesAreCopied", func(t *testing.T, e *cacheEnv) {
			ctx := caseCtx(t)
			v := []byte("original")
			e.mustSet(t, ctx, e.key("k"), v, 0)
			copy(v, "MUTATED!")
			e.wantValue(t, ctx, "Get after the caller modified the slice it passed to Set", e.key("k"), []byte("original"))
			got, err := e.Cache.Get(ctx, e.key("k"))
			wantNoErr(t, "Get", err)
			copy(got, "MUTATED!")
			e.wantValue(t, ctx, "Get after the caller modified the slice Get returned", e.key("k"), []byte("original"))
			many, err := e.Cache.GetMany(ctx, e.key("k"))
			wantNoErr(t, "GetMany", err)
			copy(many[e.key("k")], "MUTATED!")
			e.wantValue(t, ctx, "Get after the caller modified a slice GetMany returned", e.key("k"), []byte("original"))
		}},
		{"TTLZeroNeverExpires", func(t *testing.T, e *cacheEnv) {
			ctx := caseCtx(t)
			e.mustSet(t, ctx, e.key("forever"), []byte("v"), 0)
			ok, err := e.Cache.SetNX(ctx, e.key("forever-nx"), []byte("v"), 0)
			if err != nil || !ok {
				t.Fatalf("SetNX of an absent key with TTL 0: got %v, %v, want true, nil", ok, err)
			}
			e.mustSet(t, ctx, e.key("expiring"), []byte("v"), e.ttl())
			e.pastTTL()
			e.wantMissing(t, ctx, "Get after the TTL of a key set with a TTL passed", e.key("expiring"))
			e.wantValue(t, ctx, "Get of a key Set with TTL 0 after time passed", e.key("forever"), []byte("v"))
			e.wantValue(t, ctx, "Get of a key SetNX with TTL 0 after time passed", e.key("forever-nx"), []byte("v"))
		}},
		{"TTLExpires", func(t *testing.T, e *cacheEnv) {
			ctx := caseCtx(t)
			e.mustSet(t, ctx, e.key("k"), []byte("v"), e.ttl())
			e.wantValue(t, ctx, "Get before the TTL passed", e.key("k"), []byte("v"))
			e.pastTTL()
			e.wantMissing(t, ctx, "Get after the TTL passed", e.key("k"))
			got, err := e.Cache.GetMany(ctx, e.key("k"))
			wantNoErr(t, "GetMany of an expired key", err)
			if _, ok := got[e.key("k")]; ok {
				t.Errorf("GetMany returned an expired key")
			}
		}},
		{"SetReplacesTTL", func(t *testing.T, e *cacheEnv) {
			ctx := caseCtx(t)
			e.mustSet(t, ctx, e.key("a"), []byte("v1"), e.ttl())
			e.mustSet(t, ctx, e.key("a"), []byte("v2"), 0)
			e.mustSet(t, ctx, e.key("b"), []byte("v1"), 0)
			e.mustSet(t, ctx, e.key("b"), []byte("v2"), e.ttl())
			e.pastTTL()
			e.wantValue(t, ctx, "Get after Set with TTL 0 replaced a Set with a TTL, once that TTL passed", e.key("a"), []byte("v2"))
			e.wantMissing(t, ctx, "Get after Set with a TTL replaced a Set with TTL 0, once the TTL passed", e.key("b"))
		}},
		{"NegativeTTL", func(t *testing.T, e *cacheEnv) {
			ctx := caseCtx(t)
			wantErr(t, "Set with a negative TTL", e.Cache.Set(ctx, e.key("k"), []byte("v"), -time.Second), ports.ErrInvalid)
			ok, err := e.Cache.SetNX(ctx, e.key("k"), []byte("v"), -time.Second)
			wantErr(t, "SetNX with a negative TTL", err, ports.ErrInvalid)
			if ok {
				t.Errorf("SetNX with a negative TTL reported that it stored the value")
			}
			e.wantMissing(t, ctx, "Get after Set and SetNX with a negative TTL", e.key("k"))
			e.mustSet(t, ctx, e.key("old"), []byte("old"), 0)
			wantErr(t, "Set over an existing key with a negative TTL", e.Cache.Set(ctx, e.key("old"), []byte("new"), -time.Millisecond), ports.ErrInvalid)
			e.wantValue(t, ctx, "Get after a rejected Set with a negative TTL", e.key("old"), []byte("old"))
		}},
		{"EmptyKey", func(t *testing.T, e *cacheEnv) {
			ctx := caseCtx(t)
			_, err := e.Cache.Get(ctx, "")
			wantErr(t, "Get(\"\")", err, ports.ErrInvalid)
			wantErr(t, "Set(\"\")", e.Cache.Set(ctx, "", []byte("v"), 0), ports.ErrInvalid)
			_, err = e.Cache.SetNX(ctx, "", []byte("v"), 0)
			wantErr(t, "SetNX(\"\")", err, ports.ErrInvalid)
			_, err = e.Cache.Incr(ctx, "", 1)
			wantErr(t, "Incr(\"\")", err, ports.ErrInvalid)
			wantErr(t, "Delete(\"\")", e.Cache.Delete(ctx, e.key("x"), ""), ports.ErrInvalid)
			_, err = e.Cache.GetMany(ctx, e.key("x"), "")
			wantErr(t, "GetMany with an empty key", err, ports.ErrInvalid)
		}},
		{"SetNXAbsent", func(t *testing.T, e *cacheEnv) {
			ctx := caseCtx(t)
			ok, err := e.Cache.SetNX(ctx, e.key("k"), []byte("v"), 0)
			wantNoErr(t, "SetNX of an absent key", err)
			if !ok {
				t.Errorf("SetNX of an absent key reported false, want true")
			}
			e.wantValue(t, ctx, "Get after SetNX of an absent key", e.key("k"), []byte("v"))
		}},
		{"SetNXPresent", func(t *testing.T, e *cacheEnv) {
			ctx := caseCtx(t)
			e.mustSet(t, ctx, e.key("k"), []byte("old"), 0)
			ok, err := e.Cache.SetNX(ctx, e.key("k"), []byte("new"), 0)
			wantNoErr(t, "SetNX of a present key", err)
			if ok {
				t.Errorf("SetNX of a present key reported true, want false")
			}
			e.wantValue(t, ctx, "Get after SetNX of a present key", e.key("k"), []byte("old"))
		}},
		{"SetNXTTL", func(t *testing.T, e *cacheEnv) {
			ctx := caseCtx(t)
			ok, err := e.Cache.SetNX(ctx, e.key("k"), []byte("v"), e.ttl())
			if err != nil || !ok {
				t.Fatalf("SetNX of an absent key with a TTL: got %v, %v, want true, nil", ok, err)
			}
			e.pastTTL()
			e.wantMissing(t, ctx, "Get after the TTL of a SetNX passed", e.key("k"))
			ok, err = e.Cache.SetNX(ctx, e.key("k"), []byte("again"), 0)
			if err != nil || !ok {
				t.Errorf("SetNX of an expired key: got %v, %v, want true, nil (an expired key is absent)", ok, err)
			}
			e.wantValue(t, ctx, "Get after SetNX of an expired key", e.key("k"), []byte("again"))
		}},
		{"GetManyMixed", func(t *testing.T, e *cacheEnv) {
			ctx := caseCtx(t)
			e.mustSet(t, ctx, e.key("a"), []byte("A"), 0)
			e.mustSet(t, ctx, e.key("c"), []byte("C"), 0)
			got, err := e.Cache.GetMany(ctx, e.key("a"), e.key("b"), e.key("c"), e.key("d"))
			wantNoErr(t, "GetMany with missing keys", err)
			if len(got) != 2 || string(got[e.key("a")]) != "A" || string(got[e.key("c")]) != "C" {
				t.Errorf("GetMany(a, b, c, d) with a and c set = %q, want exactly a=A and c=C (missing keys absent)", got)
			}
			if _, ok := got[e.key("b")]; ok {
				t.Errorf("GetMany returned an entry for a missing key")
			}
		}},
		{"GetManyAllMissing", func(t *testing.T, e *cacheEnv) {
			ctx := caseCtx(t)
			got, err := e.Cache.GetMany(ctx, e.key("x"), e.key("y"))
			wantNoErr(t, "GetMany of missing keys", err)
			if len(got) != 0 {
				t.Errorf("GetMany of missing keys = %q, want no entry", got)
			}
		}},
		{"GetManyNoKeys", func(t *testing.T, e *cacheEnv) {
			got, err := e.Cache.GetMany(caseCtx(t))
			wantNoErr(t, "GetMany with no key", err)
			if len(got) != 0 {
				t.Errorf("GetMany with no key = %q, want no entry", got)
			}
		}},
		{"Delete", func(t *testing.T, e *cacheEnv) {
			ctx := caseCtx(t)
			e.mustSet(t, ctx, e.key("k"), []byte("v"), 0)
			e.mustSet(t, ctx, e.key("other"), []byte("o"), 0)
			wantNoErr(t, "Delete of a present key", e.Cache.Delete(ctx, e.key("k")))
			e.wantMissing(t, ctx, "Get after Delete", e.key("k"))
			e.wantValue(t, ctx, "Get of a key Delete was not given", e.key("other"), []byte("o"))
			wantNoErr(t, "Delete of an already deleted key", e.Cache.Delete(ctx, e.key("k")))
		}},
		{"DeleteMany", func(t *testing.T, e *cacheEnv) {
			ctx := caseCtx(t)
			for _, k := range []string{"a", "b", "c", "keep"} {
				e.mustSet(t, ctx, e.key(k), []byte(k), 0)
			}
			wantNoErr(t, "Delete of several keys, some absent", e.Cache.Delete(ctx, e.key("a"), e.key("absent"), e.key("b"), e.key("c")))
			got, err := e.Cache.GetMany(ctx, e.key("a"), e.key("b"), e.key("c"), e.key("keep"))
			wantNoErr(t, "GetMany after Delete", err)
			if len(got) != 1 || string(got[e.key("keep")]) != "keep" {
				t.Errorf("after Delete(a, absent, b, c), GetMany(a, b, c, keep) = %q, want only keep", got)
			}
		}},
		{"DeleteNoKeys", func(t *testing.T, e *cacheEnv) {
			wantNoErr(t, "Delete with no key", e.Cache.Delete(caseCtx(t)))
		}},
		{"IncrMissing", func(t *testing.T, e *cacheEnv) {
			ctx := caseCtx(t)
			n, err := e.Cache.Incr(ctx, e.key("n"), 5)
			wantNoErr(t, "Incr of a missing key", err)
			if n != 5 {
				t.Errorf("Incr(missing, 5) = %d, want 5 (a missing key counts as 0)", n)
			}
			e.wantValue(t, ctx, "Get after Incr", e.key("n"), []byte("5"))
			n, err = e.Cache.Incr(ctx, e.key("neg"), -3)
			if err != nil || n != -3 {
				t.Errorf("Incr(missing, -3) = %d, %v, want -3, nil", n, err)
			}
		}},
		{"IncrExisting", func(t *testing.T, e *cacheEnv) {
			ctx := caseCtx(t)
			e.mustSet(t, ctx, e.key("n"), []byte("10"), 0)
			n, err := e.Cache.Incr(ctx, e.key("n"), -3)
			if err != nil || n != 7 {
				t.Errorf("Incr of \"10\" by -3 = %d, %v, want 7, nil", n, err)
			}
			n, err = e.Cache.Incr(ctx, e.key("n"), 0)
			if err != nil || n != 7 {
				t.Errorf("Incr of \"7\" by 0 = %d, %v, want 7, nil", n, err)
			}
			e.mustSet(t, ctx, e.key("neg"), []byte("-20"), 0)
			n, err = e.Cache.Incr(ctx, e.key("neg"), 1)
			if err != nil || n != -19 {
				t.Errorf("Incr of \"-20\" by 1 = %d, %v, want -19, nil", n, err)
			}
			e.wantValue(t, ctx, "Get after Incr", e.key("neg"), []byte("-19"))
		}},
		{"IncrNonInteger", func(t *testing.T, e *cacheEnv) {
			ctx := caseCtx(t)
			for i, v := range []string{"abc", "1.5", "", " 1", "1e3", "99999999999999999999"} {
				k := e.key("bad" + strconv.Itoa(i))
				e.mustSet(t, ctx, k, []byte(v), 0)
				_, err := e.Cache.Incr(ctx, k, 1)
				wantErr(t, "Incr of the non-integer value "+strconv.Quote(v), err, ports.ErrInvalid)
				e.wantValue(t, ctx, "Get after a rejected Incr", k, []byte(v))
			}
		}},
		{"IncrOverflow", func(t *testing.T, e *cacheEnv) {
			ctx := caseCtx(t)
			maxV := []byte(strconv.FormatInt(math.MaxInt64, 10))
			e.mustSet(t, ctx, e.key("max"), maxV, 0)
			_, err := e.Cache.Incr(ctx, e.key("max"), 1)
			wantErr(t, "Incr of MaxInt64 by 1", err, ports.ErrInvalid)
			e.wantValue(t, ctx, "Get after an overflowing Incr", e.key("max"), maxV)
			minV := []byte(strconv.FormatInt(math.MinInt64, 10))
			e.mustSet(t, ctx, e.key("min"), minV, 0)
			_, err = e.Cache.Incr(ctx, e.key("min"), -1)
			wantErr(t, "Incr of MinInt64 by -1", err, ports.ErrInvalid)
			e.wantValue(t, ctx, "Get after an underflowing Incr", e.key("min"), minV)
		}},
		{"IncrKeepsTTL", func(t *testing.T, e *cacheEnv) {
			ctx := caseCtx(t)
			e.mustSet(t, ctx, e.key("n"), []byte("1"), e.ttl())
			n, err := e.Cache.Incr(ctx, e.key("n"), 1)
			if err != nil || n != 2 {
				t.Fatalf("Incr of \"1\" by 1 = %d, %v, want 2, nil", n, err)
			}
			n, err = e.Cache.Incr(ctx, e.key("fresh"), 1)
			if err != nil || n != 1 {
				t.Fatalf("Incr of a missing key by 1 = %d, %v, want 1, nil", n, err)
			}
			e.pastTTL()
			e.wantMissing(t, ctx, "Get of a key with a TTL after Incr and after the TTL passed (Incr must keep the TTL)", e.key("n"))
			e.wantValue(t, ctx, "Get of a key created by Incr after time passed (it has no expiry)", e.key("fresh"), []byte("1"))
		}},
		{"ConcurrentIncr", func(t *testing.T, e *cacheEnv) {
			ctx := caseCtx(t)
			const per = 50
			errs := parallel16(func(int) error {
				for range per {
					if _, err := e.Cache.Incr(ctx, e.key("counter"), 1); err != nil {
						return err
					}
				}
				return nil
			})
			wantNoErr(t, "16 goroutines calling Incr", firstErr(errs))
			e.wantValue(t, ctx, "Get after 16 goroutines each called Incr 50 times", e.key("counter"), []byte(strconv.Itoa(16*per)))
		}},
		{"ConcurrentSetNX", func(t *testing.T, e *cacheEnv) {
			ctx := caseCtx(t)
			var wins atomic.Int32
			winner := make([]bool, 16)
			errs := parallel16(func(i int) error {
				ok, err := e.Cache.SetNX(ctx, e.key("lock"), []byte(strconv.Itoa(i)), 0)
				if ok {
					wins.Add(1)
					winner[i] = true
				}
				return err
			})
			wantNoErr(t, "16 goroutines calling SetNX", firstErr(errs))
			if n := wins.Load(); n != 1 {
				t.Fatalf("16 concurrent SetNX of one key: %d reported true, want exactly 1", n)
			}
			got, err := e.Cache.Get(ctx, e.key("lock"))
			wantNoErr(t, "Get after concurrent SetNX", err)
			i, _ := strconv.Atoi(string(got))
			if !winner[i] {
				t.Errorf("after concurrent SetNX the key holds %q, which is not the value of the SetNX that reported true", got)
			}
		}},
		{"ConcurrentSetGet", func(t *testing.T, e *cacheEnv) {
			ctx := caseCtx(t)
			errs := parallel16(func(i int) error {
				for j := range 20 {
					k := e.key("g" + strconv.Itoa(i))
					v := []byte(strconv.Itoa(i) + "/" + strconv.Itoa(j))
					if err := e.Cache.Set(ctx, k, v, 0); err != nil {
						return err
					}
					got, err := e.Cache.Get(ctx, k)
					if err != nil {
						return err
					}
					if !bytes.Equal(got, v) {
						return errors.New("Get returned " + strconv.Quote(string(got)) + ", want its own Set's " + strconv.Quote(string(v)))
					}
					if _, err := e.Cache.GetMany(ctx, k, e.key("g0"), e.key("g15")); err != nil {
						return err
					}
				}
				return e.Cache.Delete(ctx, e.key("g"+strconv.Itoa(i)))
			})
			wantNoErr(t, "16 goroutines calling Set, Get, GetMany and Delete on their own keys", firstErr(errs))
		}},
		{"CancelledContext", func(t *testing.T, e *cacheEnv) {
			k := e.key("k")
			wantCancelled(t, "Get", func(ctx context.Context) error { _, err := e.Cache.Get(ctx, k); return err })
			wantCancelled(t, "GetMany", func(ctx context.Context) error { _, err := e.Cache.GetMany(ctx, k); return err })
			wantCancelled(t, "Set", func(ctx context.Context) error { return e.Cache.Set(ctx, k, []byte("v"), 0) })
			wantCancelled(t, "SetNX", func(ctx context.Context) error { _, err := e.Cache.SetNX(ctx, k, []byte("v"), 0); return err })
			wantCancelled(t, "Delete", func(ctx context.Context) error { return e.Cache.Delete(ctx, k) })
			wantCancelled(t, "Incr", func(ctx context.Context) error { _, err := e.Cache.Incr(ctx, k, 1); return err })
		}},
		{"AfterClose", func(t *testing.T, e *cacheEnv) {
			if e.Connector == nil {
				t.Skip("CacheSetup.Connector is nil")
			}
			ctx := caseCtx(t)
			k := e.key("k")
			closeConn(t, e.Connector)
			_, err := e.Cache.Get(ctx, k)
			wantErr(t, "Get after Close", err, ports.ErrClosed)
			_, err = e.Cache.GetMany(ctx, k)
			wantErr(t, "GetMany after Close", err, ports.ErrClosed)
			wantErr(t, "Set after Close", e.Cache.Set(ctx, k, []byte("v"), 0), ports.ErrClosed)
			_, err = e.Cache.SetNX(ctx, k, []byte("v"), 0)
			wantErr(t, "SetNX after Close", err, ports.ErrClosed)
			wantErr(t, "Delete after Close", e.Cache.Delete(ctx, k), ports.ErrClosed)
			_, err = e.Cache.Incr(ctx, k, 1)
			wantErr(t, "Incr after Close", err, ports.ErrClosed)
			wantErr(t, "Check after Close", e.Connector.Check(ctx), ports.ErrClosed)
			wantErr(t, "second Close", e.Connector.Close(ctx), ports.ErrClosed)
		}},
	}
}
