package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/portkit/portkit/internal/faults"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/internal/testutil"
	"github.com/portkit/portkit/lifecycle"
	"github.com/portkit/portkit/ports"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// go.opencensus.io, imported by the Pub/Sub client, starts this
		// worker in an init function; it lives as long as the process.
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		// rueidis (v1.0.79): a sentinel or cluster client schedules a
		// topology refresh that sleeps up to 1s before it runs and fails on
		// the closed client; Close does not wait for it (see
		// adapters/redis/main_test.go).
		goleak.IgnoreAnyFunction("github.com/redis/rueidis.(*call).DelayDo.func1"),
	)
}

// fakeConn is a Connector answering its checks with err.
type fakeConn struct {
	name   string
	err    error
	closed *atomic.Int32
}

func (f fakeConn) Name() string                { return f.name }
func (f fakeConn) Check(context.Context) error { return f.err }
func (f fakeConn) Close(context.Context) error {
	if f.closed != nil {
		f.closed.Add(1)
	}
	return nil
}

// fakeBackend is a backend configured by variable name+"_URL" whose open
// returns a fakeConn checking with checkErr, or fails with openErr.
func fakeBackend(name, target string, openErr, checkErr error, closed *atomic.Int32) backend {
	return backend{
		name: name,
		vars: []string{strings.ToUpper(name) + "_URL"},
		prepare: func(lookupFunc) (prepared, error) {
			return prepared{target: target, open: func(context.Context, *slog.Logger) (ports.Connector, error) {
				if openErr != nil {
					return nil, openErr
				}
				return fakeConn{name: name, err: checkErr, closed: closed}, nil
			}}, nil
		},
	}
}

// envOf returns a lookupEnv over the given variables only.
func envOf(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func runTest(t *testing.T, d deps, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = runWith(context.Background(), args, &out, &errb, d)
	return code, out.String(), errb.String()
}

func TestUsage(t *testing.T) {
	t.Parallel()
	d := deps{lookupEnv: envOf()}
	tests := []struct {
		args       []string
		code       int
		stdout     string // a substring; "" means empty
		stderrPart string
	}{
		{nil, exitUsage, "", "usage:"},
		{[]string{"help"}, exitOK, "portkit check", ""},
		{[]string{"frobnicate"}, exitUsage, "", `unknown command "frobnicate"`},
		{[]string{"check", "-bogus"}, exitUsage, "", "flag provided but not defined: -bogus"},
		{[]string{"check", "-timeout", "soon"}, exitUsage, "", "invalid value"},
		{[]string{"check", "-timeout", "0s"}, exitUsage, "", "-timeout must be positive"},
		{[]string{"check", "extra"}, exitUsage, "", `unexpected argument "extra"`},
		{[]string{"check", "-h"}, exitOK, "", "-timeout"},
		{[]string{"pubsub-emulator", "-port", "70000"}, exitUsage, "", "not a port number"},
		{[]string{"pubsub-emulator", "-port", "x"}, exitUsage, "", "invalid value"},
		{[]string{"pubsub-emulator", "now"}, exitUsage, "", `unexpected argument "now"`},
	}
	for _, tt := range tests {
		code, stdout, stderr := runTest(t, d, tt.args...)
		if code != tt.code {
			t.Errorf("%q: exit %d, want %d (stderr %q)", tt.args, code, tt.code, stderr)
		}
		if (tt.stdout == "") != (stdout == "") || !strings.Contains(stdout, tt.stdout) {
			t.Errorf("%q: stdout %q, want it to contain %q", tt.args, stdout, tt.stdout)
		}
		if !strings.Contains(stderr, tt.stderrPart) {
			t.Errorf("%q: stderr %q, want it to contain %q", tt.args, stderr, tt.stderrPart)
		}
	}
}

func TestCheckNothingConfigured(t *testing.T) {
	t.Parallel()
	// The real backends, in an environment where none is set (or set
	// empty): nothing is opened.
	d := deps{lookupEnv: envOf("REDIS_URL", ""), backends: adapterBackends()}
	code, stdout, stderr := runTest(t, d, "check")
	if code != exitUsage {
		t.Errorf("exit %d, want %d", code, exitUsage)
	}
	if stdout != "" {
		t.Errorf("stdout %q, want nothing", stdout)
	}
	for _, want := range []string{"no backend configured", "REDIS_URL", "MYSQL_DSN", "MYSQL_HOST", "MONGODB_URI", "PUBSUB_EMULATOR_HOST"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q does not mention %s", stderr, want)
		}
	}
}

