package reliability

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"go.uber.org/goleak"

	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/ports"
)

// outVar names the file the tests write their figures to.
const outVar = "PORTKIT_RELIABILITY_OUT"

func TestMain(m *testing.M) {
	if path := os.Getenv(outVar); path != "" {
		// Each test appends its section; start from an empty file.
		if err := os.WriteFile(path, []byte("<!-- written by go test ./internal/reliability -->\n"), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "reliability: %s: %v\n", outVar, err)
			os.Exit(2)
		}
	}
	goleak.VerifyTestMain(m,
		// OpenCensus, imported by the Pub/Sub client, starts a worker in
		// its package init that lives as long as the process.
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		// Each StreamingPull stream of the Pub/Sub client has a keep-alive
		// goroutine that checks for shutdown only on the tick of a 10s
		// ticker (pubsub/v2 v2.9.0 iterator.go streamKeepAliveHandler):
		// it outlives Subscribe and Close by up to 10s, then exits.
		goleak.IgnoreTopFunction("cloud.google.com/go/pubsub/v2.(*messageIterator).streamKeepAliveHandler"),
		goleak.IgnoreAnyFunction("cloud.google.com/go/pubsub/v2.(*messageIterator).checkServer"),
	)
}

// writeSection appends a Markdown section to the file named by
// PORTKIT_RELIABILITY_OUT, when set.
func writeSection(t *testing.T, text string) {
	t.Helper()
	path := os.Getenv(outVar)
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Errorf("%s: %v", outVar, err)
		return
	}
	defer f.Close()
	if _, err := f.WriteString("\n" + strings.TrimSpace(text) + "\n"); err != nil {
		t.Errorf("%s: %v", outVar, err)
	}
}

// acceptable reports whether err is what a call that could not reach its
// server must return: ErrUnavailable or the context's error.
func acceptable(err error) bool {
	return errors.Is(err, ports.ErrUnavailable) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// kindName names the port sentinel (or context error) err matches.
func kindName(err error) string {
	switch {
	case err == nil:
		return "nil"
	case errors.Is(err, ports.ErrUnavailable):
		return "ErrUnavailable"
	case errors.Is(err, ports.ErrClosed):
		return "ErrClosed"
	case errors.Is(err, ports.ErrInvalid):
		return "ErrInvalid"
	case errors.Is(err, ports.ErrNotFound):
		return "ErrNotFound"
	case errors.Is(err, ports.ErrConflict):
		return "ErrConflict"
	case errors.Is(err, context.DeadlineExceeded):
		return "ctx deadline"
	case errors.Is(err, context.Canceled):
		return "ctx canceled"
	}
	return "other"
}

// logBuffer is a concurrency-safe sink for captured log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// captureLogger returns a logger that writes every level, as text, to the
// returned buffer.
func captureLogger() (*slog.Logger, *logBuffer) {
	buf := &logBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// quietLogger discards everything below error level into a buffer that
// the test may print on failure.
func quietLogger(t *testing.T) *slog.Logger {
	l, buf := captureLogger()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("adapter log:\n%s", buf.String())
		}
	})
	return l
}

// timed runs f and returns how long it took and its error.
func timed(f func() error) (time.Duration, error) {
	start := time.Now()
	err := f()
	return time.Since(start), err
}

// bound is the no-hang promise: a limit + 10%.
func bound(limit time.Duration) time.Duration { return limit + limit/10 }

// runConcurrently runs each case as a subtest, all at once. Unlike
// t.Parallel, it is not limited by -parallel (GOMAXPROCS, 2 here): the
// cases mostly wait on timers and the network, and the package's wall
// time is the longest case, not their sum.
func runConcurrently(t *testing.T, cases map[string]func(t *testing.T)) {
	t.Helper()
	var wg sync.WaitGroup
	for name, f := range cases {
		wg.Go(func() { t.Run(name, f) })
	}
	wg.Wait()
}

// --- backends ---

