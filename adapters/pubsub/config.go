package pubsub

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"cloud.google.com/go/pubsub/v2"

	"github.com/portkit/portkit/internal/envconfig"
	"github.com/portkit/portkit/ports"
)

// Environment variables read by [ConfigFromEnv].
const (
	EnvProjectID              = "PUBSUB_PROJECT_ID"
	EnvGoogleCloudProject     = "GOOGLE_CLOUD_PROJECT"
	EnvEmulatorHost           = "PUBSUB_EMULATOR_HOST"
	EnvCheckTimeout           = "PUBSUB_CHECK_TIMEOUT"
	EnvPublishBatchCount      = "PUBSUB_PUBLISH_BATCH_COUNT"
	EnvPublishBatchBytes      = "PUBSUB_PUBLISH_BATCH_BYTES"
	EnvPublishBatchDelay      = "PUBSUB_PUBLISH_BATCH_DELAY"
	EnvPublishTimeout         = "PUBSUB_PUBLISH_TIMEOUT"
	EnvReceiveStreams         = "PUBSUB_RECEIVE_STREAMS"
	EnvReceiveGoroutines      = "PUBSUB_RECEIVE_GOROUTINES"
	EnvReceiveMaxOutstanding  = "PUBSUB_RECEIVE_MAX_OUTSTANDING"
	EnvShutdownTimeout        = "PUBSUB_SHUTDOWN_TIMEOUT"
	EnvUnavailableTimeout     = "PUBSUB_UNAVAILABLE_TIMEOUT"
	EnvReceiveMaxAckExtension = "PUBSUB_RECEIVE_MAX_ACK_EXTENSION"
)

// Defaults applied by [Open] to the zero fields of a [Config].
const (
	DefaultPublishBatchCount      = 100
	DefaultPublishBatchBytes      = 1_000_000
	DefaultPublishBatchDelay      = 10 * time.Millisecond
	DefaultPublishTimeout         = 15 * time.Second
	DefaultReceiveStreams         = 4
	DefaultReceiveMaxOutstanding  = 1000
	DefaultShutdownTimeout        = 10 * time.Second
	DefaultUnavailableTimeout     = 30 * time.Second
	DefaultReceiveMaxAckExtension = 10 * time.Second
)

// Bounds of ReceiveConfig.MaxAckExtension: the service's limits on an ack
// deadline.
const (
	minAckExtension = 10 * time.Second
	maxAckExtension = 600 * time.Second
)

// MaxRequestBytes is the size limit of one publish request (10 MB). A
// message whose encoding (data, attributes, ordering key) does not fit in
// a request of its own, next to the topic name, is ErrInvalid.
const MaxRequestBytes = int(pubsub.MaxPublishRequestBytes)

// Config configures [Open]. Its zero value is usable with Application
// Default Credentials that name a project; every zero field takes the
// default documented on it.
//
// Config holds no secret: credentials come from Application Default
// Credentials (GOOGLE_APPLICATION_CREDENTIALS, the gcloud login, or the
// metadata server) or from client options given to Open, never from
// Config, so printing or logging a Config is safe.
type Config struct {
	// ProjectID is the Google Cloud project of topics and subscriptions
	// given by ID. Variable PUBSUB_PROJECT_ID, falling back to
	// GOOGLE_CLOUD_PROJECT. When empty, Open detects the project from the
	// credentials (impossible with the emulator, where it is required).
	ProjectID string `env:"PUBSUB_PROJECT_ID"`

	// EmulatorHost is the host:port of a Pub/Sub emulator (Google's, or
	// pstest). When set, the client dials it without TLS and without
	// credentials. Variable PUBSUB_EMULATOR_HOST. (When it is empty but
	// the process has PUBSUB_EMULATOR_HOST set, the client library itself
	// still dials the emulator.)
	EmulatorHost string `env:"PUBSUB_EMULATOR_HOST"`

	// CheckTimeout bounds Check, Open's own check and the admin call with
	// which Subscribe verifies the subscription before streaming
	// (default ports.DefaultCheckTimeout, 5s). Variable
	// PUBSUB_CHECK_TIMEOUT.
	CheckTimeout time.Duration `env:"PUBSUB_CHECK_TIMEOUT"`

	// Publish configures batching and the publish timeout.
	Publish PublishConfig

	// Receive configures Subscribe.
	Receive ReceiveConfig
}

