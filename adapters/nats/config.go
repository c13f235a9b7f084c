package nats

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/portkit/portkit/internal/envconfig"
	"github.com/portkit/portkit/internal/redact"
	"github.com/portkit/portkit/ports"
)

// Environment variables read by [ConfigFromEnv]. NATS_URL, NATS_USER,
// NATS_PASSWORD, NATS_TOKEN, NATS_CREDS, NATS_NKEY, NATS_CA, NATS_CERT and
// NATS_KEY are the names the nats CLI reads too.
const (
	EnvURL                = "NATS_URL"
	EnvUser               = "NATS_USER"
	EnvPassword           = "NATS_PASSWORD"
	EnvToken              = "NATS_TOKEN"
	EnvCreds              = "NATS_CREDS"
	EnvNKey               = "NATS_NKEY"
	EnvCA                 = "NATS_CA"
	EnvCert               = "NATS_CERT"
	EnvKey                = "NATS_KEY"
	EnvPrefix             = "NATS_PREFIX"
	EnvCheckTimeout       = "NATS_CHECK_TIMEOUT"
	EnvStorage            = "NATS_STORAGE"
	EnvReplicas           = "NATS_REPLICAS"
	EnvMaxAge             = "NATS_MAX_AGE"
	EnvPublishTimeout     = "NATS_PUBLISH_TIMEOUT"
	EnvPublishMaxPending  = "NATS_PUBLISH_MAX_PENDING"
	EnvReceiveGoroutines  = "NATS_RECEIVE_GOROUTINES"
	EnvReceivePoll        = "NATS_RECEIVE_POLL"
	EnvShutdownTimeout    = "NATS_SHUTDOWN_TIMEOUT"
	EnvUnavailableTimeout = "NATS_UNAVAILABLE_TIMEOUT"
)

// Defaults applied to the zero fields of a [Config].
const (
	DefaultPrefix             = "portkit"
	DefaultMaxAge             = 7 * 24 * time.Hour
	DefaultPublishTimeout     = 15 * time.Second
	DefaultPublishMaxPending  = 4000
	DefaultReceivePoll        = time.Second
	DefaultShutdownTimeout    = ports.DefaultShutdownGrace
	DefaultUnavailableTimeout = 30 * time.Second
)

// Storage values of Config.Storage.
const (
	StorageFile   = "file"
	StorageMemory = "memory"
)

// maxPrefixLen bounds Config.Prefix.
const maxPrefixLen = 32

var prefixRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Config configures [Open]. Its zero value is invalid: URL is required.
//
// Config never shows a secret: String, GoString, Format and LogValue print
// the URL with its password or token replaced by "xxxxx", and Password and
// Token as "xxxxx".
type Config struct {
	// URL is the server, or a comma-separated list of servers of one
	// cluster: nats://host:port, tls://host:port (TLS), with credentials
	// in the user info if need be (nats://user:password@host:port, or
	// nats://token@host:port). A NATS URL takes no path, query or fragment
	// (nats.go would ignore them, and a password put there would be
	// silently dropped): such a URL is refused. Variable NATS_URL.
	URL string `env:"NATS_URL" secret:"conn"`

	// User and Password authenticate with a user name and password, when
	// the URL carries none. Variables NATS_USER and NATS_PASSWORD.
	User     string `env:"NATS_USER"`
	Password string `env:"NATS_PASSWORD" secret:"true"`

	// Token authenticates with a token. Variable NATS_TOKEN.
	Token string `env:"NATS_TOKEN" secret:"true"`

	// CredsFile is the path of a .creds file (a user JWT and its NKey
	// seed, decentralized authentication). Variable NATS_CREDS.
	CredsFile string `env:"NATS_CREDS"`

	// NKeyFile is the path of an NKey seed file. Variable NATS_NKEY.
	NKeyFile string `env:"NATS_NKEY"`

	// CAFile, CertFile and KeyFile configure TLS: the CA that signs the
	// server's certificate, and a client certificate with its key.
	// Variables NATS_CA, NATS_CERT and NATS_KEY.
	CAFile   string `env:"NATS_CA"`
	CertFile string `env:"NATS_CERT"`
	KeyFile  string `env:"NATS_KEY"`

	// Prefix starts the name of every stream, subject and bucket the
	// adapter makes (default "portkit"): letters, digits, '-' and '_', at
	// most 32. Two adapters with different prefixes share nothing.
	// Variable NATS_PREFIX.
	Prefix string `env:"NATS_PREFIX"`

	// CheckTimeout bounds Check and the check of Open (default
	// ports.DefaultCheckTimeout, 5s), and each dial. Variable
	// NATS_CHECK_TIMEOUT.
	CheckTimeout time.Duration `env:"NATS_CHECK_TIMEOUT"`

	// Storage is the storage of the streams EnsureTopic creates: "file"
	// (the default) or "memory". Variable NATS_STORAGE.
	Storage string `env:"NATS_STORAGE"`

	// Replicas is the number of replicas of those streams in a cluster
	// (default 1, at most 5). Variable NATS_REPLICAS.
	Replicas int `env:"NATS_REPLICAS"`

	// MaxAge is how long a stream keeps a message that some subscription
	// has not acknowledged (default 7 days, Google Pub/Sub's default
	// retention). Variable NATS_MAX_AGE.
	MaxAge time.Duration `env:"NATS_MAX_AGE"`

	// Publish configures publishing.
	Publish PublishConfig

	// Receive configures Subscribe.
	Receive ReceiveConfig
}

