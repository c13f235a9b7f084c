// Package wiring builds the ports of the orders example from the
// environment: each port runs on its in-memory fake (package fakes) unless
// the variables of its real adapter are set, so `go run ./examples/orders`
// works with nothing installed and any mix of real and fake backends is
// allowed.
//
//	port       real adapter      selected when one of these is set
//	SQL        adapters/mysql    MYSQL_DSN, MYSQL_URL, MYSQL_HOST
//	documents  adapters/mongo    MONGODB_URI
//	cache      adapters/redis    REDIS_URL
//	pub/sub    adapters/pubsub   PUBSUB_EMULATOR_HOST, PUBSUB_PROJECT_ID
//
// Each adapter reads the rest of its variables itself (see its package
// documentation); with an emulator, Pub/Sub needs PUBSUB_PROJECT_ID too
// (any name).
//
// The service's own settings:
//
//	ADDR              listen address (default 127.0.0.1:8080)
//	SHUTDOWN_TIMEOUT  bound of the whole graceful shutdown (default 10s)
//	ORDERS_CACHE_TTL  how long GET /orders/{id} answers from the cache (default 5m)
//	ORDERS_NAMESPACE  suffix of every table, collection, topic, subscription
//	                  and cache key prefix, so that several instances (tests)
//	                  share servers without sharing data: [a-z0-9_], at most 24
//	LOG_LEVEL         DEBUG, INFO, WARN or ERROR (default INFO)
//
// [Build] opens what the configuration selects, creates what the service
// needs (SQL tables through the mysql adapter's Migrate, the read model's
// indexes, the order.created topic and the order-projector subscription),
// logs one line per port saying which implementation serves it (targets
// redacted), and returns the ports with a *lifecycle.Group that checks and
// closes them.
package wiring

import (
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/portkit/portkit/adapters/mongo"
	"github.com/portkit/portkit/adapters/mysql"
	"github.com/portkit/portkit/adapters/pubsub"
	"github.com/portkit/portkit/adapters/redis"
	"github.com/portkit/portkit/internal/envconfig"
)

// backendName names the service in configuration errors.
const backendName = "orders"

// Config is what [Build] needs. A nil adapter config selects the port's
// in-memory fake.
//
// Config redacts itself: its String, GoString, Format and LogValue show
// the adapter configs through their own redacting renderings, never a
// password, and a nil one as "fake".
type Config struct {
	Addr            string        `env:"ADDR" envDefault:"127.0.0.1:8080"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"10s"`
	CacheTTL        time.Duration `env:"ORDERS_CACHE_TTL" envDefault:"5m"`
	Namespace       string        `env:"ORDERS_NAMESPACE"`
	LogLevel        slog.Level    `env:"LOG_LEVEL" envDefault:"INFO"`

	MySQL  *mysql.Config  `env:"-" zero:"fake" log:"mysql"`
	Mongo  *mongo.Config  `env:"-" zero:"fake" log:"mongo"`
	Redis  *redis.Config  `env:"-" zero:"fake" log:"redis"`
	PubSub *pubsub.Config `env:"-" zero:"fake" log:"pubsub"`
}

var namespaceRE = regexp.MustCompile(`^[a-z0-9_]{0,24}$`)

// ConfigFromEnviron reads a Config from environ, in os.Environ's
// "KEY=value" form (nil: nothing set, every default). The service's
// settings and the adapters' variables all come from environ, and only
// from it: for each backend whose selecting variables environ sets, the
// adapter's ConfigFromEnviron reads its variables from environ too. A bad
// value is an error that names the variable and wraps ports.ErrInvalid,
// never showing a secret.
func ConfigFromEnviron(environ []string) (Config, error) {
	m := env.ToMap(environ)
	cfg, err := envconfig.Load[Config](backendName, m)
	if err != nil {
		return Config{}, err
	}
	if !namespaceRE.MatchString(cfg.Namespace) {
		return Config{}, envconfig.Invalidf(backendName, "ORDERS_NAMESPACE: %q is not [a-z0-9_]{0,24}", cfg.Namespace)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"SHUTDOWN_TIMEOUT", cfg.ShutdownTimeout}, {"ORDERS_CACHE_TTL", cfg.CacheTTL}} {
		if d.v <= 0 {
			return Config{}, envconfig.Invalidf(backendName, "%s: must be positive, got %v", d.name, d.v)
		}
	}
	selected := func(vars ...string) bool {
		for _, v := range vars {
			if m[v] != "" {
				return true
			}
		}
		return false
	}
	if selected("MYSQL_DSN", "MYSQL_URL", "MYSQL_HOST") {
		if cfg.MySQL, err = load(mysql.ConfigFromEnviron, m); err != nil {
			return Config{}, err
		}
	}
	if selected("MONGODB_URI") {
		if cfg.Mongo, err = load(mongo.ConfigFromEnviron, m); err != nil {
			return Config{}, err
		}
	}
	if selected(redis.EnvURL) {
		if cfg.Redis, err = load(redis.ConfigFromEnviron, m); err != nil {
			return Config{}, err
		}
	}
	if selected(pubsub.EnvEmulatorHost, pubsub.EnvProjectID) {
		if cfg.PubSub, err = load(pubsub.ConfigFromEnviron, m); err != nil {
			return Config{}, err
		}
	}
	return cfg, nil
}

// load reads one adapter's config; its errors are already ErrInvalid
// naming the variable.
func load[C any](fromEnviron func(map[string]string) (C, error), environ map[string]string) (*C, error) {
	c, err := fromEnviron(environ)
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// String renders c with every secret redacted.
func (c Config) String() string { return envconfig.String(c) }

// GoString renders c as String does, for %#v.
func (c Config) GoString() string { return envconfig.GoString(c) }

// Format renders c as String does for every verb, so that %v, %+v and %#v
// never reach the fields.
func (c Config) Format(f fmt.State, verb rune) { envconfig.Format(f, verb, c) }

// LogValue renders c for log/slog, each adapter config through its own
// redacting LogValue.
func (c Config) LogValue() slog.Value { return envconfig.LogValue(c) }
