package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/portkit/portkit/internal/gate"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/ports"
)

// wantKind fails t unless err matches kind and no other sentinel.
func wantKind(t *testing.T, what string, err, kind error) {
	t.Helper()
	if got := ports.KindOf(err); got != kind {
		t.Errorf("%s: err %v (kind %s), want %s", what, err, ports.KindName(err), ports.KindName(kind))
		return
	}
	n := 0
	for _, k := range ports.Kinds() {
		if errors.Is(err, k) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%s: err %v matches %d sentinels, want exactly 1", what, err, n)
	}
}

// wantReply fails t unless the server's error reply stays reachable in
// err with errors.As.
func wantReply(t *testing.T, what string, err error, code string) {
	t.Helper()
	var re *rueidis.RedisError
	if !errors.As(err, &re) || !strings.HasPrefix(re.Error(), code) {
		t.Errorf("%s: err %v does not carry the server's %s reply (errors.As *rueidis.RedisError)", what, err, code)
	}
}

// nilCtx is a nil context.Context, which the contract makes ErrInvalid.
var nilCtx context.Context

// cacheConnector is what both the adapter and the fake are.
type cacheConnector interface {
	ports.Cache
	ports.Connector
}

// cacheCalls are the port's methods, each called with ctx and (when bad)
// an argument that is invalid.
func cacheCalls(c cacheConnector, bad bool) map[string]func(ctx context.Context) error {
	key, ttl := "k", time.Duration(0)
	if bad {
		key, ttl = "", -1
	}
	return map[string]func(ctx context.Context) error{
		"Get":     func(ctx context.Context) error { _, err := c.Get(ctx, key); return err },
		"GetMany": func(ctx context.Context) error { _, err := c.GetMany(ctx, key); return err },
		"Set":     func(ctx context.Context) error { return c.Set(ctx, key, nil, ttl) },
		"SetNX": func(ctx context.Context) error {
			_, err := c.SetNX(ctx, key, nil, ttl)
			return err
		},
		"Delete": func(ctx context.Context) error { return c.Delete(ctx, key) },
		"Incr":   func(ctx context.Context) error { _, err := c.Incr(ctx, key, 1); return err },
		"Check":  func(ctx context.Context) error { return c.Check(ctx) },
	}
}

// TestEntryOrder: the contract's order of checks. After Close every
// method is ErrClosed before its arguments are looked at (Get("") included,
// and a nil ctx); before Close a nil ctx is ErrInvalid, never a panic, and
// a done ctx ErrUnavailable wrapping its error, both before the arguments.
func TestEntryOrder(t *testing.T) {
	t.Parallel()
	u := redisURL(t)
	for _, ttl := range []time.Duration{0, time.Minute} {
		t.Run(fmt.Sprint("cache-ttl=", ttl), func(t *testing.T) {
			t.Parallel()
			c := openT(t, Config{URL: u, ClientCacheTTL: ttl})
			cancelled, cancel := context.WithCancel(t.Context())
			cancel()
			for name, call := range cacheCalls(c, true) {
				err := call(nilCtx)
				wantKind(t, name+"(nil ctx, bad args)", err, ports.ErrInvalid)
				if !errors.Is(err, gate.ErrNilContext) {
					t.Errorf("%s(nil ctx): err %v, want the nil-context cause, not the arguments'", name, err)
				}
				err = call(cancelled)
				wantKind(t, name+"(cancelled ctx, bad args)", err, ports.ErrUnavailable)
				if !errors.Is(err, context.Canceled) {
					t.Errorf("%s(cancelled ctx): err %v, want context.Canceled reachable", name, err)
				}
			}
			wantKind(t, "Close(nil ctx)", c.Close(nilCtx), ports.ErrInvalid)
			if err := c.Close(t.Context()); err != nil {
				t.Fatalf("Close: %v", err)
			}
			for _, bad := range []bool{false, true} {
				for name, call := range cacheCalls(c, bad) {
					wantKind(t, fmt.Sprintf("%s after Close (bad args %t)", name, bad), call(t.Context()), ports.ErrClosed)
					wantKind(t, name+" after Close (nil ctx)", call(nilCtx), ports.ErrClosed)
				}
			}
			wantKind(t, "second Close", c.Close(t.Context()), ports.ErrClosed)
			wantKind(t, "second Close (nil ctx)", c.Close(nilCtx), ports.ErrClosed)
		})
	}
	t.Run("open-nil-ctx", func(t *testing.T) {
		t.Parallel()
		_, err := Open(nilCtx, Config{URL: u}, WithLogger(discardLogger()))
		wantKind(t, "Open(nil ctx)", err, ports.ErrInvalid)
	})
}