// PublishConfig configures publishing.
type PublishConfig struct {
	// Timeout bounds the wait for the server's acknowledgement of one
	// message (default 15s): a message not acknowledged by then fails
	// with ErrUnavailable, listed as unconfirmed (it may have been
	// stored). Variable NATS_PUBLISH_TIMEOUT.
	Timeout time.Duration `env:"NATS_PUBLISH_TIMEOUT"`

	// MaxPending is the number of messages sent and not yet acknowledged
	// that the adapter lets be in flight at once, across calls (default
	// 4000); a Publish beyond it waits for room, within its context and
	// the publish timeout. Variable NATS_PUBLISH_MAX_PENDING.
	MaxPending int `env:"NATS_PUBLISH_MAX_PENDING"`
}

// ReceiveConfig configures Subscribe.
type ReceiveConfig struct {
	// Goroutines caps the handler calls one Subscribe runs at once, and
	// the messages it asks for and holds (default
	// ports.DefaultMaxConcurrency; an ordering subscription holds at most
	// one more than that per partition when it is below 1+Partitions).
	// Variable NATS_RECEIVE_GOROUTINES.
	Goroutines int `env:"NATS_RECEIVE_GOROUTINES"`

	// Poll is how long one pull request waits on the server for messages
	// before it expires and the next is sent (default 1s, at least
	// 100ms). A request the server never answers (it went away, or the
	// connection was cut before the request arrived) is given up Poll
	// plus a second after it was sent, and the messages it had room for
	// are asked for again. Variable NATS_RECEIVE_POLL.
	Poll time.Duration `env:"NATS_RECEIVE_POLL"`

	// ShutdownTimeout is the shutdown grace of Subscribe: how long running
	// handlers keep a live context once its context ends (default
	// ports.DefaultShutdownGrace). Variable NATS_SHUTDOWN_TIMEOUT.
	ShutdownTimeout time.Duration `env:"NATS_SHUTDOWN_TIMEOUT"`

	// UnavailableTimeout is how long a running Subscribe tolerates a lost
	// connection before it returns ErrUnavailable (default 30s); the
	// client reconnects meanwhile. Variable NATS_UNAVAILABLE_TIMEOUT.
	UnavailableTimeout time.Duration `env:"NATS_UNAVAILABLE_TIMEOUT"`
}

// minPoll bounds ReceiveConfig.Poll from below.
const minPoll = 100 * time.Millisecond

// ConfigFromEnv reads a Config from the variables listed above. Unset
// variables leave their field zero (the default); NATS_URL is required. A
// bad value is an error that names the variable, never quotes a secret,
// and wraps ports.ErrInvalid.
func ConfigFromEnv() (Config, error) { return ConfigFromEnviron(nil) }

