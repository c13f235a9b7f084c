package pubsub_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/portkit/portkit/adapters/pubsub"
	"github.com/portkit/portkit/internal/pstestserver"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/ports"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// OpenCensus (imported by the Pub/Sub client for its metrics)
		// starts a worker goroutine in its package init that lives for the
		// whole process; it is not a leak of this package.
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		// Every StreamingPull stream of the client's Receive has a
		// keep-alive goroutine that checks for shutdown only between two
		// ticks of a 10s ticker nobody stops (pubsub/v2 v2.9.0,
		// iterator.go streamKeepAliveHandler), so it outlives Receive, and
		// Close, by up to 10s, then exits, sometimes after starting a
		// checkServer that returns at once.
		goleak.IgnoreTopFunction("cloud.google.com/go/pubsub/v2.(*messageIterator).streamKeepAliveHandler"),
		goleak.IgnoreAnyFunction("cloud.google.com/go/pubsub/v2.(*messageIterator).checkServer"),
	)
}

// testProject is the project ID of every test; emulators accept any.
const testProject = "portkit-test"

// backend opens adapters against one Pub/Sub server.
type backend struct {
	name string
	// config returns a Config for the server, starting it when it is
	// in-process; it skips the test when the server is not available.
	config func(t *testing.T) pubsub.Config
}

// backends are pstest (always, in-process, served by internal/pstestserver
// with the service's request limits) and Google's emulator (when
// PUBSUB_EMULATOR_HOST is set).
var backends = []backend{
	{name: "pstest", config: func(t *testing.T) pubsub.Config {
		srv := startPstest(t)
		cfg := pubsub.Config{ProjectID: testProject, EmulatorHost: srv.Addr}
		// pstest hands each stream about one message per 10ms tick.
		cfg.Receive.Streams = 16
		return cfg
	}},
	{name: "emulator", config: func(t *testing.T) pubsub.Config {
		host := testenv.Env(t, "pubsub-emulator", pubsub.EnvEmulatorHost)
		return pubsub.Config{ProjectID: testProject, EmulatorHost: host}
	}},
}

// startPstest serves a pstest fake with the service's limits until the
// test ends.
func startPstest(t *testing.T) *pstestserver.Server {
	t.Helper()
	srv, err := pstestserver.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// forEachBackend runs f as a parallel subtest per backend, in a parallel
// test.
func forEachBackend(t *testing.T, f func(t *testing.T, cfg pubsub.Config)) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			f(t, b.config(t))
		})
	}
}

// onPstest reports whether t is the pstest subtest of forEachBackend.
func onPstest(t *testing.T) bool { return strings.HasSuffix(t.Name(), "/pstest") }

// open opens an adapter and closes it when the test ends.
func open(t *testing.T, cfg pubsub.Config, opts ...pubsub.Option) *pubsub.PubSub {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	opts = append([]pubsub.Option{pubsub.WithLogger(testLogger(t))}, opts...)
	ps, err := pubsub.Open(ctx, cfg, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 10*time.Second)
		defer cancel()
		_ = ps.Close(ctx)
	})
	return ps
}

// provision creates a topic and subscriptions with unique names.
func provision(t *testing.T, ps *pubsub.PubSub, subs map[string]ports.SubscriptionConfig) (topic string, names map[string]string) {
	t.Helper()
	ctx := t.Context()
	topic = testenv.UniqueName("t")
	if err := ps.EnsureTopic(ctx, topic); err != nil {
		t.Fatalf("EnsureTopic: %v", err)
	}
	names = map[string]string{}
	for k, sc := range subs {
		name := testenv.UniqueName("s_" + k)
		sc.Topic = topic
		if err := ps.EnsureSubscription(ctx, name, sc); err != nil {
			t.Fatalf("EnsureSubscription: %v", err)
		}
		names[k] = name
	}
	return topic, names
}

// testLogger logs to the test's output at warn level and above.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// slogTo returns a logger writing every level to w as text.
func slogTo(w *logBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// logBuffer is a concurrency-safe buffer for log output.
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
