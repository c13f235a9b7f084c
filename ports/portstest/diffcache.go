package portstest

import (
	"bytes"
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

	"github.com/portkit/portkit/ports"
)

// CacheSubject is one side of DiffCache.
type CacheSubject struct {
	Cache ports.Cache
	// Advance moves the clock the cache's TTLs follow. When both sides
	// have one, the checker advances them instead of sleeping and checks
	// expiry at the exact boundaries (TTL below a millisecond, the
	// millisecond the key expires); otherwise it sleeps, and leaves out of
	// the comparison every key read within TTLMargin of its expiry.
	Advance func(d time.Duration)
	// Close, when set, releases the subject at the end of the run.
	Close func()
}

// TTLMargin is the normalisation of real-time TTL checks: a key read
// within this margin of its expiry on either side may or may not be there,
// and is not compared.
const TTLMargin = 150 * time.Millisecond

// DiffCache runs the differential checker on two Caches (see
// DiffSQLStore): Set, SetNX, Get, GetMany, Delete and Incr over a small
// domain of keys (binary and non-ASCII ones, the empty key), values
// (integers at the int64 bounds, non-integers, empty and binary values)
// and TTLs (0, below a millisecond, milliseconds, an hour,
// math.MaxInt64, negative), time passing, a batch of 1 200 keys set, read,
// deleted and read again (read-your-writes over a batch larger than
// client-side caching's), and a read of every key of the domain every few
// operations. Every key is prefixed with DiffOptions.KeyPrefix and a string
// unique to the sequence, and deleted at its end; returned maps must hold
// the keys as the caller gave them.
func DiffCache(t *testing.T, fake, real func() (CacheSubject, error), opts DiffOptions) []Divergence {
	t.Helper()
	return diffTest(t, func() ([]Divergence, DiffStats) { return diffCache(t, fake, real, opts) })
}

// CheckCache is DiffCache without a testing.T (see CheckSQLStore).
func CheckCache(fake, real func() (CacheSubject, error), opts DiffOptions) ([]Divergence, DiffStats, error) {
	return diffMain(func() ([]Divergence, DiffStats) { return diffCache(collector{opts.Logf}, fake, real, opts) })
}

func diffCache(t reporter, fake, real func() (CacheSubject, error), opts DiffOptions) ([]Divergence, DiffStats) {
	o := opts.defaults()
	x := &cacheDiff{prefix: o.KeyPrefix}
	if x.prefix == "" {
		x.prefix = "portstest:diff:"
	}
	for i, f := range []func() (CacheSubject, error){fake, real} {
		s, err := f()
		if err == nil && s.Cache == nil {
			err = fmt.Errorf("no Cache")
		}
		if err != nil {
			abort("opening the %s CacheSubject: %v", []string{"fake", "real"}[i], err)
		}
		x.sides[i] = s
		if s.Close != nil {
			defer s.Close()
		}
	}
	x.clock = x.sides[0].Advance != nil && x.sides[1].Advance != nil
	r := &runner[cOp]{t: t, port: "Cache", opts: o, render: x.render, exec: x.exec, simplify: x.simplify}
	r.run(x.generate)
	return r.report()
}

type cacheDiff struct {
	prefix string
	sides  [2]CacheSubject
	clock  bool
}

type cKind int

const (
	cSet cKind = iota
	cSetNX
	cGet
	cGetMany
	cDelete
	cIncr
	cWait
	cBatch
	cSnapshot
)

// cOp is one cache operation; keys are indexes into cacheKeys.
type cOp struct {
	kind  cKind
	keys  []int
	val   []byte
	ttl   time.Duration
	delta int64
	wait  time.Duration
}

// cacheKeys is the key domain; the first is the empty key (ErrInvalid).
var cacheKeys = []string{"", "a", "b", "c", "A", "a:b", "é", "\x00\xff", "n", "m"}

var cacheValues = [][]byte{{}, []byte("v"), []byte("V"), []byte("1"), []byte("-5"), []byte("9223372036854775807"),
	[]byte("-9223372036854775808"), []byte("abc"), []byte(" 1"), {0xff, 0x00}, []byte("0")}

