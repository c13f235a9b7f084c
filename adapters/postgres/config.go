package postgres

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/portkit/portkit/internal/envconfig"
	"github.com/portkit/portkit/internal/redact"
)

// Defaults applied by Open to a zero field of Config.
const (
	// DefaultConnectTimeout bounds Open: dialing, TLS, authenticating and
	// the first query.
	DefaultConnectTimeout = 5 * time.Second
	// DefaultSlowThreshold is the duration over which a statement is
	// logged as slow, at slog.LevelWarn.
	DefaultSlowThreshold = 200 * time.Millisecond
	// DefaultMaxIdleConns is the number of idle connections kept.
	DefaultMaxIdleConns = 10
)

// Config configures Open. ConfigFromEnv fills it from the environment, as
// libpq reads it; it can as well be built by hand. A zero duration or
// count means the documented default.
//
// The connection is URL (a postgres:// URL or a libpq key=value string)
// with the libpq fields (Host, Port, User, Password, Database, the SSL
// settings, AppName) filling in what URL does not set, as libpq lets the
// PG* variables fill in a connection string. What neither sets, pgx
// takes from the process's PG* variables and ~/.pgpass, as libpq does.
//
// Config never shows a secret: String, GoString, Format (%v, %+v, %#v,
// %s) and LogValue (slog) render it with the passwords of URL, Password
// and SSLPassword replaced by "xxxxx".
type Config struct {
	// URL is "postgres://user:pass@host:5432/db?sslmode=disable&..." (or
	// postgresql://, several hosts "h1:5432,h2:5433" allowed) or a libpq
	// key=value string, "host=db user=app password='a b' dbname=orders".
	// Any libpq parameter pgx knows goes in it (sslmode,
	// target_session_attrs, connect_timeout, options, ...), and pgx's own
	// (default_query_exec_mode, statement_cache_capacity, ...).
	URL string `env:"DATABASE_URL" secret:"conn"`

	// Host is the server's host name, IP address or Unix socket
	// directory (several, comma-separated, for a failover list).
	Host string `env:"PGHOST"`
	// Port is the server's port (0: 5432).
	Port int `env:"PGPORT"`
	// User is the role to connect as.
	User string `env:"PGUSER"`
	// Password is the role's password.
	Password string `env:"PGPASSWORD" secret:"true"`
	// Database is the database to connect to (default: the user's name).
	Database string `env:"PGDATABASE"`
	// SSLMode is libpq's sslmode: disable, allow, prefer (pgx's default),
	// require, verify-ca or verify-full.
	SSLMode string `env:"PGSSLMODE"`
	// SSLRootCert, SSLCert and SSLKey are files: the CA that signs the
	// server's certificate, the client certificate and its key.
	SSLRootCert string `env:"PGSSLROOTCERT"`
	SSLCert     string `env:"PGSSLCERT"`
	SSLKey      string `env:"PGSSLKEY"`
	// SSLPassword decrypts an encrypted SSLKey.
	SSLPassword string `env:"PGSSLPASSWORD" secret:"true"`
	// AppName is the application_name the server shows in pg_stat_activity.
	AppName string `env:"PGAPPNAME"`

	// MaxOpenConns caps open connections (0: no cap).
	MaxOpenConns int `env:"POSTGRES_MAX_OPEN_CONNS"`
	// MaxIdleConns is the idle connections kept (0: 10; negative: none).
	MaxIdleConns int `env:"POSTGRES_MAX_IDLE_CONNS"`
	// ConnMaxLifetime closes connections older than this (0: never).
	ConnMaxLifetime time.Duration `env:"POSTGRES_CONN_MAX_LIFETIME"`
	// ConnMaxIdleTime closes connections idle longer than this (0: never).
	ConnMaxIdleTime time.Duration `env:"POSTGRES_CONN_MAX_IDLE_TIME"`

	// ConnectTimeout bounds Open (0: 5s).
	ConnectTimeout time.Duration `env:"POSTGRES_CONNECT_TIMEOUT"`
	// CheckTimeout bounds Check (0: ports.DefaultCheckTimeout, 5s).
	CheckTimeout time.Duration `env:"POSTGRES_CHECK_TIMEOUT"`
	// SlowThreshold is the duration over which a statement is logged at
	// slog.LevelWarn (0: 200ms; negative: never).
	SlowThreshold time.Duration `env:"POSTGRES_SLOW_THRESHOLD"`
	// LogParams puts statement parameters, and the server's messages about
	// values, in log lines and errors. Off by default: parameters may hold
	// personal data.
	LogParams bool `env:"POSTGRES_LOG_PARAMS"`
}

