package redis

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/redis/rueidis"

	"github.com/portkit/portkit/ports"
)

// Environment variables read by [ConfigFromEnv].
const (
	EnvURL                 = "REDIS_URL"
	EnvClientCacheTTL      = "REDIS_CLIENT_CACHE_TTL"
	EnvClientCacheRequired = "REDIS_CLIENT_CACHE_REQUIRED"
	EnvDialTimeout         = "REDIS_DIAL_TIMEOUT"
	EnvCheckTimeout        = "REDIS_CHECK_TIMEOUT"
	EnvSentinelPassword    = "REDIS_SENTINEL_PASSWORD"
)

// DefaultDialTimeout bounds Open (connect and first PING) when
// Config.DialTimeout is 0.
const DefaultDialTimeout = 5 * time.Second

// redacted replaces secrets in printed configs and URLs.
const redacted = "xxxxx"

// Config configures [Open]. Its zero value is invalid (URL is required).
//
// Config never shows its password: String, GoString, Format and LogValue
// print the URL with the password replaced by "xxxxx".
type Config struct {
	// URL is the server address, in the forms rueidis.ParseURL accepts:
	// redis://[user:password@]host:port[/db], rediss:// for TLS,
	// unix://[user:password@]/path?db=N, several hosts with ?addr=host:port
	// for a cluster, and ?master_set=name for Sentinel (the hosts are then
	// the sentinels). Variable REDIS_URL.
	URL string `env:"REDIS_URL"`

	// ClientCacheTTL turns on server-assisted client-side caching when
	// positive: Get and GetMany serve a key from local memory for at most
	// this long (less when the key expires sooner), and Redis invalidates
	// the local copy when the key changes. 0 (the default) turns it off.
	// Variable REDIS_CLIENT_CACHE_TTL.
	ClientCacheTTL time.Duration `env:"REDIS_CLIENT_CACHE_TTL"`

	// ClientCacheRequired makes Open fail when the server cannot track
	// keys (no RESP3 or no CLIENT TRACKING: Redis before 6, some managed
	// services). When false, Open logs one line and falls back to reads
	// without a local cache. Variable REDIS_CLIENT_CACHE_REQUIRED.
	ClientCacheRequired bool `env:"REDIS_CLIENT_CACHE_REQUIRED"`

	// DialTimeout bounds connecting and the first PING in Open, and every
	// later reconnection (default DefaultDialTimeout). Variable
	// REDIS_DIAL_TIMEOUT.
	DialTimeout time.Duration `env:"REDIS_DIAL_TIMEOUT"`

	// CheckTimeout bounds Check (default ports.DefaultCheckTimeout).
	// Variable REDIS_CHECK_TIMEOUT.
	CheckTimeout time.Duration `env:"REDIS_CHECK_TIMEOUT"`

	// SentinelPassword authenticates to the sentinels of a master set when
	// they require it (the URL's password is the master's). Variable
	// REDIS_SENTINEL_PASSWORD.
	SentinelPassword string `env:"REDIS_SENTINEL_PASSWORD"`

	// KeyPrefix is prepended to every key the Cache sends (ioredis'
	// keyPrefix), so that services sharing one Redis keep apart; returned
	// keys never carry it. [WithKeyPrefix] overrides it. Variable
	// REDIS_KEY_PREFIX.
	KeyPrefix string `env:"REDIS_KEY_PREFIX"`
}

// ConfigFromEnv reads a Config from the environment variables listed in the
// package documentation. REDIS_URL is required. The error names the
// variable at fault, wraps ports.ErrInvalid, and never shows a secret.
func ConfigFromEnv() (Config, error) {
	return configFromEnv(nil)
}

// configFromEnv reads from environ, or from the process environment when
// environ is nil.
func configFromEnv(environ map[string]string) (Config, error) {
	opts := env.Options{Environment: environ}
	if environ == nil {
		opts.Environment = env.ToMap(os.Environ())
	}
	var cfg Config
	if err := env.ParseWithOptions(&cfg, opts); err != nil {
		return Config{}, configError(envError(err))
	}
	if cfg.URL == "" {
		return Config{}, configError(fmt.Errorf("%s is not set", EnvURL))
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// envError rewrites caarlos0/env's errors, which name the Go field, to name
// the environment variable. Values of the variables it can fail on
// (durations, booleans) are not secret.
func envError(err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	t := reflect.TypeFor[Config]()
	msgs := make([]string, 0, len(agg.Errors))
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			name := pe.Name
			if f, ok := t.FieldByName(pe.Name); ok {
				name = f.Tag.Get("env")
			}
			if name == EnvSentinelPassword || name == EnvURL {
				msgs = append(msgs, name+": invalid value")
				continue
			}
			msgs = append(msgs, fmt.Sprintf("%s: %v", name, pe.Err))
			continue
		}
		msgs = append(msgs, e.Error())
	}
	return errors.New(strings.Join(msgs, "; "))
}

func configError(cause error) error {
	return ports.NewError(backend, "config", ports.ErrInvalid, cause)
}

// Validate checks c: the URL must parse (without ever quoting it) and the
// durations must not be negative. The error names the variable at fault
// and wraps ports.ErrInvalid.
func (c Config) Validate() error {
	if _, err := c.clientOption(); err != nil {
		return err
	}
	return nil
}

