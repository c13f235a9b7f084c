package wiring_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/portkit/portkit/adapters/mongo"
	"github.com/portkit/portkit/adapters/mysql"
	"github.com/portkit/portkit/adapters/pubsub"
	"github.com/portkit/portkit/adapters/redis"
	"github.com/portkit/portkit/examples/orders/wiring"
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
	if cfg.MySQL != nil || cfg.Mongo != nil || cfg.Redis != nil || cfg.PubSub != nil {
		t.Errorf("no backend variable, yet a real adapter is selected: %v", cfg)
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

// TestConfigFromEnvironIsTheOnlySource: the adapters read environ, not
// the process environment: a backend variable set only in the process
// does not select the adapter, and environ's value is the one read.
func TestConfigFromEnvironIsTheOnlySource(t *testing.T) {
	t.Setenv("MYSQL_DSN", "root:other@tcp(elsewhere:3306)/x")
	t.Setenv("REDIS_URL", "redis://:"+secret+"@127.0.0.1:6379/0")
	dsn := "root:" + secret + "@tcp(127.0.0.1:3306)/test"
	cfg, err := wiring.ConfigFromEnviron([]string{"MYSQL_DSN=" + dsn, "MYSQL_MAX_OPEN_CONNS=7"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MySQL == nil || cfg.MySQL.DSN != dsn || cfg.MySQL.MaxOpenConns != 7 || cfg.Redis != nil {
		t.Fatalf("config = %v; want MySQL from environ only, Redis fake", cfg)
	}
	_, err = wiring.ConfigFromEnviron([]string{"MYSQL_DSN=" + dsn, "MYSQL_MAX_OPEN_CONNS=many"})
	if !errors.Is(err, ports.ErrInvalid) || !strings.Contains(err.Error(), "MYSQL_MAX_OPEN_CONNS") || strings.Contains(err.Error(), secret) {
		t.Errorf("err = %v, want ErrInvalid naming MYSQL_MAX_OPEN_CONNS without the password", err)
	}
}

// TestConfigSelectsRealAdapters: each backend switches to its adapter when
// its variable is set, independently of the others.
func TestConfigSelectsRealAdapters(t *testing.T) {
	t.Setenv("MYSQL_DSN", "root:"+secret+"@tcp(127.0.0.1:3306)/test")
	t.Setenv("MYSQL_URL", "")
	t.Setenv("MYSQL_HOST", "")
	t.Setenv("REDIS_URL", "redis://:"+secret+"@127.0.0.1:6379/0")
	t.Setenv("MONGODB_URI", "")
	t.Setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:8085")
	t.Setenv("PUBSUB_PROJECT_ID", "orders-test")
	cfg, err := wiring.ConfigFromEnviron(os.Environ())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MySQL == nil || cfg.Redis == nil || cfg.PubSub == nil || cfg.Mongo != nil {
		t.Fatalf("selected %v; want mysql, redis and pubsub real, mongo fake", cfg)
	}
	if cfg.PubSub.ProjectID != "orders-test" || cfg.PubSub.EmulatorHost != "127.0.0.1:8085" {
		t.Errorf("pubsub config = %+v", *cfg.PubSub)
	}
	assertRedacted(t, cfg)

	t.Setenv("REDIS_DIAL_TIMEOUT", "later")
	_, err = wiring.ConfigFromEnviron(os.Environ())
	if !errors.Is(err, ports.ErrInvalid) || !strings.Contains(err.Error(), "REDIS_DIAL_TIMEOUT") || strings.Contains(err.Error(), secret) {
		t.Errorf("bad adapter variable: err = %v, want ErrInvalid naming REDIS_DIAL_TIMEOUT without the password", err)
	}
}

func TestConfigRedacts(t *testing.T) {
	t.Parallel()
	cfg := wiring.Config{
		Addr:   "127.0.0.1:8080",
		MySQL:  &mysql.Config{DSN: "root:" + secret + "@tcp(db:3306)/orders"},
		Mongo:  &mongo.Config{URI: "mongodb://app:" + secret + "@mongo:27017/orders"},
		Redis:  &redis.Config{URL: "redis://:" + secret + "@cache:6379/0"},
		PubSub: &pubsub.Config{ProjectID: "p"},
	}
	assertRedacted(t, cfg)
	if s := fmt.Sprint(cfg); !strings.Contains(s, "db:3306") || !strings.Contains(s, "cache:6379") {
		t.Errorf("redaction hid the hosts too: %s", s)
	}
	if s := fmt.Sprint(wiring.Config{}); !strings.Contains(s, "MySQL:fake") || !strings.Contains(s, "PubSub:fake") {
		t.Errorf("fakes not shown: %s", s)
	}
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("config", "cfg", cfg)
	for _, want := range []string{"cfg.mysql.dsn=root:xxxxx@tcp(db:3306)/orders", "cfg.redis.url=redis://:xxxxx@cache:6379/0", "cfg.pubsub.project=p"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s: %s", want, logs.String())
		}
	}
}

func assertRedacted(t *testing.T, cfg wiring.Config) {
	t.Helper()
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
}

func TestNamesFor(t *testing.T) {
	t.Parallel()
	if n := wiring.NamesFor(""); n != (wiring.Names{Orders: "orders", Lines: "order_lines", Views: "order_views",
		Audits: "audits", Topic: "order.created", Subscription: "order-projector", KeyPrefix: "orders:"}) {
		t.Errorf("NamesFor(\"\") = %+v", n)
	}
	n := wiring.NamesFor("t1")
	if n.Orders != "orders_t1" || n.Topic != "order.created_t1" || n.Subscription != "order-projector_t1" || n.KeyPrefix != "orders:t1:" {
		t.Errorf("NamesFor(t1) = %+v", n)
	}
}

func TestBuildFakes(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	cfg, err := wiring.ConfigFromEnviron([]string{"ORDERS_NAMESPACE=wt"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := wiring.Build(t.Context(), cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.Group.Close(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	if len(p.Backends) != 4 || p.Group.Len() != 4 {
		t.Fatalf("backends = %+v", p.Backends)
	}
	for _, b := range p.Backends {
		if b.Real || !strings.HasPrefix(b.Impl, "fake-") {
			t.Errorf("backend %+v, want a fake", b)
		}
		if line := fmt.Sprintf("port=%s kind=fake impl=%s", b.Port, b.Impl); !strings.Contains(logs.String(), line) {
			t.Errorf("start-up log lacks %q:\n%s", line, logs.String())
		}
	}
	if p.Fakes.SQL == nil || p.Fakes.Docs == nil || p.Fakes.Cache == nil || p.Fakes.PubSub == nil {
		t.Errorf("fakes = %+v", p.Fakes)
	}
	if !p.Group.Check(t.Context()).OK() {
		t.Errorf("fresh fakes not ready: %+v", p.Group.Check(t.Context()))
	}
	// The topic and subscription exist: a publish reaches the projector's
	// subscription.
	if _, err := p.Publisher.Publish(t.Context(), p.Names.Topic, ports.Message{Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if n := p.Fakes.PubSub.Pending(p.Names.Subscription); n != 1 {
		t.Errorf("%d messages pending on %s, want 1", n, p.Names.Subscription)
	}
}

// TestBuildFailureClosesWhatItOpened: a backend that cannot be reached
// fails Build with ErrUnavailable, and Build closes what it had opened.
func TestBuildFailureClosesWhatItOpened(t *testing.T) {
	t.Parallel()
	cfg, err := wiring.ConfigFromEnviron(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Mongo = &mongo.Config{URI: "mongodb://app:" + secret + "@127.0.0.1:1/orders", ConnectTimeout: time.Second}
	var logs bytes.Buffer
	p, err := wiring.Build(t.Context(), cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err == nil {
		_ = p.Group.Close(context.Background())
		t.Fatal("Build succeeded against a closed port")
	}
	if !errors.Is(err, ports.ErrUnavailable) {
		t.Errorf("Build = %v, want ErrUnavailable", err)
	}
	if strings.Contains(err.Error()+logs.String(), secret) {
		t.Errorf("secret shown in %v or logs", err)
	}
	if !strings.Contains(logs.String(), "lifecycle: closed") {
		t.Errorf("what was opened before was not closed:\n%s", logs.String())
	}
}

func ExampleNamesFor() {
	n := wiring.NamesFor("")
	fmt.Println(n.Orders, n.Lines, n.Views, n.Audits, n.Topic, n.Subscription)
	// Output: orders order_lines order_views audits order.created order-projector
}

// With no backend variable, every port runs on its in-memory fake.
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
		fmt.Println(b.Port, b.Impl, b.Real)
	}
	// Output:
	// sql fake-sql false
	// documents fake-doc false
	// cache fake-cache false
	// pubsub fake-pubsub false
}