// redisBackend returns the host:port of REDIS_URL's server and a function
// that rewrites REDIS_URL to another address (a proxy's), keeping its
// credentials and database.
func redisBackend(t *testing.T) (upstream string, urlFor func(addr string) string) {
	t.Helper()
	raw := testenv.Env(t, "redis", "REDIS_URL")
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || strings.Contains(u.RawQuery, "addr=") || strings.Contains(u.RawQuery, "master_set=") {
		testenv.Missing(t, "redis", "REDIS_URL is not a single-server redis:// URL; the fault tests need one")
	}
	return u.Host, func(addr string) string {
		v := *u
		v.Host = addr
		return v.String()
	}
}

// mysqlBackend returns the address of MYSQL_DSN's server and a function
// that rewrites the DSN to another address.
func mysqlBackend(t *testing.T) (upstream string, dsnFor func(addr string) string) {
	t.Helper()
	raw := testenv.Env(t, "mysql", "MYSQL_DSN")
	dc, err := mysqldrv.ParseDSN(raw)
	if err != nil || dc.Net != "tcp" {
		testenv.Missing(t, "mysql", "MYSQL_DSN is not a tcp DSN; the fault tests need one")
	}
	return dc.Addr, func(addr string) string {
		c := dc.Clone()
		c.Addr = addr
		return c.FormatDSN()
	}
}

// mongoBackend returns the host of MONGODB_URI (a single-host mongodb://
// URI) and a function that rewrites the URI to another address.
func mongoBackend(t *testing.T) (upstream string, uriFor func(addr string) string) {
	t.Helper()
	raw := testenv.Env(t, "mongo", "MONGODB_URI")
	rest, ok := strings.CutPrefix(raw, "mongodb://")
	if !ok {
		testenv.Missing(t, "mongo", "MONGODB_URI is not a mongodb:// URI; the fault tests need one")
	}
	auth, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		auth, tail = rest[:i], rest[i:]
	}
	user := ""
	if i := strings.LastIndex(auth, "@"); i >= 0 {
		user, auth = auth[:i+1], auth[i+1:]
	}
	if strings.Contains(auth, ",") {
		testenv.Missing(t, "mongo", "MONGODB_URI names several hosts; the fault tests need one")
	}
	if !strings.Contains(auth, ":") {
		auth += ":27017"
	}
	// The proxy's address is not the one the server knows itself by: a
	// direct connection does not follow the server's own host list.
	return auth, func(addr string) string {
		u := "mongodb://" + user + addr + tail
		if !strings.Contains(tail, "?") {
			if !strings.HasPrefix(tail, "/") {
				u += "/"
			}
			return u + "?directConnection=true"
		}
		return u + "&directConnection=true"
	}
}

// schedProbe measures how late the Go scheduler runs this process's
// goroutines: a goroutine sleeps schedTick at a time and records by how
// much each wake-up came late. On a loaded machine (the 2 shared cores
// of CI or of a developer compiling meanwhile, with -race) every
// goroutine can wait hundreds of milliseconds to run; a call that returns
// that much after its deadline has not hung. The tests allow a late
// return the probe saw the scheduler being late around the same time.
type schedProbe struct {
	mu      sync.Mutex
	samples []schedSample
	stop    chan struct{}
	done    chan struct{}
}

type schedSample struct {
	at   time.Time     // when the goroutine ran
	late time.Duration // how long after its wake-up time
}

const schedTick = 10 * time.Millisecond

// startSchedProbe starts a probe, stopped at cleanup.
func startSchedProbe(t *testing.T) *schedProbe {
	p := &schedProbe{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		timer := time.NewTimer(schedTick)
		defer timer.Stop()
		for {
			want := time.Now().Add(schedTick)
			timer.Reset(schedTick)
			select {
			case <-p.stop:
				return
			case <-timer.C:
			}
			now := time.Now()
			p.mu.Lock()
			p.samples = append(p.samples, schedSample{at: now, late: max(now.Sub(want), 0)})
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		close(p.stop)
		<-p.done
	})
	return p
}

// lateness returns the longest scheduling delay the probe saw between
// from and to.
func (p *schedProbe) lateness(from, to time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	var worst time.Duration
	for _, s := range p.samples {
		if !s.at.Before(from) && !s.at.After(to) {
			worst = max(worst, s.late)
		}
	}
	return worst
}
