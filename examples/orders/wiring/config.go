// Package wiring builds the ports of the orders example from one URL per
// port, through package open: each URL defaults to mem://, the in-memory
// fakes, so `go run ./examples/orders` works with nothing installed, and
// any mix of real and fake backends works with no code change.
//
//	variable            port                       schemes (see NewMux)
//	ORDERS_SQL_URL      SQL: orders, lines, outbox mem://[?dialect=postgres], mysql://, postgres://
//	ORDERS_DOC_URL      documents: read model      mem://, mongodb://, mongodb+srv://
//	ORDERS_CACHE_URL    cache                      mem://, redis://, rediss://
//	ORDERS_PUBSUB_URL   messaging                  mem://, gcppubsub://project, nats://
//
// A URL's query may set any variable of its adapter (mysql://...?
// max_open_conns=20), and every other variable of the adapter is read from
// the same environment as these (PUBSUB_EMULATOR_HOST selects Google's
// emulator for gcppubsub://); see package open.
//
// The service's own settings:
//
//	ADDR               listen address (default 127.0.0.1:8080)
//	SHUTDOWN_TIMEOUT   bound of the whole graceful shutdown (default 10s)
//	ORDERS_CACHE_TTL   how long GET /orders/{id} answers from the cache (default 5m)
//	ORDERS_NAMESPACE   suffix of every table, collection, topic, subscription
//	                   and cache key prefix, so that several instances (tests)
//	                   share servers without sharing data: [a-z0-9_], at most 24
//	LOG_LEVEL          DEBUG, INFO, WARN or ERROR (default INFO)
//
// [Build] opens the four ports, creates what the service needs through the
// ports alone (the tables through each store's Migrate, the outbox's
// tables and leases, the read model's indexes, and the topics and
// subscriptions through ports.Admin: no per-backend branch), logs one line
// per port saying what serves it (targets redacted), and returns them with
// a *lifecycle.Group that checks and closes them. [Ports.Start] then runs
// the outbox relay and the projector.
package wiring

import (
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/portkit/portkit/internal/envconfig"
)

// backendName names the service in configuration errors.
const backendName = "orders"

// Config is what [Build] needs.
//
// Config redacts itself: its String, GoString, Format and LogValue show
// the URLs with every password and secret parameter replaced by xxxxx.
type Config struct {
	Addr            string        `env:"ADDR" envDefault:"127.0.0.1:8080"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"10s"`
	CacheTTL        time.Duration `env:"ORDERS_CACHE_TTL" envDefault:"5m"`
	Namespace       string        `env:"ORDERS_NAMESPACE"`
	LogLevel        slog.Level    `env:"LOG_LEVEL" envDefault:"INFO"`

	// The URL of each port (mem:// unless set).
	SQLURL    string `env:"ORDERS_SQL_URL" envDefault:"mem://" secret:"conn" log:"sql_url"`
	DocURL    string `env:"ORDERS_DOC_URL" envDefault:"mem://" secret:"conn" log:"doc_url"`
	CacheURL  string `env:"ORDERS_CACHE_URL" envDefault:"mem://" secret:"conn" log:"cache_url"`
	PubSubURL string `env:"ORDERS_PUBSUB_URL" envDefault:"mem://" secret:"conn" log:"pubsub_url"`

	// Environ is the environment the adapters read their other variables
	// from (ConfigFromEnviron's: the same as these).
	Environ map[string]string `env:"-"`
}

var namespaceRE = regexp.MustCompile(`^[a-z0-9_]{0,24}$`)

// ConfigFromEnviron reads a Config from environ, in os.Environ's
// "KEY=value" form (nil: nothing set, every default). The service's
// settings and the adapters' variables all come from environ, and only
// from it. A bad value is an error that names the variable and wraps
// ports.ErrInvalid, never showing a secret; a bad URL is reported by
// Build, which opens it.
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
	cfg.Environ = m
	return cfg, nil
}

// String renders c with every secret redacted.
func (c Config) String() string { return envconfig.String(c) }

// GoString renders c as String does, for %#v.
func (c Config) GoString() string { return envconfig.GoString(c) }

// Format renders c as String does for every verb, so that %v, %+v and %#v
// never reach the fields.
func (c Config) Format(f fmt.State, verb rune) { envconfig.Format(f, verb, c) }

// LogValue renders c for log/slog, the URLs redacted.
func (c Config) LogValue() slog.Value { return envconfig.LogValue(c) }