// TestPermission: wrong credentials and ACL refusals are ErrPermission
// (not retryable), at Open and on calls, with the server's reply still
// reachable; on a redis-server of the test's own with a password and a
// user restricted to keys "allowed:*" and to reads and writes.
func TestPermission(t *testing.T) {
	t.Parallel()
	addr := startServer(t, "--requirepass", "sekret-pw",
		"--user", "limited", "on", ">limited-pw", "~allowed:*", "+@read", "+@write", "+@connection", "+@transaction", "+client")
	open := func(t *testing.T, userinfo string, ttl time.Duration, opts ...Option) (*Cache, error) {
		u := "redis://" + userinfo + addr
		c, err := Open(t.Context(), Config{URL: u, DialTimeout: 5 * time.Second, ClientCacheTTL: ttl}, append([]Option{WithLogger(discardLogger())}, opts...)...)
		if err == nil {
			t.Cleanup(func() { _ = c.Close(context.Background()) })
		}
		return c, err
	}
	for _, ttl := range []time.Duration{0, time.Minute} {
		t.Run(fmt.Sprint("cache-ttl=", ttl), func(t *testing.T) {
			t.Parallel()
			for _, tc := range []struct{ name, userinfo, code string }{
				{"wrong-password", ":wrong-pw@", "WRONGPASS"},
				{"unknown-user", "nobody:sekret-pw@", "WRONGPASS"},
				{"no-password", "", "NOAUTH"},
			} {
				start := time.Now()
				_, err := open(t, tc.userinfo, ttl)
				wantKind(t, "Open with "+tc.name, err, ports.ErrPermission)
				wantReply(t, "Open with "+tc.name, err, tc.code)
				if strings.Contains(fmt.Sprint(err), "pw") {
					t.Errorf("Open with %s: the error shows a password: %v", tc.name, err)
				}
				if d := time.Since(start); d > 4*time.Second {
					t.Errorf("Open with %s took %v: a refused password must not be retried until the dial timeout", tc.name, d)
				}
			}

			if _, err := open(t, ":sekret-pw@", ttl); err != nil {
				t.Fatalf("Open with the right password: %v", err)
			}

			c, err := open(t, "limited:limited-pw@", ttl)
			if err != nil {
				t.Fatalf("Open as the limited user: %v", err)
			}
			ctx := t.Context()
			if err := c.Set(ctx, "allowed:k", []byte("v"), 0); err != nil {
				t.Fatalf("Set of an allowed key: %v", err)
			}
			for name, call := range cacheCalls(c, false) { // key "k" is outside ~allowed:*
				if name == "Check" {
					continue
				}
				err := call(ctx)
				wantKind(t, name+" of a key the ACL forbids", err, ports.ErrPermission)
				wantReply(t, name+" of a key the ACL forbids", err, "NOPERM")
			}

			// The key prefix is what reaches the server: with it, key "k"
			// is "allowed:k".
			p, err := open(t, "limited:limited-pw@", ttl, WithKeyPrefix("allowed:"))
			if err != nil {
				t.Fatal(err)
			}
			if v, err := p.Get(ctx, "k"); err != nil || string(v) != "v" {
				t.Errorf("Get(k) with prefix allowed: = %q, %v, want v", v, err)
			}
		})
	}
	for _, forbid := range []string{"-client", "-@transaction"} {
		t.Run("acl-forbids-tracking"+forbid, func(t *testing.T) {
			t.Parallel()
			testCacheForbidden(t, forbid)
		})
	}
}

// testCacheForbidden: client-side caching needs CLIENT TRACKING and
// MULTI/EXEC; when the user's ACL forbids them (forbid), Open with the
// cache required is ErrPermission, and without it carries on without a
// local cache (where every cached read would fail).
func testCacheForbidden(t *testing.T, forbid string) {
	addr := startServer(t, "--user", "default", "on", "nopass", "~*", "+@all", forbid)
	_, err := Open(t.Context(), Config{URL: "redis://" + addr, ClientCacheTTL: time.Minute, ClientCacheRequired: true, DialTimeout: 5 * time.Second}, WithLogger(discardLogger()))
	wantKind(t, "Open with client-side caching required, ACL "+forbid, err, ports.ErrPermission)
	// Not required: it carries on without a local cache.
	c := openT(t, Config{URL: "redis://" + addr, ClientCacheTTL: time.Minute})
	if c.cacheTTL != 0 {
		t.Errorf("Open with ACL %s: client-side caching on, want the fallback", forbid)
	}
	if err := c.Set(t.Context(), "k", []byte("v"), 0); err != nil {
		t.Errorf("Set after the fallback: %v", err)
	}
	for range 2 {
		if v, err := c.Get(t.Context(), "k"); err != nil || string(v) != "v" {
			t.Errorf("Get after the fallback = %q, %v, want v", v, err)
		}
	}
}