func TestCheckConfigError(t *testing.T) {
	t.Parallel()
	var opened atomic.Int32
	good := fakeBackend("redis", "redis://cache:6379", nil, nil, nil)
	goodPrepare := good.prepare
	good.prepare = func(l lookupFunc) (prepared, error) {
		p, err := goodPrepare(l)
		open := p.open
		p.open = func(ctx context.Context, l *slog.Logger) (ports.Connector, error) {
			opened.Add(1)
			return open(ctx, l)
		}
		return p, err
	}
	bad := backend{name: "mysql", vars: []string{"MYSQL_DSN"}, prepare: func(lookupFunc) (prepared, error) {
		return prepared{}, ports.NewError("mysql", "config", ports.ErrInvalid,
			errors.New("MYSQL_DSN: malformed DSN root:hunter2@tcp(db:3306/x"))
	}}
	d := deps{lookupEnv: envOf("REDIS_URL", "x", "MYSQL_DSN", "y"), backends: []backend{bad, good}}
	code, stdout, stderr := runTest(t, d, "check")
	if code != exitUsage {
		t.Errorf("exit %d, want %d", code, exitUsage)
	}
	if !strings.Contains(stderr, "MYSQL_DSN") || strings.Contains(stderr, "hunter2") {
		t.Errorf("stderr %q: want the variable named and the password hidden", stderr)
	}
	if stdout != "" || opened.Load() != 0 {
		t.Errorf("checked despite a config error: stdout %q, %d opened", stdout, opened.Load())
	}
}

func TestCheckTable(t *testing.T) {
	t.Parallel()
	var closed atomic.Int32
	d := deps{
		lookupEnv: envOf("MYSQL_URL", "set", "REDIS_URL", "set", "MONGO_URL", "set"),
		backends: []backend{
			fakeBackend("mysql", "mysql://app:hunter2@db:3306/orders", nil, nil, &closed),
			fakeBackend("redis", "redis://cache:6379/0", nil,
				ports.NewError("redis", "check", ports.ErrUnavailable, errors.New("dial redis://:hunter2@cache:6379:\nrefused")), &closed),
			fakeBackend("mongo", "mongodb://m:27017", ports.NewError("mongo", "open", ports.ErrUnavailable, errors.New("no reachable servers")), nil, &closed),
			fakeBackend("pubsub", "unused", nil, nil, &closed), // not configured
		},
	}
	code, stdout, stderr := runTest(t, d, "check", "-timeout", "2s")
	if code != exitFailed {
		t.Errorf("exit %d, want %d; stderr %q", code, exitFailed, stderr)
	}
	if strings.Contains(stdout+stderr, "hunter2") {
		t.Errorf("output leaks a password:\n%s%s", stdout, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("want a header, 3 rows and a summary, got:\n%s", stdout)
	}
	header := lines[0]
	if !strings.HasPrefix(header, "BACKEND") {
		t.Errorf("header %q", header)
	}
	// Columns line up: each row's target starts under TARGET (in runes:
	// a latency in µs is wider in bytes).
	col := strings.Index(header, "TARGET")
	wantRows := []struct{ name, status, target, err string }{
		{"mysql", "ok", "mysql://app:xxxxx@db:3306/orders", "-"},
		{"redis", "FAIL", "redis://cache:6379/0", "redis: check: unavailable: dial redis://:xxxxx@cache:6379: refused"},
		{"mongo", "FAIL", "mongodb://m:27017", "mongo: open: unavailable: no reachable servers"},
	}
	for i, w := range wantRows {
		row := lines[i+1]
		fields := strings.Fields(row)
		if len(fields) < 5 || fields[0] != w.name || fields[1] != w.status {
			t.Errorf("row %d = %q, want %s %s", i, row, w.name, w.status)
			continue
		}
		if r := []rune(row); len(r) < col || !strings.HasPrefix(string(r[col:]), w.target+" ") {
			t.Errorf("row %q: target not in the TARGET column, want %q", row, w.target)
		}
		if !strings.HasSuffix(row, "  "+w.err) {
			t.Errorf("row %q, want error %q last", row, w.err)
		}
	}
	if lines[4] != "2 of 3 backends failed" {
		t.Errorf("summary %q", lines[4])
	}
	if n := closed.Load(); n != 2 {
		t.Errorf("%d connectors closed, want the 2 opened", n)
	}
}

func TestCheckAllOK(t *testing.T) {
	t.Parallel()
	d := deps{
		lookupEnv: envOf("REDIS_URL", "set"),
		backends:  []backend{fakeBackend("redis", "redis://cache:6379/0", nil, nil, nil)},
	}
	code, stdout, _ := runTest(t, d, "check")
	if code != exitOK {
		t.Errorf("exit %d, want 0", code)
	}
	if !strings.HasSuffix(stdout, "all 1 backends answered\n") {
		t.Errorf("stdout %q", stdout)
	}
}

func TestCheckJSON(t *testing.T) {
	t.Parallel()
	d := deps{
		lookupEnv: envOf("REDIS_URL", "set", "MYSQL_URL", "set"),
		backends: []backend{
			fakeBackend("mysql", "app:hunter2@tcp(db:3306)/orders", nil, nil, nil),
			fakeBackend("redis", "redis://cache:6379/0", nil, errors.New("down"), nil),
		},
	}
	code, stdout, _ := runTest(t, d, "check", "-json")
	if code != exitFailed {
		t.Errorf("exit %d, want 1", code)
	}
	var r lifecycle.Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("stdout is not a report: %v\n%s", err, stdout)
	}
	if len(r.Checks) != 2 || !r.Checks[0].OK || r.Checks[1].OK || r.Checks[1].Error != "down" {
		t.Errorf("report = %+v", r)
	}
	if r.Checks[0].Target != "app:xxxxx@tcp(db:3306)/orders" {
		t.Errorf("target = %q, want it redacted", r.Checks[0].Target)
	}
}

