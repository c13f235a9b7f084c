package redis

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/portkit/portkit/internal/envconfig"
	"github.com/portkit/portkit/internal/redact"
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

// Config configures [Open]. Its zero value is invalid (URL is required).
//
// Config never shows its passwords: String, GoString, Format and LogValue
// print the URL with the password (user info or ?password=) replaced by
// "xxxxx", and SentinelPassword as "xxxxx".
type Config struct {
	// URL is the server address, in the forms rueidis.ParseURL accepts:
	// redis://[user:password@]host:port[/db], rediss:// for TLS,
	// unix://[user:password@]/path?db=N, several hosts with ?addr=host:port
	// for a cluster, and ?master_set=name for Sentinel (the hosts are then
	// the sentinels); and the forms other clients accept:
	// redis://host:port/ (database 0), redis://host:port/?db=N, and the
	// password as ?password=... (percent-encoded; not together with a
	// password in the user info). Variable REDIS_URL.
	URL string `env:"REDIS_URL" secret:"conn"`

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
	SentinelPassword string `env:"REDIS_SENTINEL_PASSWORD" secret:"true"`

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
	if cfg.URL == "" {
		return Config{}, configError(fmt.Errorf("%s is not set", EnvURL))
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func configError(cause error) error { return envconfig.Invalid(backend, cause) }

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
	q := u.Query()
	password, err := queryPassword(u, q)
	if err != nil {
		return opt, configError(fmt.Errorf("%s: %w", EnvURL, err))
	}
	forRueidis, err := normalizeURL(u, q)
	if err != nil {
		return opt, configError(fmt.Errorf("%s: %w", EnvURL, err))
	}
	opt, err = rueidis.ParseURL(forRueidis)
	if err != nil {
		// rueidis' own messages quote the scheme, database number or a
		// query parameter; scrub the secrets anyway, in case.
		return rueidis.ClientOption{}, configError(fmt.Errorf("%s: %s", EnvURL, redact.Scrub(err.Error(), redact.Secrets(c.URL)...)))
	}
	if password != "" {
		// rueidis.ParseURL reads only the user info's password.
		opt.Password = password
	}
	if q.Get("client_cache") == "0" && c.ClientCacheTTL > 0 {
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

// queryPassword returns the password given as ?password= (the form of
// redis-py and other clients), which rueidis ignores. A password given
// there and in the user info too, or twice in the query, is an error: which
// one would be meant is not clear.
func queryPassword(u *url.URL, q url.Values) (string, error) {
	ps, ok := q["password"]
	if !ok {
		return "", nil
	}
	if len(ps) > 1 {
		return "", errors.New("password given twice in the query")
	}
	if _, has := u.User.Password(); has {
		return "", errors.New("password given both in the user info and as ?password=: give one")
	}
	return ps[0], nil
}

// normalizeURL returns u as rueidis.ParseURL takes it: the forms other
// clients accept, redis://host:6379/ (an empty database path) and
// redis://host:6379/?db=5, become redis://host:6379 and
// redis://host:6379?db=5 (rueidis reads an empty path segment as a bad
// database number). A database both in the path and in ?db= must agree.
func normalizeURL(u *url.URL, q url.Values) (string, error) {
	if u.Scheme == "unix" {
		return u.String(), nil
	}
	n := *u
	if n.Path == "/" {
		n.Path, n.RawPath = "", ""
	}
	if db := strings.TrimPrefix(n.Path, "/"); db != "" && q.Has("db") && q.Get("db") != db {
		return "", fmt.Errorf("database %q in the path and %q in ?db= differ", db, q.Get("db"))
	}
	return n.String(), nil
}

// RedactedURL returns c.URL with its password and secret parameters
// (?password=) replaced by "xxxxx", or "xxxxx" when the URL does not parse
// (it may then hold a password anywhere).
func (c Config) RedactedURL() string { return redactURL(c.URL) }

func redactURL(s string) string { return redact.Conn(s) }

// String formats c with its secrets redacted.
func (c Config) String() string { return envconfig.String(c) }

// GoString formats c for %#v, with its secrets redacted.
func (c Config) GoString() string { return envconfig.GoString(c) }

// Format makes every fmt verb (%v, %+v, %#v, %s, %q...) print the redacted
// String.
func (c Config) Format(f fmt.State, verb rune) { envconfig.Format(f, verb, c) }

// LogValue makes slog log c as a group with its secrets redacted.
func (c Config) LogValue() slog.Value { return envconfig.LogValue(c) }