// TestErrorReplies: the classification of error replies by their code,
// end to end through Get, Set and Incr (a fake server answers each with
// the reply).
func TestErrorReplies(t *testing.T) {
	t.Parallel()
	s := newFakeServer(t, false)
	c := openT(t, Config{URL: s.URL()}, WithClientOption(func(o *rueidis.ClientOption) { o.DisableRetry = true }))
	for _, tc := range []struct {
		reply string
		kind  error
	}{
		{"NOAUTH Authentication required.", ports.ErrPermission},
		{"WRONGPASS invalid username-password pair or user is disabled.", ports.ErrPermission},
		{"NOPERM this user has no permissions to run the 'get' command", ports.ErrPermission},
		{"ERR invalid password", ports.ErrPermission},
		{"LOADING Redis is loading the dataset in memory", ports.ErrUnavailable},
		{"BUSY Redis is busy running a script.", ports.ErrUnavailable},
		{"READONLY You can't write against a read only replica.", ports.ErrUnavailable},
		{"OOM command not allowed when used memory > 'maxmemory'.", ports.ErrUnavailable},
		{"MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk.", ports.ErrUnavailable},
		{"MASTERDOWN Link with MASTER is down", ports.ErrUnavailable},
		{"ERR max number of clients reached", ports.ErrUnavailable},
		{"WRONGTYPE Operation against a key holding the wrong kind of value", ports.ErrInvalid},
		{"ERR value is not an integer or out of range", ports.ErrInvalid},
		{"ERR unknown command 'GET'", ports.ErrInvalid},
		{"SOMETHINGNEW an error reply nobody has seen before", ports.ErrInvalid},
	} {
		r := "-" + tc.reply + "\r\n"
		s.reply.Store(&r)
		_, err := c.Get(t.Context(), "k")
		wantKind(t, "Get answered "+tc.reply, err, tc.kind)
		// rueidis strips the "ERR " of generic replies.
		wantReply(t, "Get answered "+tc.reply, err, strings.TrimPrefix(tc.reply, "ERR ")[:5])
		wantKind(t, "Set answered "+tc.reply, c.Set(t.Context(), "k", []byte("v"), 0), tc.kind)
		_, err = c.Incr(t.Context(), "k", 1)
		wantKind(t, "Incr answered "+tc.reply, err, tc.kind)
		if errors.Is(err, ports.ErrOutcomeUnknown) {
			t.Errorf("Incr answered %s: err %v says the outcome is unknown; the server answered", tc.reply, err)
		}
	}
}

// TestClassifier: failures without a server reply.
func TestClassifier(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		err    error
		closed bool
		kind   error
	}{
		{"miss", rueidis.Nil, false, ports.ErrNotFound},
		{"closing-after-close", rueidis.ErrClosing, true, ports.ErrClosed},
		{"closing-unable-to-connect", rueidis.ErrClosing, false, ports.ErrUnavailable},
		{"no-slot", rueidis.ErrNoSlot, false, ports.ErrUnavailable},
		{"eof", io.EOF, false, ports.ErrUnavailable},
		{"reset", &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}, false, ports.ErrUnavailable},
		{"canceled", context.Canceled, false, ports.ErrUnavailable},
		{"deadline", fmt.Errorf("wrapped: %w", context.DeadlineExceeded), false, ports.ErrUnavailable},
		{"unknown", errors.New("something else"), false, ports.ErrUnavailable},
	} {
		err := classifier.Wrap("get", tc.err, tc.closed)
		wantKind(t, tc.name, err, tc.kind)
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: %v does not wrap the cause", tc.name, err)
		}
	}
}

// TestOutcomeUnknown: a write whose reply never came (the server stopped
// answering) is ErrUnavailable wrapping ErrOutcomeUnknown and the context
// error; a read is ErrUnavailable without it; a write refused before it
// was sent (nothing to connect to) does not claim an unknown outcome.
func TestOutcomeUnknown(t *testing.T) {
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
	c := openT(t, Config{URL: viaProxy.String()})
	p.blackhole.Store(true)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err = c.Incr(ctx, testenv.UniqueName("portkit-redis-unknown"), 1)
	wantKind(t, "Incr without a reply", err, ports.ErrUnavailable)
	if !errors.Is(err, ports.ErrOutcomeUnknown) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Incr without a reply: err %v, want ErrOutcomeUnknown and context.DeadlineExceeded", err)
	}
	_, err = c.Get(ctx, "k")
	wantKind(t, "Get without a reply", err, ports.ErrUnavailable)
	if errors.Is(err, ports.ErrOutcomeUnknown) {
		t.Errorf("Get: err %v claims a write outcome", err)
	}
}
