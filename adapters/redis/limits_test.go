package redis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"testing"
	"time"
	"unsafe"

	"github.com/redis/rueidis"

	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/ports"
)

// modes are the adapter's modes the tests below run in: single node and
// cluster, each without and with client-side caching. The cluster modes
// skip without REDIS_CLUSTER_URL.
var modes = []struct {
	name    string
	cluster bool
	ttl     time.Duration
}{
	{"single", false, 0},
	{"single-client-cache", false, time.Hour},
	{"cluster", true, 0},
	{"cluster-client-cache", true, time.Hour},
}

// modeConfig returns the Config of a mode.
func modeConfig(t *testing.T, cluster bool, ttl time.Duration) Config {
	t.Helper()
	u := ""
	if cluster {
		u = clusterURL(t)
	} else {
		u = redisURL(t)
	}
	return Config{URL: u, ClientCacheTTL: ttl, ClientCacheRequired: ttl > 0}
}

// fill stores n keys base+i = "v"+i through c's rueidis client in one
// pipeline (no local cache involved) and deletes them when t ends.
func fill(t *testing.T, c *Cache, keys []string) {
	t.Helper()
	cl := c.Client()
	cmds := make(rueidis.Commands, 0, len(keys))
	for i, k := range keys {
		cmds = append(cmds, cl.B().Set().Key(k).Value("v"+strconv.Itoa(i)).Build())
	}
	for _, r := range cl.DoMulti(t.Context(), cmds...) {
		if err := r.Error(); err != nil {
			t.Fatalf("fill: %v", err)
		}
	}
	t.Cleanup(func() {
		for _, r := range cl.DoMulti(context.Background(), delCmds(cl, keys)...) {
			_ = r.Error()
		}
	})
}

func delCmds(cl rueidis.Client, keys []string) rueidis.Commands {
	cmds := make(rueidis.Commands, 0, len(keys))
	for _, k := range keys {
		cmds = append(cmds, cl.B().Del().Key(k).Build())
	}
	return cmds
}

// TestDeleteManyReadYourWrites (issue 13): right after a Delete of many
// keys returns, GetMany and Get serve none of them, though their values
// sat in the local cache. rueidis sends a pipeline of 2000 commands or
// more over another connection, whose invalidations are not ordered with
// this client's reads: before the fix up to 4 036 of 5 000 keys came back
// on a single node.
func TestDeleteManyReadYourWrites(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		if m.ttl == 0 {
			continue
		}
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			c := openT(t, modeConfig(t, m.cluster, m.ttl))
			ctx := t.Context()
			for _, n := range []int{999, 1000, 2500, 5000} {
				base := testenv.UniqueName("portkit-redis-bigdel") + ":"
				keys := make([]string, n)
				for i := range keys {
					keys[i] = base + strconv.Itoa(i)
				}
				fill(t, c, keys)
				got, err := c.GetMany(ctx, keys...)
				if err != nil || len(got) != n {
					t.Fatalf("n=%d: GetMany before Delete = %d entries, %v, want %d", n, len(got), err, n)
				}
				if err := c.Delete(ctx, keys...); err != nil {
					t.Fatalf("n=%d: Delete: %v", n, err)
				}
				got, err = c.GetMany(ctx, keys...)
				if err != nil || len(got) != 0 {
					t.Errorf("n=%d: GetMany right after Delete = %d of %d deleted keys still served, %v", n, len(got), n, err)
				}
				stale := 0
				for _, k := range keys[:200] {
					if _, err := c.Get(ctx, k); !errors.Is(err, ports.ErrNotFound) {
						stale++
					}
				}
				if stale != 0 {
					t.Errorf("n=%d: Get right after Delete: %d of 200 deleted keys not ErrNotFound", n, stale)
				}
			}
		})
	}
}