// cRes is what one side returned.
type cRes struct {
	err   error
	val   []byte
	ok    bool
	n     int64
	m     map[string][]byte
	fuzzy map[string]bool // keys too close to their expiry to compare
	note  string
}

// cState is one side's bookkeeping of TTLs in real-time mode.
type cState struct {
	prefix string
	expiry map[string]time.Time // key -> wall-clock expiry, for keys set with a TTL
}

func (x *cacheDiff) generate(r *rand.Rand, n int) []cOp {
	ops := make([]cOp, 0, n)
	key := func() int {
		if r.IntN(30) == 0 {
			return 0
		}
		return 1 + r.IntN(len(cacheKeys)-1)
	}
	ttl := func() time.Duration {
		if x.clock {
			return pick(r, 0, 0, time.Nanosecond, 999*time.Microsecond, time.Millisecond, 10*time.Millisecond,
				time.Second, time.Hour, time.Duration(math.MaxInt64), -time.Millisecond)
		}
		return pick(r, 0, 0, time.Hour, time.Duration(math.MaxInt64), 400*time.Millisecond, -time.Millisecond)
	}
	for len(ops) < n-1 {
		var op cOp
		switch k := r.IntN(100); {
		case k < 25:
			op = cOp{kind: cSet, keys: []int{key()}, val: pick(r, cacheValues...), ttl: ttl()}
		case k < 33:
			op = cOp{kind: cSetNX, keys: []int{key()}, val: pick(r, cacheValues...), ttl: ttl()}
		case k < 50:
			op = cOp{kind: cGet, keys: []int{key()}}
		case k < 60:
			op = cOp{kind: cGetMany}
			for range r.IntN(4) {
				op.keys = append(op.keys, key())
			}
		case k < 68:
			op = cOp{kind: cDelete}
			for range r.IntN(4) {
				op.keys = append(op.keys, key())
			}
		case k < 82:
			op = cOp{kind: cIncr, keys: []int{key()}, delta: pick(r, int64(1), -1, 0, 5, math.MaxInt64, math.MinInt64)}
		case k < 90:
			if x.clock {
				op = cOp{kind: cWait, wait: pick(r, time.Millisecond, 9*time.Millisecond, 10*time.Millisecond, 11*time.Millisecond, time.Second, 2*time.Hour)}
			} else {
				// Real time: sleeps are costly, so rare (one operation in 250).
				op = cOp{kind: cWait, wait: 500 * time.Millisecond}
				if r.IntN(20) > 0 {
					continue
				}
			}
		case k < 91:
			op = cOp{kind: cBatch, val: []byte("batch")}
			if r.IntN(3) > 0 { // one operation in 300
				continue
			}
		default:
			op = cOp{kind: cSnapshot}
		}
		ops = append(ops, op)
	}
	return append(ops, cOp{kind: cSnapshot})
}

func (x *cacheDiff) exec(ops []cOp) (int, *mismatch) {
	prefix := x.prefix + randomHex(6) + ":"
	states := [2]*cState{{prefix: prefix, expiry: map[string]time.Time{}}, {prefix: prefix, expiry: map[string]time.Time{}}}
	defer x.cleanup(prefix)
	for i := range ops {
		var res [2]cRes
		for s := range x.sides {
			res[s] = x.run(x.sides[s], states[s], &ops[i])
		}
		if mm := x.compare(&ops[i], res[0], res[1]); mm != nil {
			return i, mm
		}
	}
	return -1, nil
}

