package wiring_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/portkit/portkit/examples/orders/wiring"
	"github.com/portkit/portkit/messaging"
	"github.com/portkit/portkit/outbox"
	"github.com/portkit/portkit/ports"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// go.opencensus.io, imported by the Pub/Sub client, starts this
		// worker in an init function; it lives as long as the process.
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
	)
}

const secret = "s3cretPW"

func TestConfigFromEnvironDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := wiring.ConfigFromEnviron(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:8080" || cfg.ShutdownTimeout.String() != "10s" || cfg.CacheTTL.String() != "5m0s" || cfg.Namespace != "" {
		t.Errorf("defaults = %v", cfg)
	}
	if cfg.SQLURL != "mem://" || cfg.DocURL != "mem://" || cfg.CacheURL != "mem://" || cfg.PubSubURL != "mem://" {
		t.Errorf("no URL set, yet a port is not on its fake: %v", cfg)
	}
}

func TestConfigFromEnvironErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ env, name string }{
		{"SHUTDOWN_TIMEOUT=soon", "SHUTDOWN_TIMEOUT"},
		{"SHUTDOWN_TIMEOUT=0s", "SHUTDOWN_TIMEOUT"},
		{"ORDERS_CACHE_TTL=-1m", "ORDERS_CACHE_TTL"},
		{"LOG_LEVEL=loud", "LOG_LEVEL"},
		{"ORDERS_NAMESPACE=Bad-Name", "ORDERS_NAMESPACE"},
		{"ORDERS_NAMESPACE=" + strings.Repeat("a", 25), "ORDERS_NAMESPACE"},
	}
	for _, tt := range tests {
		_, err := wiring.ConfigFromEnviron([]string{tt.env})
		if !errors.Is(err, ports.ErrInvalid) || !strings.Contains(err.Error(), tt.name) {
			t.Errorf("%s: err = %v, want ErrInvalid naming %s", tt.env, err, tt.name)
		}
	}
}

