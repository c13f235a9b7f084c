package testutil_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/portkit/portkit/internal/testutil"
	"github.com/portkit/portkit/ports"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSyncBuffer(t *testing.T) {
	t.Parallel()
	var b testutil.SyncBuffer
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() { fmt.Fprintf(&b, "line %d\n", i) })
	}
	wg.Wait()
	if n := strings.Count(b.String(), "\n"); n != 50 {
		t.Errorf("%d lines, want 50", n)
	}
	b.Reset()
	if b.String() != "" {
		t.Errorf("after Reset: %q", b.String())
	}
}

func TestCaptureLogger(t *testing.T) {
	t.Parallel()
	log, buf := testutil.CaptureLogger()
	log.Debug("quiet", "k", 1)
	if !strings.Contains(buf.String(), "level=DEBUG msg=quiet k=1") {
		t.Errorf("captured %q", buf.String())
	}
}

// leaky prints its secret everywhere.
type leaky struct{ Password string }

func TestRenderings(t *testing.T) {
	t.Parallel()
	r := testutil.Renderings(leaky{Password: "pw123"})
	for _, how := range []string{"%v", "%+v", "%#v", "%s", "%q", "pointer %+v", "pointer %#v", "in a struct %+v", "slog text", "slog JSON"} {
		if !strings.Contains(r[how], "pw123") {
			t.Errorf("%s = %q, want the value rendered", how, r[how])
		}
	}
}

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Fatal(...any)          { r.failed = true; panic(r) }
func (r *recorder) Fatalf(string, ...any) { r.failed = true; panic(r) }

func failsWith(f func(tb testing.TB)) (failed bool) {
	r := &recorder{}
	defer func() {
		if p := recover(); p != nil && p != any(r) {
			panic(p)
		}
		failed = r.failed
	}()
	f(r)
	return r.failed
}

func TestCheckConfigError(t *testing.T) {
	t.Parallel()
	good := ports.NewError("redis", "config", ports.ErrInvalid, errors.New("REDIS_URL: malformed"))
	vars := []string{"REDIS_URL"}
	if failsWith(func(tb testing.TB) { testutil.CheckConfigError(tb, good, "pw123", vars) }) {
		t.Error("a good configuration error failed the check")
	}
	for name, err := range map[string]error{
		"nil":              nil,
		"shows the secret": ports.NewError("redis", "config", ports.ErrInvalid, errors.New("REDIS_URL: bad pw123")),
		"not ErrInvalid":   ports.NewError("redis", "config", ports.ErrUnavailable, errors.New("REDIS_URL: x")),
		"names no var":     ports.NewError("redis", "config", ports.ErrInvalid, errors.New("malformed")),
	} {
		if !failsWith(func(tb testing.TB) { testutil.CheckConfigError(tb, err, "pw123", vars) }) {
			t.Errorf("%s: passed the check", name)
		}
	}
	if !failsWith(func(tb testing.TB) { testutil.CheckRendered(tb, "leaky", leaky{"pw123"}, "pw123") }) {
		t.Error("CheckRendered passed a value that shows its secret")
	}
}

// TestSecretForms: every form carries the password, points at the address
// given, and every backend is in the corpus.
func TestSecretForms(t *testing.T) {
	t.Parallel()
	forms := testutil.SecretForms("127.0.0.1:1")
	backends := map[string]int{}
	names := map[string]bool{}
	for _, f := range forms {
		backends[f.Backend]++
		key := f.Backend + " " + f.Name
		if names[key] {
			t.Errorf("two forms named %q", key)
		}
		names[key] = true
		all := ""
		for _, v := range f.Env {
			all += v + " "
		}
		if !strings.Contains(all, testutil.SecretMarker) && !strings.Contains(all, strings.ReplaceAll(testutil.SecretMarker, "-", "%2D")) {
			t.Errorf("%s: no password in %v", key, f.Env)
		}
		if !strings.Contains(all, "127.0.0.1") && !strings.Contains(all, "unix(") {
			t.Errorf("%s: the address is not used: %v", key, f.Env)
		}
		if f.Conn != "" && !strings.Contains(f.Conn, testutil.SecretMarker) {
			t.Errorf("%s: Conn %q holds no password", key, f.Conn)
		}
	}
	for _, b := range []string{"mysql", "redis", "mongo", "postgres", "nats"} {
		if backends[b] < 4 {
			t.Errorf("%d forms for %s", backends[b], b)
		}
	}
}