// PublishConfig configures publishing: the client gathers messages to one
// topic into a request until one of the three thresholds is reached.
type PublishConfig struct {
	// BatchCount sends a request when it holds this many messages
	// (default 100, at most 1000). Variable PUBSUB_PUBLISH_BATCH_COUNT.
	BatchCount int `env:"PUBSUB_PUBLISH_BATCH_COUNT"`

	// BatchBytes sends a request when its messages reach this many bytes
	// (default 1,000,000, at most 10,000,000). Variable
	// PUBSUB_PUBLISH_BATCH_BYTES.
	BatchBytes int `env:"PUBSUB_PUBLISH_BATCH_BYTES"`

	// BatchDelay sends a non-empty request after this long (default
	// 10ms). Variable PUBSUB_PUBLISH_BATCH_DELAY.
	BatchDelay time.Duration `env:"PUBSUB_PUBLISH_BATCH_DELAY"`

	// Timeout bounds the sending of one request, retries included
	// (default 15s; the client's own default is 60s). A message not
	// confirmed in that time fails with ErrUnavailable. Variable
	// PUBSUB_PUBLISH_TIMEOUT.
	Timeout time.Duration `env:"PUBSUB_PUBLISH_TIMEOUT"`
}

// ReceiveConfig configures Subscribe.
type ReceiveConfig struct {
	// Streams is the number of StreamingPull streams each Subscribe call
	// opens (default 4; the client's own default is 1). Variable
	// PUBSUB_RECEIVE_STREAMS.
	Streams int `env:"PUBSUB_RECEIVE_STREAMS"`

	// Goroutines caps how many handler calls of one Subscribe run at
	// once; 0 (the default) leaves only MaxOutstanding as the cap.
	// Variable PUBSUB_RECEIVE_GOROUTINES.
	Goroutines int `env:"PUBSUB_RECEIVE_GOROUTINES"`

	// MaxOutstanding is the number of received messages not yet acked or
	// nacked that one Subscribe holds at most (default 1000). Variable
	// PUBSUB_RECEIVE_MAX_OUTSTANDING.
	MaxOutstanding int `env:"PUBSUB_RECEIVE_MAX_OUTSTANDING"`

	// ShutdownTimeout is how long Subscribe waits, once its context ends,
	// for running handlers to return (default 10s). A handler still
	// running then is abandoned (its message is redelivered) and
	// Subscribe returns. Variable PUBSUB_SHUTDOWN_TIMEOUT.
	ShutdownTimeout time.Duration `env:"PUBSUB_SHUTDOWN_TIMEOUT"`

	// UnavailableTimeout is how long a running Subscribe tolerates a
	// service that does not answer before it returns ErrUnavailable
	// (default 30s). The raw client would retry forever. Variable
	// PUBSUB_UNAVAILABLE_TIMEOUT.
	UnavailableTimeout time.Duration `env:"PUBSUB_UNAVAILABLE_TIMEOUT"`

	// MaxAckExtension caps each ack deadline Subscribe asks the service
	// for (the client's ReceiveSettings.MaxDurationPerAckExtension;
	// default 10s, allowed 10s to 600s). It bounds how long a message
	// stays invisible once nobody extends its deadline, so how soon it is
	// redelivered: a message the server pushed into a stream that broke
	// before it arrived (its deadline is the stream ack deadline, 60s
	// with the client's default), or one held by a subscriber cut off
	// from the service. The price of a low value: a handler running
	// longer has its message's deadline extended every MaxAckExtension
	// minus 5s (one request per stream for all such messages), and an
	// outage longer than the deadline lets a message still being handled
	// go to another subscriber too (a duplicate, which at-least-once
	// delivery allows). Variable PUBSUB_RECEIVE_MAX_ACK_EXTENSION.
	MaxAckExtension time.Duration `env:"PUBSUB_RECEIVE_MAX_ACK_EXTENSION"`
}

// ConfigFromEnv reads a Config from the variables listed in the package
// documentation. Unset variables leave their field zero (the default). A
// bad value is an error that names the variable and wraps
// ports.ErrInvalid.
func ConfigFromEnv() (Config, error) {
	return ConfigFromEnviron(nil)
}