// cleanup deletes every key of the domain under prefix, on both sides.
func (x *cacheDiff) cleanup(prefix string) {
	keys := make([]string, 0, len(cacheKeys)+batchKeys)
	for _, k := range cacheKeys[1:] {
		keys = append(keys, prefix+k)
	}
	for i := range batchKeys {
		keys = append(keys, prefix+"batch:"+strconv.Itoa(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, s := range x.sides {
		_ = s.Cache.Delete(ctx, keys...)
	}
}

// batchKeys is the size of the batch operation (client-side caching in
// rueidis changes connection above 1 000 commands).
const batchKeys = 1200

func (x *cacheDiff) run(s CacheSubject, st *cState, op *cOp) (res cRes) {
	defer func() {
		if p := recover(); p != nil {
			res.err = panicError{p}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	key := func(i int) string {
		if i == 0 {
			return "" // the empty key, ErrInvalid
		}
		return st.prefix + cacheKeys[i]
	}
	keys := func() []string {
		out := make([]string, len(op.keys))
		for i, k := range op.keys {
			out[i] = key(k)
		}
		return out
	}
	now := time.Now()
	track := func(k string, ttl time.Duration) {
		if ttl > 0 && ttl < time.Hour {
			st.expiry[k] = now.Add(ttl)
		} else {
			delete(st.expiry, k)
		}
	}
	fuzzy := func(k string) bool {
		e, ok := st.expiry[k]
		if x.clock || !ok {
			return false
		}
		d := time.Since(e)
		return d > -TTLMargin && d < TTLMargin
	}
	switch op.kind {
	case cSet:
		res.err = s.Cache.Set(ctx, key(op.keys[0]), op.val, op.ttl)
		if res.err == nil {
			track(key(op.keys[0]), op.ttl)
		}
	case cSetNX:
		res.ok, res.err = s.Cache.SetNX(ctx, key(op.keys[0]), op.val, op.ttl)
		res.fuzzy = map[string]bool{"": fuzzy(key(op.keys[0]))}
		if res.ok {
			track(key(op.keys[0]), op.ttl)
		}
	case cGet:
		res.fuzzy = map[string]bool{"": fuzzy(key(op.keys[0]))}
		res.val, res.err = s.Cache.Get(ctx, key(op.keys[0]))
	case cGetMany, cSnapshot:
		ks := keys()
		if op.kind == cSnapshot {
			ks = nil
			for i := range cacheKeys[1:] {
				ks = append(ks, key(i+1))
			}
		}
		res.fuzzy = map[string]bool{}
		for _, k := range ks {
			res.fuzzy[k] = fuzzy(k)
		}
		res.m, res.err = s.Cache.GetMany(ctx, ks...)
	case cDelete:
		res.err = s.Cache.Delete(ctx, keys()...)
		if res.err == nil {
			for _, k := range keys() {
				delete(st.expiry, k)
			}
		}
	case cIncr:
		res.fuzzy = map[string]bool{"": fuzzy(key(op.keys[0]))}
		res.n, res.err = s.Cache.Incr(ctx, key(op.keys[0]), op.delta)
	case cWait:
		if x.clock {
			s.Advance(op.wait)
		} else {
			time.Sleep(op.wait)
		}
	case cBatch:
		ks := make([]string, batchKeys)
		for i := range ks {
			ks[i] = st.prefix + "batch:" + strconv.Itoa(i)
			if err := s.Cache.Set(ctx, ks[i], op.val, 0); err != nil {
				res.err, res.note = err, "set"
				return res
			}
		}
		got, err := s.Cache.GetMany(ctx, ks...)
		if err != nil {
			res.err, res.note = err, "first read"
			return res
		}
		if err := s.Cache.Delete(ctx, ks...); err != nil {
			res.err, res.note = err, "delete"
			return res
		}
		after, err := s.Cache.GetMany(ctx, ks...)
		res.err, res.note = err, "read after delete"
		res.n = int64(len(got))*100000 + int64(len(after))
	}
	return res
}

func (x *cacheDiff) compare(op *cOp, a, b cRes) *mismatch {
	name := []string{"Set", "SetNX", "Get", "GetMany", "Delete", "Incr", "Wait", "Batch", "Snapshot"}[op.kind]
	mk := func(aspect, detail string) *mismatch {
		tag := x.shape(op)
		kind := name + ": " + aspect
		if tag != "" {
			kind += " [" + tag + "]"
		}
		return &mismatch{kind: kind, detail: "at " + x.render(*op) + "\n" + detail}
	}
	fuzzy := a.fuzzy[""] || b.fuzzy[""]
	if ka, kb := errKind(a.err), errKind(b.err); ka != kb && !(fuzzy && (ka == "ErrNotFound" || kb == "ErrNotFound")) {
		return mk("error fake="+ka+" real="+kb, "fake: "+errDetail(a.err)+"\nreal: "+errDetail(b.err))
	}
	if a.note != b.note {
		return mk("fails at another step", "fake: "+a.note+"\nreal: "+b.note)
	}
	if a.err != nil || b.err != nil {
		return nil
	}
	if fuzzy {
		return nil
	}
	switch {
	case !bytes.Equal(a.val, b.val):
		return mk("value differs", fmt.Sprintf("fake: %q\nreal: %q", abbrev(a.val), abbrev(b.val)))
	case a.ok != b.ok:
		return mk("result differs", fmt.Sprintf("fake: %v\nreal: %v", a.ok, b.ok))
	case a.n != b.n:
		if op.kind == cBatch {
			return mk("read-your-writes differs", fmt.Sprintf("fake: read %d, then %d after Delete\nreal: read %d, then %d after Delete", a.n/100000, a.n%100000, b.n/100000, b.n%100000))
		}
		return mk("result differs", fmt.Sprintf("fake: %d\nreal: %d", a.n, b.n))
	}
	if a.m != nil || b.m != nil {
		for k := range a.fuzzy {
			if a.fuzzy[k] || b.fuzzy[k] {
				delete(a.m, k)
				delete(b.m, k)
			}
		}
		if !maps.EqualFunc(a.m, b.m, bytes.Equal) {
			return mk("values differ", "fake: "+x.renderMap(a.m)+"\nreal: "+x.renderMap(b.m))
		}
	}
	return nil
}

func (x *cacheDiff) renderMap(m map[string][]byte) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		short := k
		if strings.HasPrefix(k, x.prefix) && len(k) > len(x.prefix)+13 {
			short = k[len(x.prefix)+13:] // without the sequence's prefix
		}
		parts[i] = fmt.Sprintf("%q:%q", short, abbrev(m[k]))
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// shape names what matters of op for its kind: the TTL's class, the
// delta's, the value's.
func (x *cacheDiff) shape(op *cOp) string {
	var parts []string
	if len(op.keys) > 0 && slices.Contains(op.keys, 0) {
		parts = append(parts, "empty key")
	}
	switch op.kind {
	case cSet, cSetNX:
		parts = append(parts, ttlClass(op.ttl))
	case cIncr:
		if op.delta == math.MaxInt64 || op.delta == math.MinInt64 {
			parts = append(parts, "delta at int64 bound")
		}
	case cWait:
		parts = append(parts, op.wait.String())
	}
	return strings.Join(parts, "; ")
}

func ttlClass(d time.Duration) string {
	switch {
	case d == 0:
		return "no TTL"
	case d < 0:
		return "negative TTL"
	case d < time.Millisecond:
		return "TTL < 1ms"
	case d == math.MaxInt64:
		return "TTL MaxInt64"
	case d >= time.Hour:
		return "long TTL"
	}
	return "short TTL"
}

func (x *cacheDiff) render(op cOp) string {
	ks := make([]string, len(op.keys))
	for i, k := range op.keys {
		ks[i] = strconv.Quote(cacheKeys[k])
	}
	switch op.kind {
	case cSet, cSetNX:
		return fmt.Sprintf("%s(%s, %q, %v)", []string{"Set", "SetNX"}[op.kind], ks[0], op.val, op.ttl)
	case cGet:
		return fmt.Sprintf("Get(%s)", ks[0])
	case cGetMany:
		return fmt.Sprintf("GetMany(%s)", strings.Join(ks, ", "))
	case cDelete:
		return fmt.Sprintf("Delete(%s)", strings.Join(ks, ", "))
	case cIncr:
		return fmt.Sprintf("Incr(%s, %d)", ks[0], op.delta)
	case cWait:
		if x.clock {
			return fmt.Sprintf("Advance(%v)", op.wait)
		}
		return fmt.Sprintf("Sleep(%v)", op.wait)
	case cBatch:
		return fmt.Sprintf("Set %d keys, GetMany them, Delete them, GetMany them", batchKeys)
	}
	return "Snapshot: GetMany(every key)"
}

func (x *cacheDiff) simplify(op cOp) [][]cOp {
	var out [][]cOp
	if len(op.keys) > 1 {
		for i := range op.keys {
			c := op
			c.keys = slices.Delete(slices.Clone(op.keys), i, i+1)
			out = append(out, []cOp{c})
		}
	}
	if (op.kind == cSet || op.kind == cSetNX) && op.ttl != 0 {
		c := op
		c.ttl = 0
		out = append(out, []cOp{c})
	}
	return out
}