// ConfigFromEnv reads Config from the environment variables named in the
// package documentation. An unparsable value, a malformed DATABASE_URL,
// or neither DATABASE_URL nor PGHOST set is an error wrapping
// ports.ErrInvalid that names the variable; it never contains a password.
func ConfigFromEnv() (Config, error) {
	return ConfigFromEnviron(nil)
}

// ConfigFromEnviron is [ConfigFromEnv] reading environ (variable → value)
// instead of the process environment; a nil environ is the process
// environment.
func ConfigFromEnviron(environ map[string]string) (Config, error) {
	c, err := envconfig.Load[Config](backend, environ)
	if err != nil {
		return Config{}, err
	}
	if c.URL == "" && c.Host == "" {
		return Config{}, errNothingSet
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// configError is the error of a bad Config: ErrInvalid, op "config".
func configError(format string, args ...any) error {
	return envconfig.Invalidf(backend, format, args...)
}

var errNothingSet = configError("neither DATABASE_URL nor PGHOST is set")

// Validate checks c without connecting: the connection string (parsed
// by pgx, which reads the certificate files it names) and the ranges of
// numbers and durations. Its errors wrap ports.ErrInvalid
// (*ports.OpError, op "config"), name the variable and never contain a
// password.
func (c Config) Validate() error {
	if _, err := c.connConfig(); err != nil {
		return err
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"POSTGRES_CONN_MAX_LIFETIME", c.ConnMaxLifetime},
		{"POSTGRES_CONN_MAX_IDLE_TIME", c.ConnMaxIdleTime},
		{"POSTGRES_CONNECT_TIMEOUT", c.ConnectTimeout},
		{"POSTGRES_CHECK_TIMEOUT", c.CheckTimeout},
	} {
		if d.v < 0 {
			return configError("%s: negative duration %v", d.name, d.v)
		}
	}
	if c.MaxOpenConns < 0 {
		return configError("POSTGRES_MAX_OPEN_CONNS: negative value %d", c.MaxOpenConns)
	}
	return nil
}

// setting is one libpq parameter of the libpq fields.
type setting struct {
	key, value, env string
}

// settings returns the libpq parameters the fields set.
func (c Config) settings() ([]setting, error) {
	if c.Port < 0 || c.Port > 65535 {
		return nil, configError("PGPORT: %d is not a port", c.Port)
	}
	port := ""
	if c.Port > 0 {
		port = strconv.Itoa(c.Port)
	}
	all := []setting{
		{"host", c.Host, "PGHOST"}, {"port", port, "PGPORT"}, {"user", c.User, "PGUSER"},
		{"password", c.Password, "PGPASSWORD"}, {"dbname", c.Database, "PGDATABASE"},
		{"sslmode", c.SSLMode, "PGSSLMODE"}, {"sslrootcert", c.SSLRootCert, "PGSSLROOTCERT"},
		{"sslcert", c.SSLCert, "PGSSLCERT"}, {"sslkey", c.SSLKey, "PGSSLKEY"},
		{"sslpassword", c.SSLPassword, "PGSSLPASSWORD"}, {"application_name", c.AppName, "PGAPPNAME"},
	}
	out := all[:0]
	for _, s := range all {
		if s.value != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

// isURL reports whether s is a URL rather than a key=value string.
func isURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// connString returns the connection string pgx parses: URL, with the
// libpq fields added where URL does not set them (as query parameters
// of a URL; before a key=value string, whose own settings come later and
// win), or the fields alone.
func (c Config) connString() (string, error) {
	set, err := c.settings()
	if err != nil {
		return "", err
	}
	switch {
	case c.URL == "":
		return keyValues(set), nil
	case isURL(c.URL):
		return mergeURL(c.URL, set)
	case strings.Contains(c.URL, "://"):
		u, err := url.Parse(c.URL)
		if err != nil {
			return "", malformedURL()
		}
		// url.Parse allows only letters, digits, '+', '-' and '.' in a
		// scheme: never the password.
		return "", configError("DATABASE_URL: scheme %q, want postgres:// or postgresql://", u.Scheme)
	}
	if kv := keyValues(set); kv != "" {
		return kv + " " + c.URL, nil
	}
	return c.URL, nil
}

// keyValues renders settings as a libpq key=value string, each value
// quoted.
func keyValues(set []setting) string {
	var b strings.Builder
	for i, s := range set {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s.key)
		b.WriteString("='")
		b.WriteString(strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s.value))
		b.WriteByte('\'')
	}
	return b.String()
}

// mergeURL adds the settings that raw does not set to its query.
func mergeURL(raw string, set []setting) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return "", malformedURL()
	}
	if len(set) == 0 {
		return raw, nil
	}
	q := u.Query()
	has := func(keys ...string) bool {
		for _, k := range keys {
			if q.Has(k) {
				return true
			}
		}
		return false
	}
	changed := false
	for _, s := range set {
		var present bool
		switch s.key {
		case "host":
			present = u.Hostname() != "" || has("host")
		case "port":
			present = u.Port() != "" || strings.Contains(u.Host, ",") || has("port")
		case "user":
			present = (u.User != nil && u.User.Username() != "") || has("user")
		case "password":
			_, ok := u.User.Password()
			present = ok || has("password")
		case "dbname":
			present = strings.TrimPrefix(u.Path, "/") != "" || has("dbname", "database")
		default:
			present = has(s.key)
		}
		if !present {
			q.Set(s.key, s.value)
			changed = true
		}
	}
	if !changed {
		return raw, nil
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// malformedURL is all that is said about a URL that does not parse:
// url.Parse errors quote the whole URL, password included.
func malformedURL() error {
	return configError("DATABASE_URL: malformed URL (want postgres://user:pass@host:port/db?params; " +
		"percent-encode @ : / ? # %% in the user name and password)")
}

// connConfig returns pgx's configuration of c, with the connect timeout
// applied.
func (c Config) connConfig() (*pgx.ConnConfig, error) {
	conn, err := c.connString()
	if err != nil {
		return nil, err
	}
	cc, err := pgx.ParseConfig(conn)
	if err != nil {
		return nil, c.parseError(conn, err)
	}
	if cc.ConnectTimeout == 0 || cc.ConnectTimeout > c.connectTimeout() {
		cc.ConnectTimeout = c.connectTimeout()
	}
	return cc, nil
}

// parseError returns pgx's refusal of conn without a secret: pgx hides a
// URL's password, but its message may quote the rest of the string, and
// a URL that does not parse whole.
func (c Config) parseError(conn string, err error) error {
	if errors.As(err, new(*url.Error)) {
		return malformedURL()
	}
	name := "DATABASE_URL"
	if c.URL == "" {
		name = "PGHOST/PGPORT/PGUSER/PGDATABASE/PGSSL*"
	}
	secrets := append(redact.Secrets(conn), c.Password, c.SSLPassword)
	return configError("%s: %s", name, redact.Text(redact.Scrub(err.Error(), secrets...)))
}

func (c Config) connectTimeout() time.Duration {
	if c.ConnectTimeout > 0 {
		return c.ConnectTimeout
	}
	return DefaultConnectTimeout
}

// String renders c with every secret replaced by "xxxxx": the URL
// through the shared redactor (a malformed one, whose password may be
// anywhere in it, as "xxxxx" whole), Password and SSLPassword.
func (c Config) String() string { return envconfig.String(c) }

// GoString is String: %#v shows no password either.
func (c Config) GoString() string { return envconfig.GoString(c) }

// Format writes String for every verb, so that no formatting verb
// (%v, %+v, %#v, %s, %q, ...) reaches a password.
func (c Config) Format(f fmt.State, verb rune) { envconfig.Format(f, verb, c) }

// LogValue renders c for log/slog, passwords redacted.
func (c Config) LogValue() slog.Value { return envconfig.LogValue(c) }