// TestDeletePipelineTuned: read-your-writes holds whatever BlockingPipeline
// the user sets, down to 1 (which would move even a write and its PTTL
// fence to another connection).
func TestDeletePipelineTuned(t *testing.T) {
	t.Parallel()
	for _, bp := range []int{1, 2, 3, 10} {
		t.Run(fmt.Sprint("blocking-pipeline=", bp), func(t *testing.T) {
			t.Parallel()
			c := openT(t, Config{URL: redisURL(t), ClientCacheTTL: time.Hour, ClientCacheRequired: true},
				WithClientOption(func(o *rueidis.ClientOption) { o.BlockingPipeline = bp; o.PipelineMultiplex = 2 }))
			ctx := t.Context()
			base := testenv.UniqueName("portkit-redis-tuned") + ":"
			keys := make([]string, 50)
			for i := range keys {
				keys[i] = base + strconv.Itoa(i)
			}
			fill(t, c, keys)
			stale := 0
			for round := range 20 {
				if _, err := c.GetMany(ctx, keys...); err != nil {
					t.Fatal(err)
				}
				k := keys[round]
				if err := c.Set(ctx, k, []byte("new"), 0); err != nil {
					t.Fatal(err)
				}
				if v, err := c.Get(ctx, k); err != nil || string(v) != "new" {
					stale++
				}
				if err := c.Delete(ctx, keys[round:round+10]...); err != nil {
					t.Fatal(err)
				}
				if got, _ := c.GetMany(ctx, keys[round:round+10]...); len(got) != 0 {
					stale += len(got)
				}
				fill(t, c, keys)
			}
			if stale != 0 {
				t.Errorf("%d stale reads after this client's own writes", stale)
			}
		})
	}
}

// TestMaxTTL (issue 13): any positive time.Duration is a valid TTL;
// time.Duration(math.MaxInt64) used to be "invalid expire time" (the
// millisecond conversion overflowed).
func TestMaxTTL(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			c := openT(t, modeConfig(t, m.cluster, m.ttl))
			ctx := t.Context()
			k := testenv.UniqueName("portkit-redis-maxttl")
			t.Cleanup(func() { _ = c.Delete(context.Background(), k, k+"nx") })
			const maxTTL = time.Duration(math.MaxInt64)
			if err := c.Set(ctx, k, []byte("v"), maxTTL); err != nil {
				t.Fatalf("Set with TTL MaxInt64: %v", err)
			}
			if got, want := pttl(t, c, k), millis(maxTTL); got <= want-60_000 || got > want {
				t.Errorf("PTTL after Set with TTL MaxInt64 = %d, want about %d", got, want)
			}
			if ok, err := c.SetNX(ctx, k+"nx", []byte("v"), maxTTL); err != nil || !ok {
				t.Errorf("SetNX with TTL MaxInt64 = %v, %v", ok, err)
			}
			if v, err := c.Get(ctx, k); err != nil || string(v) != "v" {
				t.Errorf("Get after Set with TTL MaxInt64 = %q, %v", v, err)
			}
		})
	}
}

// TestValueTooLarge (issue 13): a value over ports.MaxValueBytes is
// ErrInvalid before anything is sent (it used to be sent, and Redis cut
// the connection: ErrUnavailable); one of exactly MaxValueBytes passes the
// check. The fake server counts the SETs that reach it.
func TestValueTooLarge(t *testing.T) {
	t.Parallel()
	s := newFakeServer(t, false)
	c := openT(t, Config{URL: s.URL()})
	big := make([]byte, ports.MaxValueBytes+1) // never written: the pages stay unbacked
	ctx := t.Context()
	err := c.Set(ctx, "k", big, 0)
	wantKind(t, "Set of MaxValueBytes+1", err, ports.ErrInvalid)
	_, err = c.SetNX(ctx, "k", big, time.Minute)
	wantKind(t, "SetNX of MaxValueBytes+1", err, ports.ErrInvalid)
	if n := s.sets.Load(); n != 0 {
		t.Errorf("%d SETs of an oversized value reached the server, want 0", n)
	}
	if err != nil && len(err.Error()) > 300 {
		t.Errorf("the error is %d bytes long: it must not show the value", len(err.Error()))
	}
	// A key with the prefix over the limit: the prefix counts.
	p := openT(t, Config{URL: s.URL(), KeyPrefix: "p:"})
	_, err = p.Get(ctx, unsafe.String(unsafe.SliceData(big), ports.MaxValueBytes-1)) // no copy

	wantKind(t, "Get of a key that the prefix takes over MaxValueBytes", err, ports.ErrInvalid)
	if _, err := c.Get(ctx, string(big[:16])); err != nil && !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("Get of a 16-byte key of NULs: %v", err)
	}
}