// ConfigFromEnviron is [ConfigFromEnv] reading environ (variable → value)
// instead of the process environment; a nil environ is the process
// environment.
func ConfigFromEnviron(environ map[string]string) (Config, error) {
	cfg, err := envconfig.Load[Config](backend, environ)
	if err != nil {
		return Config{}, err
	}
	if cfg.ProjectID == "" {
		if environ == nil {
			cfg.ProjectID = os.Getenv(EnvGoogleCloudProject)
		} else {
			cfg.ProjectID = environ[EnvGoogleCloudProject]
		}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// configFromEnv is ConfigFromEnviron (for the package's tests).
func configFromEnv(environ map[string]string) (Config, error) { return ConfigFromEnviron(environ) }

func configError(cause error) error { return envconfig.Invalid(backend, cause) }

// Validate checks c: no negative count or duration, batch thresholds
// within the service's request limits, and a project when an emulator is
// used. The error names the variable at fault and wraps ports.ErrInvalid.
func (c Config) Validate() error {
	type dur struct {
		name string
		d    time.Duration
	}
	for _, d := range []dur{
		{EnvCheckTimeout, c.CheckTimeout},
		{EnvPublishBatchDelay, c.Publish.BatchDelay},
		{EnvPublishTimeout, c.Publish.Timeout},
		{EnvShutdownTimeout, c.Receive.ShutdownTimeout},
		{EnvUnavailableTimeout, c.Receive.UnavailableTimeout},
		{EnvReceiveMaxAckExtension, c.Receive.MaxAckExtension},
	} {
		if d.d < 0 {
			return configError(fmt.Errorf("%s: negative duration %s", d.name, d.d))
		}
	}
	if e := c.Receive.MaxAckExtension; e != 0 && (e < minAckExtension || e > maxAckExtension) {
		return configError(fmt.Errorf("%s: %s is outside the service's range of ack deadlines, %s to %s",
			EnvReceiveMaxAckExtension, e, minAckExtension, maxAckExtension))
	}
	type count struct {
		name string
		n    int
		max  int
	}
	for _, n := range []count{
		{EnvPublishBatchCount, c.Publish.BatchCount, pubsub.MaxPublishRequestCount},
		{EnvPublishBatchBytes, c.Publish.BatchBytes, pubsub.MaxPublishRequestBytes},
		{EnvReceiveStreams, c.Receive.Streams, 0},
		{EnvReceiveGoroutines, c.Receive.Goroutines, 0},
		{EnvReceiveMaxOutstanding, c.Receive.MaxOutstanding, 0},
	} {
		if n.n < 0 {
			return configError(fmt.Errorf("%s: negative value %d", n.name, n.n))
		}
		if n.max > 0 && n.n > n.max {
			return configError(fmt.Errorf("%s: %d is over the service's limit of %d", n.name, n.n, n.max))
		}
	}
	if c.EmulatorHost != "" && c.ProjectID == "" {
		return configError(fmt.Errorf("%s is set but no project is: set %s (any name works with an emulator)", EnvEmulatorHost, EnvProjectID))
	}
	if strings.ContainsAny(c.ProjectID, "/ ") {
		return configError(fmt.Errorf("%s: %q is not a project ID", EnvProjectID, c.ProjectID))
	}
	return nil
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	defd(&c.CheckTimeout, ports.DefaultCheckTimeout)
	def(&c.Publish.BatchCount, DefaultPublishBatchCount)
	def(&c.Publish.BatchBytes, DefaultPublishBatchBytes)
	defd(&c.Publish.BatchDelay, DefaultPublishBatchDelay)
	defd(&c.Publish.Timeout, DefaultPublishTimeout)
	def(&c.Receive.Streams, DefaultReceiveStreams)
	def(&c.Receive.MaxOutstanding, DefaultReceiveMaxOutstanding)
	defd(&c.Receive.ShutdownTimeout, DefaultShutdownTimeout)
	defd(&c.Receive.UnavailableTimeout, DefaultUnavailableTimeout)
	defd(&c.Receive.MaxAckExtension, DefaultReceiveMaxAckExtension)
	return c
}

// String formats c as envconfig does for every adapter's Config (Config
// holds no secret; strings pass through the shared redactor anyway).
func (c Config) String() string { return envconfig.String(c) }

// GoString formats c for %#v, as String.
func (c Config) GoString() string { return envconfig.GoString(c) }

// Format makes every fmt verb print String.
func (c Config) Format(f fmt.State, verb rune) { envconfig.Format(f, verb, c) }

// LogValue makes slog log c as a group of its effective settings (Config
// holds no secret): the defaults applied, the project and endpoint said
// in words. It is not the field-by-field rendering of String.
func (c Config) LogValue() slog.Value {
	d := c.withDefaults()
	project := d.ProjectID
	if project == "" {
		project = "(detect from credentials)"
	}
	endpoint := "pubsub.googleapis.com (Application Default Credentials)"
	if d.EmulatorHost != "" {
		endpoint = d.EmulatorHost + " (emulator, no TLS, no credentials)"
	}
	return slog.GroupValue(
		slog.String("project", project),
		slog.String("endpoint", endpoint),
		slog.Duration("check_timeout", d.CheckTimeout),
		slog.Group("publish",
			slog.Int("batch_count", d.Publish.BatchCount),
			slog.Int("batch_bytes", d.Publish.BatchBytes),
			slog.Duration("batch_delay", d.Publish.BatchDelay),
			slog.Duration("timeout", d.Publish.Timeout)),
		slog.Group("receive",
			slog.Int("streams", d.Receive.Streams),
			slog.Int("goroutines", d.Receive.Goroutines),
			slog.Int("max_outstanding", d.Receive.MaxOutstanding),
			slog.Duration("shutdown_timeout", d.Receive.ShutdownTimeout),
			slog.Duration("unavailable_timeout", d.Receive.UnavailableTimeout),
			slog.Duration("max_ack_extension", d.Receive.MaxAckExtension)),
	)
}