func TestCheckGivesUpOnAnOpenThatIgnoresItsContext(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	lateClosed := make(chan struct{})
	stuck := backend{name: "stuck", vars: []string{"STUCK"}, prepare: func(lookupFunc) (prepared, error) {
		return prepared{open: func(context.Context, *slog.Logger) (ports.Connector, error) {
			<-release
			return closeSignal{lateClosed}, nil
		}}, nil
	}}
	d := deps{lookupEnv: envOf("STUCK", "1"), backends: []backend{stuck}}
	start := time.Now()
	code, stdout, _ := runTest(t, d, "check", "-timeout", "50ms")
	if elapsed := time.Since(start); elapsed > 50*time.Millisecond+openGrace+2*time.Second {
		t.Errorf("check took %v", elapsed)
	}
	if code != exitFailed || !strings.Contains(stdout, "did not return within 50ms") {
		t.Errorf("exit %d, stdout %q; want a failure naming the timeout", code, stdout)
	}
	close(release)
	select {
	case <-lateClosed: // the connector the late Open returned is closed
	case <-time.After(5 * time.Second):
		t.Error("connector returned after the deadline was not closed")
	}
}

type closeSignal struct{ done chan struct{} }

func (c closeSignal) Name() string                { return "stuck" }
func (c closeSignal) Check(context.Context) error { return nil }
func (c closeSignal) Close(context.Context) error {
	close(c.done)
	return nil
}

func TestFormatLatency(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		734*time.Microsecond + 400:   "734µs",
		12*time.Millisecond + 345678: "12.35ms",
		5001*time.Millisecond + 4000: "5.001s",
		0:                            "0s",
	} {
		if got := formatLatency(d); got != want {
			t.Errorf("formatLatency(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestEmulatorArgs(t *testing.T) {
	t.Parallel()
	var (
		mu  sync.Mutex
		got []string
	)
	d := deps{serveEmulator: func(ctx context.Context, addr string, logger *slog.Logger) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, addr)
		if addr == "[::1]:1" {
			return errors.New("listen: permission denied")
		}
		return nil
	}}
	if code, _, _ := runTest(t, d, "pubsub-emulator"); code != exitOK {
		t.Errorf("exit %d", code)
	}
	if code, _, _ := runTest(t, d, "pubsub-emulator", "-host", "0.0.0.0", "-port", "9999"); code != exitOK {
		t.Errorf("exit %d", code)
	}
	code, _, stderr := runTest(t, d, "pubsub-emulator", "-host", "::1", "-port", "1")
	if code != exitFailed || !strings.Contains(stderr, "permission denied") {
		t.Errorf("exit %d, stderr %q; want 1 and the error", code, stderr)
	}
	want := []string{"127.0.0.1:8085", "0.0.0.0:9999", "[::1]:1"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("served on %q, want %q", got, want)
	}
}

func TestEmulatorServesUntilContextEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // as after SIGTERM: Serve listens, then stops at once
	var out, errb bytes.Buffer
	code := run(ctx, []string{"pubsub-emulator", "-port", "0"}, &out, &errb)
	if code != exitOK {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
}