// ConfigFromEnviron is [ConfigFromEnv] reading environ (variable → value)
// instead of the process environment; a nil environ is the process
// environment.
func ConfigFromEnviron(environ map[string]string) (Config, error) {
	cfg, err := envconfig.Load[Config](backend, environ)
	if err != nil {
		return Config{}, err
	}
	if cfg.URL == "" {
		return Config{}, configError(fmt.Errorf("%s is not set", EnvURL))
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func configError(cause error) error { return envconfig.Invalid(backend, cause) }

// Validate checks c: a URL of nats:// or tls:// servers with no path,
// query or fragment, one way of authenticating, a valid prefix, storage
// and replica count, and no negative duration or count. The error names
// the variable at fault, never quotes a secret, and wraps ports.ErrInvalid.
func (c Config) Validate() error {
	if _, err := c.servers(); err != nil {
		return err
	}
	ways := 0
	if c.urlHasUser() {
		ways++
	}
	for _, set := range []bool{c.User != "" || c.Password != "", c.Token != "", c.CredsFile != "", c.NKeyFile != ""} {
		if set {
			ways++
		}
	}
	switch {
	case ways > 1:
		return configError(fmt.Errorf("more than one way to authenticate: choose one of the URL's user info, %s/%s, %s, %s and %s",
			EnvUser, EnvPassword, EnvToken, EnvCreds, EnvNKey))
	case c.Password != "" && c.User == "":
		return configError(fmt.Errorf("%s is set but %s is not", EnvPassword, EnvUser))
	case (c.CertFile == "") != (c.KeyFile == ""):
		return configError(fmt.Errorf("%s and %s go together", EnvCert, EnvKey))
	case c.Prefix != "" && (len(c.Prefix) > maxPrefixLen || !prefixRE.MatchString(c.Prefix)):
		return configError(fmt.Errorf("%s: %.40q must be 1 to %d letters, digits, '-' or '_'", EnvPrefix, c.Prefix, maxPrefixLen))
	case c.Storage != "" && c.Storage != StorageFile && c.Storage != StorageMemory:
		return configError(fmt.Errorf("%s: %.20q is neither %q nor %q", EnvStorage, c.Storage, StorageFile, StorageMemory))
	case c.Replicas < 0 || c.Replicas > 5:
		return configError(fmt.Errorf("%s: %d is outside 0..5", EnvReplicas, c.Replicas))
	case c.Publish.MaxPending < 0:
		return configError(fmt.Errorf("%s: negative value %d", EnvPublishMaxPending, c.Publish.MaxPending))
	case c.Receive.Goroutines < 0:
		return configError(fmt.Errorf("%s: negative value %d", EnvReceiveGoroutines, c.Receive.Goroutines))
	case c.Receive.Poll != 0 && c.Receive.Poll < minPoll:
		return configError(fmt.Errorf("%s: %s is under the minimum of %s", EnvReceivePoll, c.Receive.Poll, minPoll))
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{
		{EnvCheckTimeout, c.CheckTimeout},
		{EnvMaxAge, c.MaxAge},
		{EnvPublishTimeout, c.Publish.Timeout},
		{EnvReceivePoll, c.Receive.Poll},
		{EnvShutdownTimeout, c.Receive.ShutdownTimeout},
		{EnvUnavailableTimeout, c.Receive.UnavailableTimeout},
	} {
		if d.d < 0 {
			return configError(fmt.Errorf("%s: negative duration %s", d.name, d.d))
		}
	}
	return nil
}

var errMalformedURL = errors.New("malformed URL (want nats://[user:password@]host:port or tls://...; " +
	"percent-encode / ? # @ % in a password)")

// servers parses the URL into its servers (each as written).
func (c Config) servers() ([]string, error) {
	if strings.TrimSpace(c.URL) == "" {
		return nil, configError(fmt.Errorf("%s: empty URL", EnvURL))
	}
	parts := strings.Split(c.URL, ",")
	for i, s := range parts {
		s = strings.TrimSpace(s)
		parts[i] = s
		u, err := url.Parse(s)
		switch {
		case err != nil, u.Opaque != "", u.Host == "":
			return nil, configError(fmt.Errorf("%s: server %d of %d: %w", EnvURL, i+1, len(parts), errMalformedURL))
		case u.Scheme != "nats" && u.Scheme != "tls":
			return nil, configError(fmt.Errorf("%s: server %d of %d: the scheme is not nats:// nor tls://", EnvURL, i+1, len(parts)))
		case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(s, "?") || strings.HasSuffix(s, "#"):
			return nil, configError(fmt.Errorf("%s: server %d of %d: a NATS URL takes no path, query or fragment "+
				"(put credentials in the user info, %s/%s, %s or %s)", EnvURL, i+1, len(parts), EnvUser, EnvPassword, EnvToken, EnvCreds))
		}
	}
	return parts, nil
}

// urlHasUser reports whether a server of the URL carries a user info.
func (c Config) urlHasUser() bool {
	for _, s := range strings.Split(c.URL, ",") {
		if u, err := url.Parse(strings.TrimSpace(s)); err == nil && u.User != nil {
			return true
		}
	}
	return false
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.CheckTimeout == 0 {
		c.CheckTimeout = ports.DefaultCheckTimeout
	}
	if c.Storage == "" {
		c.Storage = StorageFile
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.Publish.Timeout == 0 {
		c.Publish.Timeout = DefaultPublishTimeout
	}
	if c.Publish.MaxPending == 0 {
		c.Publish.MaxPending = DefaultPublishMaxPending
	}
	if c.Receive.Goroutines == 0 {
		c.Receive.Goroutines = ports.DefaultMaxConcurrency
	}
	if c.Receive.Poll == 0 {
		c.Receive.Poll = DefaultReceivePoll
	}
	if c.Receive.ShutdownTimeout == 0 {
		c.Receive.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.Receive.UnavailableTimeout == 0 {
		c.Receive.UnavailableTimeout = DefaultUnavailableTimeout
	}
	return c
}

// RedactedURL returns the URL with every password and token replaced by
// "xxxxx".
func (c Config) RedactedURL() string {
	return strings.Join(redact.ConnList(strings.Split(c.URL, ",")), ",")
}

// secrets returns the secrets of c, for scrubbing the client's messages.
func (c Config) secrets() []string {
	out := redact.Secrets(c.URL)
	for _, s := range strings.Split(c.URL, ",") {
		out = append(out, redact.Secrets(strings.TrimSpace(s))...)
	}
	return append(out, c.Password, c.Token)
}

// String formats c as envconfig does for every adapter's Config: the URL
// redacted, the password and token as xxxxx.
func (c Config) String() string { return envconfig.String(c) }

// GoString formats c for %#v, as String.
func (c Config) GoString() string { return envconfig.GoString(c) }

// Format makes every fmt verb print String.
func (c Config) Format(f fmt.State, verb rune) { envconfig.Format(f, verb, c) }

// LogValue makes slog log c as a group of its effective settings, the
// secrets redacted.
func (c Config) LogValue() slog.Value {
	d := c.withDefaults()
	auth := "none"
	switch {
	case c.urlHasUser():
		auth = "url user info"
	case c.User != "":
		auth = "user " + c.User
	case c.Token != "":
		auth = "token"
	case c.CredsFile != "":
		auth = "creds file " + c.CredsFile
	case c.NKeyFile != "":
		auth = "nkey file " + c.NKeyFile
	}
	return slog.GroupValue(
		slog.String("url", d.RedactedURL()),
		slog.String("auth", auth),
		slog.Bool("tls_ca", c.CAFile != ""),
		slog.Bool("tls_client_cert", c.CertFile != ""),
		slog.String("prefix", d.Prefix),
		slog.Duration("check_timeout", d.CheckTimeout),
		slog.String("storage", d.Storage),
		slog.Int("replicas", d.Replicas),
		slog.Duration("max_age", d.MaxAge),
		slog.Group("publish",
			slog.Duration("timeout", d.Publish.Timeout),
			slog.Int("max_pending", d.Publish.MaxPending)),
		slog.Group("receive",
			slog.Int("goroutines", d.Receive.Goroutines),
			slog.Duration("poll", d.Receive.Poll),
			slog.Duration("shutdown_timeout", d.Receive.ShutdownTimeout),
			slog.Duration("unavailable_timeout", d.Receive.UnavailableTimeout)),
	)
}