// TestConfigFromEnvironIsTheOnlySource: the URLs and the adapters' other
// variables come from environ, not from the process environment.
func TestConfigFromEnvironIsTheOnlySource(t *testing.T) {
	t.Setenv("ORDERS_SQL_URL", "mysql://root:other@elsewhere:3306/x")
	t.Setenv("MYSQL_MAX_OPEN_CONNS", "3")
	cfg, err := wiring.ConfigFromEnviron([]string{"ORDERS_CACHE_URL=redis://:" + secret + "@127.0.0.1:6379/0", "REDIS_DIAL_TIMEOUT=later"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SQLURL != "mem://" || cfg.CacheURL != "redis://:"+secret+"@127.0.0.1:6379/0" {
		t.Fatalf("config = %v; want SQL on its fake, the cache from environ", cfg)
	}
	if cfg.Environ["REDIS_DIAL_TIMEOUT"] != "later" || cfg.Environ["MYSQL_MAX_OPEN_CONNS"] != "" {
		t.Errorf("Environ = %v; want environ's variables only", cfg.Environ)
	}
	// The adapter reads environ's REDIS_DIAL_TIMEOUT when Build opens it.
	var logs bytes.Buffer
	_, err = wiring.Build(t.Context(), cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if !errors.Is(err, ports.ErrInvalid) || !strings.Contains(err.Error(), "ORDERS_CACHE_URL: open cache redis://") ||
		!strings.Contains(err.Error(), "REDIS_DIAL_TIMEOUT") || strings.Contains(err.Error()+logs.String(), secret) {
		t.Errorf("err = %v, want ErrInvalid naming ORDERS_CACHE_URL and REDIS_DIAL_TIMEOUT without the password", err)
	}
}

func TestConfigRedacts(t *testing.T) {
	t.Parallel()
	cfg := wiring.Config{
		Addr:      "127.0.0.1:8080",
		SQLURL:    "mysql://root:" + secret + "@db:3306/orders",
		DocURL:    "mongodb://app:" + secret + "@mongo:27017/orders",
		CacheURL:  "redis://cache:6379/0?password=" + secret,
		PubSubURL: "gcppubsub://p",
		Environ:   map[string]string{"MYSQL_PASSWORD": secret},
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "cfg", cfg)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("config", "cfg", cfg)
	for _, s := range []string{
		fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprintf("%s", cfg),
		fmt.Sprintf("%v", &cfg), fmt.Sprintf("%+v", []wiring.Config{cfg}), logs.String(),
	} {
		if strings.Contains(s, secret) {
			t.Errorf("secret shown: %s", s)
		}
	}
	if s := fmt.Sprint(cfg); !strings.Contains(s, "root:xxxxx@db:3306") || !strings.Contains(s, "cache:6379") || !strings.Contains(s, "gcppubsub://p") {
		t.Errorf("redaction hid the hosts too: %s", s)
	}
	if !strings.Contains(logs.String(), "cfg.sql_url=mysql://root:xxxxx@db:3306/orders") {
		t.Errorf("log lacks the redacted SQL URL: %s", logs.String())
	}
}

func TestNamesFor(t *testing.T) {
	t.Parallel()
	if n := wiring.NamesFor(""); n != (wiring.Names{Orders: "orders", Lines: "order_lines", Outbox: "outbox", OutboxLeases: "outbox_leases",
		Views: "order_views", Audits: "audits", Topic: "order.created", Subscription: "order-projector",
		DeadLetter: "order.created.dead", DeadLetters: "order-projector-dead", KeyPrefix: "orders:"}) {
		t.Errorf("NamesFor(\"\") = %+v", n)
	}
	n := wiring.NamesFor("t1")
	if n.Orders != "orders_t1" || n.Outbox != "outbox_t1" || n.Topic != "order.created_t1" || n.Subscription != "order-projector_t1" ||
		n.DeadLetter != "order.created.dead_t1" || n.KeyPrefix != "orders:t1:" {
		t.Errorf("NamesFor(t1) = %+v", n)
	}
}

func buildFakes(t *testing.T, logs *bytes.Buffer, environ ...string) *wiring.Ports {
	t.Helper()
	cfg, err := wiring.ConfigFromEnviron(append([]string{"ORDERS_NAMESPACE=wt"}, environ...))
	if err != nil {
		t.Fatal(err)
	}
	p, err := wiring.Build(t.Context(), cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := p.Group.Close(ctx); err != nil {
			t.Error(err)
		}
		if err := p.Wait(ctx); err != nil {
			t.Error(err)
		}
	})
	return p
}

func TestBuildFakes(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	p := buildFakes(t, &logs, "ORDERS_SQL_URL=mem://?dialect=postgres")
	if len(p.Backends) != 4 || p.Group.Len() != 4 {
		t.Fatalf("backends = %+v", p.Backends)
	}
	for _, b := range p.Backends {
		if b.Real || !strings.HasPrefix(b.Impl, "fake-") || b.Scheme != "mem" {
			t.Errorf("backend %+v, want a fake", b)
		}
		if line := fmt.Sprintf("port=%s kind=fake impl=%s scheme=mem target=in-memory", b.Port, b.Impl); !strings.Contains(logs.String(), line) {
			t.Errorf("start-up log lacks %q:\n%s", line, logs.String())
		}
	}
	if p.Fakes.SQL == nil || p.Fakes.Docs == nil || p.Fakes.Cache == nil || p.Fakes.PubSub == nil {
		t.Fatalf("fakes = %+v", p.Fakes)
	}
	if d := p.Fakes.SQL.Dialect(); d != "postgres" {
		t.Errorf("SQL fake dialect %q, want the URL's postgres", d)
	}
	if !p.Group.Check(t.Context()).OK() {
		t.Errorf("fresh fakes not ready: %+v", p.Group.Check(t.Context()))
	}
	// The Publisher is the outbox's: it refuses to publish outside a
	// transaction.
	_, err := p.Publisher.Publish(t.Context(), p.Names.Topic, ports.Message{Data: []byte("x")})
	if !errors.Is(err, outbox.ErrNoTransaction) {
		t.Errorf("Publish outside a transaction = %v, want ErrNoTransaction", err)
	}
	// The topics and subscriptions exist: a message published to the
	// broker reaches the projector's subscription, and the dead-letter
	// topic has its own.
	for topic, sub := range map[string]string{p.Names.Topic: p.Names.Subscription, p.Names.DeadLetter: p.Names.DeadLetters} {
		if _, err := p.Broker.Publish(t.Context(), topic, ports.Message{Data: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		if n := p.Fakes.PubSub.Pending(sub); n != 1 {
			t.Errorf("%d messages pending on %s, want 1", n, sub)
		}
	}
}

// TestStartOnFakes runs the relay and the projector on the fakes: an event
// written in a transaction reaches the handler once (a second publication
// of the same message is deduplicated), a rolled-back one never does, a
// malformed one and a panicking one go to the dead-letter topic, and the
// group then stops both workers before the backends.
func TestStartOnFakes(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	p := buildFakes(t, &logs)
	var (
		mu   sync.Mutex
		seen = map[string]int{}
	)
	h := func(_ context.Context, m ports.Message) error {
		switch string(m.Data) {
		case "panic":
			panic("boom")
		case "malformed":
			return messaging.Permanent(errors.New("cannot decode"))
		}
		mu.Lock()
		seen[string(m.Data)]++
		mu.Unlock()
		return nil
	}
	runner, err := p.Start(h)
	if err != nil {
		t.Fatal(err)
	}
	if p.Group.Len() != 6 {
		t.Errorf("group has %d connectors, want the 4 backends, the relay and the projector", p.Group.Len())
	}
	ctx := t.Context()
	publish := func(data string, rollback bool) ports.Message {
		m := ports.Message{Data: []byte(data), Attributes: map[string]string{messaging.AttrMessageID: "id-" + data}}
		err := p.Tx.WithinTx(ctx, func(ctx context.Context) error {
			if _, err := p.Publisher.Publish(ctx, p.Names.Topic, m); err != nil {
				return err
			}
			if rollback {
				return errors.New("roll back")
			}
			return nil
		})
		if (err != nil) != rollback {
			t.Fatalf("publish %s: %v", data, err)
		}
		return m
	}
	m := publish("ok", false)
	publish("rolled-back", true)
	publish("malformed", false)
	publish("panic", false)
	waitFor(t, "the event and the two dead letters", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return seen["ok"] == 1 && p.Fakes.PubSub.Pending(p.Names.DeadLetters) == 2
	})
	// The relay republishing the same message (a redelivery after a crash)
	// is absorbed by Dedupe.
	if _, err := p.Broker.Publish(ctx, p.Names.Topic, m); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the duplicate acked", func() bool { return p.Fakes.PubSub.Acked(p.Names.Subscription) >= 4 })
	if err := p.DrainOutbox(ctx); err != nil {
		t.Error(err)
	}
	mu.Lock()
	if seen["ok"] != 1 || seen["rolled-back"] != 0 {
		t.Errorf("handled %v; want ok once, the rolled-back event never", seen)
	}
	mu.Unlock()
	if err := runner.Check(ctx); err != nil {
		t.Errorf("projector not healthy: %v", err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 30s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestBuildFailureClosesWhatItOpened: a backend that cannot be reached
// fails Build with ErrUnavailable naming its variable, and Build closes
// what it had opened.
func TestBuildFailureClosesWhatItOpened(t *testing.T) {
	t.Parallel()
	cfg, err := wiring.ConfigFromEnviron([]string{
		"ORDERS_DOC_URL=mongodb://app:" + secret + "@127.0.0.1:1/orders?connect_timeout=1s&server_selection_timeout=1s",
	})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	p, err := wiring.Build(t.Context(), cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err == nil {
		_ = p.Group.Close(context.Background())
		t.Fatal("Build succeeded against a closed port")
	}
	if !errors.Is(err, ports.ErrUnavailable) || !strings.Contains(err.Error(), "ORDERS_DOC_URL: open doc mongodb://") {
		t.Errorf("Build = %v, want ErrUnavailable naming ORDERS_DOC_URL", err)
	}
	if strings.Contains(err.Error()+logs.String(), secret) {
		t.Errorf("secret shown in %v or logs", err)
	}
	if !strings.Contains(logs.String(), `"lifecycle: closed" name=fake-sql`) {
		t.Errorf("what was opened before was not closed:\n%s", logs.String())
	}
}

func TestBuildBadURL(t *testing.T) {
	t.Parallel()
	for env, want := range map[string]string{
		"ORDERS_PUBSUB_URL=redis://:" + secret + "@h:6379": "ORDERS_PUBSUB_URL: open: open pubsub: invalid argument: scheme redis:// (redis) does not serve the pubsub port",
		"ORDERS_SQL_URL=sqlite://" + secret:                "ORDERS_SQL_URL: open: open sql: invalid argument: unknown scheme sqlite://",
		"ORDERS_CACHE_URL=mem://?prefix=x":                 `ORDERS_CACHE_URL: open cache mem://: fakes: open cache: invalid argument: mem:// URL: unknown parameter "prefix"`,
	} {
		cfg, err := wiring.ConfigFromEnviron([]string{env})
		if err != nil {
			t.Fatal(err)
		}
		_, err = wiring.Build(t.Context(), cfg, slog.New(slog.DiscardHandler))
		if !errors.Is(err, ports.ErrInvalid) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), secret) {
			t.Errorf("%s: Build = %v, want ErrInvalid saying %q", env, err, want)
		}
	}
}

func ExampleNamesFor() {
	n := wiring.NamesFor("")
	fmt.Println(n.Orders, n.Lines, n.Outbox, n.Views, n.Audits, n.Topic, n.Subscription, n.DeadLetter)
	// Output: orders order_lines outbox order_views audits order.created order-projector order.created.dead
}

// With no URL set, every port runs on its in-memory fake.
func ExampleBuild() {
	ctx := context.Background()
	cfg, err := wiring.ConfigFromEnviron(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	p, err := wiring.Build(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Group.Close(ctx)
	for _, b := range p.Backends {
		fmt.Println(b.Port, b.Scheme, b.Impl, b.Real)
	}
	// Output:
	// sql mem fake-sql false
	// documents mem fake-doc false
	// cache mem fake-cache false
	// pubsub mem fake-pubsub false
}