// TestCheckRealBackends runs check against each backend configured in the
// environment, the way make test configures them.
func TestCheckRealBackends(t *testing.T) {
	if os.Getenv("PUBSUB_EMULATOR_HOST") != "" && os.Getenv("PUBSUB_PROJECT_ID") == "" {
		t.Setenv("PUBSUB_PROJECT_ID", "portkit-test") // any name works with an emulator
	}
	for _, b := range adapterBackends() {
		t.Run(b.name, func(t *testing.T) {
			if !configured(b, os.LookupEnv) {
				testenv.Missing(t, b.name, "none of "+strings.Join(b.vars, ", ")+" is set")
			}
			d := deps{lookupEnv: os.LookupEnv, backends: []backend{b}}
			code, stdout, stderr := runTest(t, d, "check", "-timeout", "10s")
			if code != exitOK {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			if f := strings.Fields(strings.Split(stdout, "\n")[1]); len(f) < 2 || f[0] != b.name || f[1] != "ok" {
				t.Errorf("stdout:\n%s", stdout)
			}
		})
	}
}

// TestCheckVerboseShowsNoSecret runs check -v (and -json) on the real
// adapters with the known password in every form of the secrets corpus
// (internal/testutil: every URL and DSN parameter that can carry a
// credential), against a closed port, and against a server that wants
// the password: no output shows it. Malformed forms take the
// configuration error path. A Redis URL with ?password= authenticates
// (the password is honoured, not ignored).
func TestCheckVerboseShowsNoSecret(t *testing.T) {
	t.Parallel()
	type tc struct {
		env    map[string]string
		wantOK bool
	}
	cases := map[string]tc{}
	urlVar := map[string]string{"mysql": "PORTKIT_SQL_URL", "postgres": "PORTKIT_SQL_URL", "mongo": "PORTKIT_DOC_URL",
		"redis": "PORTKIT_CACHE_URL", "nats": "PORTKIT_PUBSUB_URL"}
	for _, f := range testutil.SecretForms(faults.ClosedPort(t)) {
		switch f.Backend {
		case "mysql", "redis", "mongo":
			cases[f.Backend+" "+f.Name] = tc{env: f.Env}
		}
		if strings.Contains(f.Conn, "://") {
			// The same URL as a PORTKIT_ variable, through package open
			// (postgres:// and nats:// are unknown schemes until linked).
			env := map[string]string{urlVar[f.Backend]: f.Conn}
			for k, v := range f.Env {
				if v != f.Conn {
					env[k] = v
				}
			}
			cases["url "+f.Backend+" "+f.Name] = tc{env: env}
		}
	}
	if len(cases) < 50 {
		t.Fatalf("%d forms of the corpus for check; it has shrunk", len(cases))
	}
	if _, err := exec.LookPath("redis-server"); err == nil {
		srv := faults.StartRedis(t, "--requirepass", testutil.SecretPassword)
		esc := url.QueryEscape(testutil.SecretPassword)
		cases["redis ?password= authenticates"] = tc{env: map[string]string{"REDIS_URL": "redis://" + srv.Addr() + "/?db=1&password=" + esc}, wantOK: true}
		cases["redis user info authenticates"] = tc{env: map[string]string{"REDIS_URL": "redis://:" + esc + "@" + srv.Addr() + "/"}, wantOK: true}
		cases["redis wrong password"] = tc{env: map[string]string{"REDIS_URL": "redis://" + srv.Addr() + "/0?password=" + esc + "x"}}
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var kv []string
			for k, v := range c.env {
				kv = append(kv, k, v)
			}
			d := deps{lookupEnv: envOf(kv...), backends: adapterBackends(), urlBackends: urlBackends}
			for _, args := range [][]string{{"check", "-v", "-timeout", "1s"}, {"check", "-json", "-timeout", "1s"}} {
				code, stdout, stderr := runTest(t, d, args...)
				if (code == exitOK) != c.wantOK {
					t.Errorf("%q: exit %d, want ok %v\nstdout:\n%s\nstderr:\n%s", args, code, c.wantOK, stdout, stderr)
				}
				if stdout+stderr == "" {
					t.Errorf("%q: no output", args)
				}
				if strings.Contains(stdout+stderr, testutil.SecretMarker) {
					t.Errorf("%q shows the password:\nstdout:\n%s\nstderr:\n%s", args, stdout, stderr)
				}
			}
		})
	}
}
