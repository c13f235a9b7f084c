package nats_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/portkit/portkit/adapters/nats"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/ports"
)

// testPrefix starts every stream, subject and bucket this test binary
// makes: pk_nats_ and a random suffix, so that concurrent runs share
// nothing. TestMain deletes them at the end.
var testPrefix = "pk_nats_" + randomHex(3)

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(sweeping{m}) }

// sweeping runs the tests, then deletes what they left on the server.
type sweeping struct{ m *testing.M }

func (s sweeping) Run() int {
	defer sweep(testPrefix)
	return s.m.Run()
}

// sweep deletes the streams (and so the buckets) whose names start with
// prefix, on the server at NATS_URL.
func sweep(prefix string) {
	url := os.Getenv(nats.EnvURL)
	if url == "" {
		return
	}
	nc, err := natsgo.Connect(url, natsgo.Timeout(2*time.Second))
	if err != nil {
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	names := js.StreamNames(ctx)
	var doomed []string
	for name := range names.Name() {
		if strings.HasPrefix(name, prefix) || strings.HasPrefix(name, "KV_"+prefix) {
			doomed = append(doomed, name)
		}
	}
	for _, name := range doomed {
		_ = js.DeleteStream(ctx, name)
	}
}

// natsURL returns NATS_URL, or skips the test (fails it with
// PORTKIT_REQUIRE_BACKENDS=1) when it is not set.
func natsURL(t testing.TB) string {
	t.Helper()
	return testenv.Env(t, "nats", nats.EnvURL)
}

// testConfig is the Config of the tests: the server at NATS_URL, the
// binary's prefix, and short pull requests so that Subscribe returns soon.
func testConfig(t testing.TB) nats.Config {
	cfg := nats.Config{URL: natsURL(t), Prefix: testPrefix}
	cfg.Receive.Poll = 200 * time.Millisecond
	return cfg
}

// open opens an adapter and closes it when the test ends.
func open(t testing.TB, cfg nats.Config, opts ...nats.Option) *nats.NATS {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts = append([]nats.Option{nats.WithLogger(testLogger(t))}, opts...)
	n, err := nats.Open(ctx, cfg, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = n.Close(ctx)
	})
	return n
}

// provision creates a topic and subscriptions with unique names.
func provision(t testing.TB, n *nats.NATS, subs map[string]ports.SubscriptionConfig) (topic string, names map[string]string) {
	t.Helper()
	ctx := context.Background()
	topic = testenv.UniqueName("t")
	if err := n.EnsureTopic(ctx, topic); err != nil {
		t.Fatalf("EnsureTopic: %v", err)
	}
	names = map[string]string{}
	for k, sc := range subs {
		name := testenv.UniqueName("s_" + k)
		sc.Topic = topic
		if err := n.EnsureSubscription(ctx, name, sc); err != nil {
			t.Fatalf("EnsureSubscription: %v", err)
		}
		names[k] = name
	}
	return topic, names
}

// testLogger logs to the test's output at warn level and above.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}