// clientOption turns c into rueidis options, validating it.
func (c Config) clientOption() (rueidis.ClientOption, error) {
	var opt rueidis.ClientOption
	switch {
	case c.ClientCacheTTL < 0:
		return opt, configError(fmt.Errorf("%s: negative duration %s", EnvClientCacheTTL, c.ClientCacheTTL))
	case c.DialTimeout < 0:
		return opt, configError(fmt.Errorf("%s: negative duration %s", EnvDialTimeout, c.DialTimeout))
	case c.CheckTimeout < 0:
		return opt, configError(fmt.Errorf("%s: negative duration %s", EnvCheckTimeout, c.CheckTimeout))
	case c.URL == "":
		return opt, configError(fmt.Errorf("%s: empty URL", EnvURL))
	}
	u, err := parseURL(c.URL)
	if err != nil {
		return opt, configError(fmt.Errorf("%s: %w", EnvURL, err))
	}
	opt, err = rueidis.ParseURL(c.URL)
	if err != nil {
		// rueidis' own messages quote the scheme, database number or a
		// query parameter; scrub the password anyway, in case.
		return rueidis.ClientOption{}, configError(fmt.Errorf("%s: %s", EnvURL, scrub(err.Error(), u)))
	}
	if q := u.Query(); q.Get("client_cache") == "0" && c.ClientCacheTTL > 0 {
		return rueidis.ClientOption{}, configError(fmt.Errorf("%s is set but %s turns client caching off (client_cache=0)", EnvClientCacheTTL, EnvURL))
	}
	opt.DisableCache = c.ClientCacheTTL == 0
	if c.dialTimeout() > 0 && !u.Query().Has("dial_timeout") {
		opt.Dialer.Timeout = c.dialTimeout()
	}
	if opt.Sentinel.MasterSet != "" && c.SentinelPassword != "" {
		opt.Sentinel.Password = c.SentinelPassword
	}
	return opt, nil
}

func (c Config) dialTimeout() time.Duration {
	if c.DialTimeout > 0 {
		return c.DialTimeout
	}
	return DefaultDialTimeout
}

func (c Config) checkTimeout() time.Duration {
	if c.CheckTimeout > 0 {
		return c.CheckTimeout
	}
	return ports.DefaultCheckTimeout
}

// errMalformedURL is the only thing said about a URL that does not parse:
// url.Parse errors quote the whole URL, and in a malformed URL part of the
// password may sit where the host, port, path or query should be.
var errMalformedURL = errors.New("malformed URL (want redis://[user:password@]host:port[/db], rediss://... or unix://[user:password@]/path; " +
	"percent-encode / ? # % in the password)")

// parseURL parses s and rejects a URL whose password may have been split
// off into another part: an opaque URL (no "//"), or an '@' outside the
// user info (an unencoded '/', '?' or '#' in the password moves the rest
// of it, '@' included, into the path, query or fragment).
func parseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Opaque != "" ||
		strings.Contains(u.Path, "@") || strings.Contains(u.RawPath, "@") ||
		strings.Contains(u.RawQuery, "@") || strings.Contains(u.Fragment, "@") ||
		(u.Host == "" && u.Scheme != "unix") {
		return nil, errMalformedURL
	}
	return u, nil
}

// scrub removes u's password from s.
func scrub(s string, u *url.URL) string {
	if u == nil || u.User == nil {
		return s
	}
	if p, ok := u.User.Password(); ok && p != "" {
		s = strings.ReplaceAll(s, p, redacted)
		if e := url.PathEscape(p); e != p {
			s = strings.ReplaceAll(s, e, redacted)
		}
		if e := url.QueryEscape(p); e != p {
			s = strings.ReplaceAll(s, e, redacted)
		}
	}
	return s
}

// RedactedURL returns c.URL with its password replaced by "xxxxx", or a
// placeholder when the URL does not parse (it may then hold a password
// anywhere).
func (c Config) RedactedURL() string {
	return redactURL(c.URL)
}

func redactURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := parseURL(s)
	if err != nil {
		return "(malformed URL, redacted)"
	}
	return u.Redacted()
}

// String formats c with the password redacted.
func (c Config) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "redis.Config{URL:%q", c.RedactedURL())
	fmt.Fprintf(&b, " ClientCacheTTL:%s ClientCacheRequired:%t", c.ClientCacheTTL, c.ClientCacheRequired)
	fmt.Fprintf(&b, " DialTimeout:%s CheckTimeout:%s", c.DialTimeout, c.CheckTimeout)
	if c.SentinelPassword != "" {
		b.WriteString(" SentinelPassword:" + redacted)
	}
	b.WriteString("}")
	return b.String()
}

// GoString formats c for %#v, with the password redacted.
func (c Config) GoString() string { return c.String() }

// Format makes every fmt verb (%v, %+v, %#v, %s, %q...) print the redacted
// String.
func (c Config) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", c.String())
		return
	}
	_, _ = io.WriteString(f, c.String())
}

// LogValue makes slog log c as a group with the password redacted.
func (c Config) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("url", c.RedactedURL()),
		slog.Duration("client_cache_ttl", c.ClientCacheTTL),
		slog.Bool("client_cache_required", c.ClientCacheRequired),
		slog.Duration("dial_timeout", c.dialTimeout()),
		slog.Duration("check_timeout", c.checkTimeout()),
	}
	if c.SentinelPassword != "" {
		attrs = append(attrs, slog.String("sentinel_password", redacted))
	}
	return slog.GroupValue(attrs...)
}
