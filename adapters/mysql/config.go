package mysql

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/portkit/portkit/internal/envconfig"
	"github.com/portkit/portkit/internal/redact"
)

// Defaults applied by Open to a zero field of Config.
const (
	// DefaultConnectTimeout bounds Open: dialing, authenticating and the
	// first ping.
	DefaultConnectTimeout = 5 * time.Second
	// DefaultSlowThreshold is the duration over which a statement is
	// logged as slow, at slog.LevelWarn.
	DefaultSlowThreshold = 200 * time.Millisecond
	// DefaultMaxIdleConns is the number of idle connections kept per pool.
	DefaultMaxIdleConns = 10
	// DefaultPort is the port used with MYSQL_HOST when MYSQL_PORT is unset.
	DefaultPort = 3306
	// defaultCollation is the connection collation unless the DSN names a
	// charset or collation: utf8mb4, whatever the driver's default.
	defaultCollation = "utf8mb4_general_ci"
	// redacted replaces secrets in every rendering of a Config.
	redacted = redact.Placeholder
)

// Config configures Open. ConfigFromEnv fills it from the environment; it
// can as well be built by hand. The connection comes from DSN, else URL,
// else Host, Port, User, Password and Database. A zero duration or count
// means the documented default.
//
// Config never shows its password: String, GoString, Format (%v, %+v, %#v,
// %s) and LogValue (slog) render it with the password replaced by "xxxxx".
type Config struct {
	// DSN is a go-sql-driver DSN, "user:pass@tcp(host:3306)/db?params".
	// The password is taken as it is (no escaping): it may hold '@', '/',
	// '?', '#' or ')' as long as "/db" follows the address. The network
	// must be tcp, tcp4, tcp6 or unix, and nothing after the last '/' may
	// hold an '@'.
	DSN string `env:"MYSQL_DSN" secret:"conn"`
	// URL is "mysql://user:pass@host:3306/db?params"; used when DSN is
	// empty. The query string holds go-sql-driver parameters. The user
	// name and password must percent-encode '/', '?', '#' and '%': a URL
	// with a '#', or an '@' in its path or query, is rejected.
	URL string `env:"MYSQL_URL" secret:"conn"`

	// Host, Port, User, Password and Database are used when DSN and URL are
	// empty. Port defaults to 3306.
	Host     string `env:"MYSQL_HOST"`
	Port     int    `env:"MYSQL_PORT"`
	User     string `env:"MYSQL_USER"`
	Password string `env:"MYSQL_PASSWORD" secret:"true"`
	Database string `env:"MYSQL_DATABASE"`

	// TLS is "" (keep what the DSN says), "false", "true" (verify the
	// server), "skip-verify" or "preferred" (TLS when the server offers
	// it). TLSCAFile, TLSCertFile + TLSKeyFile and TLSServerName refine
	// "true" and "skip-verify"; a CA or client certificate with TLS unset
	// implies "true".
	TLS           string `env:"MYSQL_TLS"`
	TLSCAFile     string `env:"MYSQL_TLS_CA" log:"tls_ca_file"`
	TLSCertFile   string `env:"MYSQL_TLS_CERT"`
	TLSKeyFile    string `env:"MYSQL_TLS_KEY"`
	TLSServerName string `env:"MYSQL_TLS_SERVER_NAME"`
	// TLSConfig, when set in code, is used as it is and overrides the
	// other TLS fields.
	TLSConfig *tls.Config `env:"-"`

	// MaxOpenConns caps open connections per pool (0: no cap).
	MaxOpenConns int `env:"MYSQL_MAX_OPEN_CONNS"`
	// MaxIdleConns is the idle connections kept per pool (0: 10; negative:
	// none).
	MaxIdleConns int `env:"MYSQL_MAX_IDLE_CONNS"`
	// ConnMaxLifetime closes connections older than this (0: never).
	ConnMaxLifetime time.Duration `env:"MYSQL_CONN_MAX_LIFETIME"`
	// ConnMaxIdleTime closes connections idle longer than this (0: never).
	ConnMaxIdleTime time.Duration `env:"MYSQL_CONN_MAX_IDLE_TIME"`

	// ReplicaDSNs are read replicas, each a DSN or a mysql:// URL,
	// separated by commas in MYSQL_REPLICA_DSNS. Reads outside a
	// transaction go to a random replica; writes and transactions go to
	// the primary. The TLS and pool settings apply to them too. A
	// password with a ',' can only be given in a URL, percent-encoded
	// (%2C): MYSQL_REPLICA_DSNS is split at every comma.
	ReplicaDSNs []string `env:"MYSQL_REPLICA_DSNS" envSeparator:"," secret:"conn" log:"replica_dsns"`

	// ConnectTimeout bounds Open (0: 5s).
	ConnectTimeout time.Duration `env:"MYSQL_CONNECT_TIMEOUT"`
	// CheckTimeout bounds Check (0: ports.DefaultCheckTimeout, 5s).
	CheckTimeout time.Duration `env:"MYSQL_CHECK_TIMEOUT"`
	// SlowThreshold is the duration over which a statement is logged at
	// slog.LevelWarn (0: 200ms; negative: never).
	SlowThreshold time.Duration `env:"MYSQL_SLOW_THRESHOLD"`
	// LogParams puts statement parameters in log lines. Off by default:
	// parameters may hold personal data.
	LogParams bool `env:"MYSQL_LOG_PARAMS"`
	// DisablePreparedStmt turns off gorm's statement cache. Prepared
	// statements are on by default: a cached statement costs one round
	// trip where an unprepared one costs two.
	DisablePreparedStmt bool `env:"MYSQL_DISABLE_PREPARED_STMT"`
}

// ConfigFromEnv reads Config from the environment variables named in the
// package documentation. An unparsable value, a malformed MYSQL_DSN,
// MYSQL_URL or replica, or none of MYSQL_DSN, MYSQL_URL and MYSQL_HOST set
// is an error wrapping ports.ErrInvalid that names the variable; it never
// contains a password.
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
	if c.DSN == "" && c.URL == "" && c.Host == "" {
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

var errNothingSet = configError("none of MYSQL_DSN, MYSQL_URL or MYSQL_HOST is set")

// Validate checks c without connecting: the DSN, URL or parts, the
// replicas, the TLS settings (reading the certificate files) and the
// ranges of numbers and durations. Its errors wrap ports.ErrInvalid
// (*ports.OpError, op "config"), name the variable and never contain a
// password.
func (c Config) Validate() error {
	if _, err := c.primaryConfig(); err != nil {
		return err
	}
	if _, err := c.replicaConfigs(); err != nil {
		return err
	}
	if c.Port < 0 || c.Port > 65535 {
		return configError("MYSQL_PORT: %d is not a port", c.Port)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"MYSQL_CONN_MAX_LIFETIME", c.ConnMaxLifetime},
		{"MYSQL_CONN_MAX_IDLE_TIME", c.ConnMaxIdleTime},
		{"MYSQL_CONNECT_TIMEOUT", c.ConnectTimeout},
		{"MYSQL_CHECK_TIMEOUT", c.CheckTimeout},
	} {
		if d.v < 0 {
			return configError("%s: negative duration %v", d.name, d.v)
		}
	}
	if c.MaxOpenConns < 0 {
		return configError("MYSQL_MAX_OPEN_CONNS: negative value %d", c.MaxOpenConns)
	}
	return nil
}

// primaryConfig returns the driver configuration of the primary.
func (c Config) primaryConfig() (*mysqldrv.Config, error) {
	var (
		dc  *mysqldrv.Config
		exp map[string]bool
		err error
	)
	switch {
	case c.DSN != "":
		dc, exp, err = parseDSN("MYSQL_DSN", c.DSN)
	case c.URL != "":
		dc, exp, err = parseURL("MYSQL_URL", c.URL)
	default:
		dc, exp, err = c.partsConfig()
	}
	if err != nil {
		return nil, err
	}
	if err := c.applyTLS(dc); err != nil {
		return nil, err
	}
	c.applyDefaults(dc, exp)
	return dc, nil
}

// replicaConfigs returns the driver configurations of the replicas.
func (c Config) replicaConfigs() ([]*mysqldrv.Config, error) {
	out := make([]*mysqldrv.Config, 0, len(c.ReplicaDSNs))
	for i, raw := range c.ReplicaDSNs {
		raw = strings.TrimSpace(raw)
		name := fmt.Sprintf("MYSQL_REPLICA_DSNS[%d]", i)
		var (
			dc  *mysqldrv.Config
			exp map[string]bool
			err error
		)
		if raw == "" {
			return nil, configError("%s: empty", name)
		}
		if isURL(raw) {
			dc, exp, err = parseURL(name, raw)
		} else {
			dc, exp, err = parseDSN(name, raw)
		}
		if err != nil {
			return nil, err
		}
		if err := c.applyTLS(dc); err != nil {
			return nil, err
		}
		c.applyDefaults(dc, exp)
		out = append(out, dc)
	}
	return out, nil
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "mysql://") || strings.HasPrefix(s, "mariadb://")
}

// dsnShape is the shape of DSN parseDSN wants, for its error messages.
const dsnShape = "want user:pass@tcp(host:port)/db?params"

// parseDSN parses a go-sql-driver DSN and reports which parameters it sets
// explicitly. Errors name the variable; the driver's message is kept only
// once the DSN is known to be split where the user meant it (see
// splitDSN), and is scrubbed of the password even then.
func parseDSN(name, dsn string) (*mysqldrv.Config, map[string]bool, error) {
	dc, err := splitDSN(dsn)
	if err != nil {
		return nil, nil, configError("%s: %w", name, err)
	}
	return dc, explicitParams(dsnQuery(dsn)), nil
}

// errMalformedDSN is all that is said about a DSN whose password may sit
// where the driver reads a network, address, database or parameter.
var errMalformedDSN = errors.New("malformed DSN (" + dsnShape + "; the network must be tcp, tcp4, tcp6 or unix, " +
	"a tcp address host:port with a numeric port, and nothing after the last '/' may hold an '@')")

// splitDSN parses dsn with the driver, and rejects a DSN the driver may
// have split inside the password. go-sql-driver takes the password from
// the first ':' to the last '@' before the last '/', which is right for a
// password holding '@', '/', '?', '#', ':', '(' or ')' as long as the
// DSN goes on with "@net(addr)/db". It goes wrong when the last '/' is in
// the password (no "/db" after the address): the rest of the password,
// with the '@', then becomes the database or the parameters, and its
// beginning the network. Hence the rules: no '@' after the last '/', a
// known network (the driver quotes an unknown one in its error), and a
// numeric port in a tcp address. Driver errors keep their message, with
// the password scrubbed: after those checks it can only quote the
// network, the database or a parameter.
func splitDSN(dsn string) (*mysqldrv.Config, error) {
	slash := strings.LastIndexByte(dsn, '/')
	if slash >= 0 {
		if strings.ContainsRune(dsn[slash+1:], '@') {
			return nil, errMalformedDSN
		}
		left := dsn[:slash]
		netAddr := left[strings.LastIndexByte(left, '@')+1:]
		network, _, _ := strings.Cut(netAddr, "(")
		if !knownNet(network) {
			return nil, errMalformedDSN
		}
	}
	dc, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		pass := ""
		if slash >= 0 {
			pass = dsnPassword(dsn[:slash])
		}
		return nil, fmt.Errorf("malformed DSN (%s): %s", dsnShape, scrub(err.Error(), pass))
	}
	if !knownNet(dc.Net) || !validAddr(dc.Net, dc.Addr) {
		return nil, errMalformedDSN
	}
	return dc, nil
}

// knownNet reports whether network is one the driver dials without a
// registered dial function ("" means tcp).
func knownNet(network string) bool {
	switch network {
	case "", "tcp", "tcp4", "tcp6", "unix":
		return true
	}
	return false
}

// validAddr reports whether addr is a plausible address for network: for
// tcp, host:port with a numeric port (a password split by a ':' would
// give a port of letters).
func validAddr(network, addr string) bool {
	if !strings.HasPrefix(network, "tcp") {
		return addr != ""
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 0 && n <= 65535 && !strings.HasPrefix(port, "+")
}

// dsnPassword returns what go-sql-driver takes as the password in left,
// the part of a DSN before its last '/': from the first ':' to the last
// '@'. Without an '@' there is no password.
func dsnPassword(left string) string {
	at := strings.LastIndexByte(left, '@')
	if at < 0 {
		return ""
	}
	if _, pass, ok := strings.Cut(left[:at], ":"); ok {
		return pass
	}
	return ""
}

// dsnQuery returns the parameter part of a DSN (after the '?' that follows
// the last '/').
func dsnQuery(dsn string) string {
	i := strings.LastIndexByte(dsn, '/')
	if i < 0 {
		return ""
	}
	_, q, _ := strings.Cut(dsn[i:], "?")
	return q
}

func explicitParams(rawQuery string) map[string]bool {
	exp := map[string]bool{}
	for _, kv := range strings.Split(rawQuery, "&") {
		k, _, _ := strings.Cut(kv, "=")
		if k != "" {
			exp[k] = true
		}
	}
	return exp
}

// scrub replaces every occurrence of each non-empty secret in msg.
func scrub(msg string, secrets ...string) string { return redact.Scrub(msg, secrets...) }

// malformedURL is all that is said about a URL that does not parse safely:
// url.Parse errors quote the whole URL, and in a malformed URL part of the
// password may sit where the host, port, path, query or fragment should
// be.
func malformedURL(name string) error {
	return configError("%s: malformed URL (want mysql://user:pass@host:port/db?params; "+
		"percent-encode @ : / ? # %% in the user name and password)", name)
}

// splitURL parses a mysql:// URL and rejects one whose password may have
// been split off into another part: one url.Parse rejects, an opaque URL
// (no "//"), any '#' (a MySQL URL has no fragment; an unencoded '#' in the
// user name or password moves the rest, password included, into it), or
// an '@' in the path or query (an unencoded '/' or '?' in the password
// moves the rest of it, '@' included, there). ok is false for those.
func splitURL(raw string) (u *url.URL, ok bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || strings.ContainsRune(raw, '#') ||
		strings.ContainsRune(u.EscapedPath(), '@') || strings.ContainsRune(u.RawQuery, '@') {
		return nil, false
	}
	return u, true
}

// parseURL converts mysql://user:pass@host:port/db?params to a driver
// configuration. Errors name the variable and never echo the URL.
func parseURL(name, raw string) (*mysqldrv.Config, map[string]bool, error) {
	u, ok := splitURL(raw)
	if !ok {
		return nil, nil, malformedURL(name)
	}
	if u.Scheme != "mysql" && u.Scheme != "mariadb" {
		// url.Parse allows only letters, digits, '+', '-' and '.' in a
		// scheme, which ends at the first ':': never the password.
		return nil, nil, configError("%s: scheme %q, want mysql://", name, u.Scheme)
	}
	if u.Host == "" {
		return nil, nil, configError("%s: no host", name)
	}
	dc := mysqldrv.NewConfig()
	dc.Net = "tcp"
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = strconv.Itoa(DefaultPort)
	}
	dc.Addr = net.JoinHostPort(host, port)
	if u.User != nil {
		dc.User = u.User.Username()
		dc.Passwd, _ = u.User.Password()
	}
	dc.DBName = strings.TrimPrefix(u.Path, "/")
	// Let the driver parse the parameters, exactly as in a DSN.
	if u.RawQuery != "" {
		withParams, err := mysqldrv.ParseDSN("/?" + u.RawQuery)
		if err != nil {
			return nil, nil, configError("%s: bad parameter: %s", name, scrub(err.Error(), dc.Passwd, url.QueryEscape(dc.Passwd), url.PathEscape(dc.Passwd)))
		}
		withParams.User, withParams.Passwd, withParams.Net, withParams.Addr, withParams.DBName =
			dc.User, dc.Passwd, dc.Net, dc.Addr, dc.DBName
		if withParams.TLS != nil && !withParams.TLS.InsecureSkipVerify {
			// The driver named the server after its default address.
			withParams.TLS.ServerName = host
		}
		dc = withParams
	}
	return dc, explicitParams(u.RawQuery), nil
}

// partsConfig builds the driver configuration from Host, Port, User,
// Password and Database.
func (c Config) partsConfig() (*mysqldrv.Config, map[string]bool, error) {
	if c.Host == "" {
		return nil, nil, configError("none of MYSQL_DSN, MYSQL_URL or MYSQL_HOST is set")
	}
	if c.Port < 0 || c.Port > 65535 {
		return nil, nil, configError("MYSQL_PORT: %d is not a port", c.Port)
	}
	port := c.Port
	if port == 0 {
		port = DefaultPort
	}
	dc := mysqldrv.NewConfig()
	dc.Net = "tcp"
	dc.Addr = net.JoinHostPort(c.Host, strconv.Itoa(port))
	dc.User = c.User
	dc.Passwd = c.Password
	dc.DBName = c.Database
	return dc, map[string]bool{}, nil
}

// applyTLS sets the driver's TLS from the TLS fields.
func (c Config) applyTLS(dc *mysqldrv.Config) error {
	if c.TLSConfig != nil {
		dc.TLS = c.TLSConfig.Clone()
		return nil
	}
	mode := strings.ToLower(c.TLS)
	if mode == "" && (c.TLSCAFile != "" || c.TLSCertFile != "" || c.TLSKeyFile != "") {
		mode = "true"
	}
	switch mode {
	case "":
		return nil
	case "false", "off", "0":
		dc.TLS, dc.TLSConfig, dc.AllowFallbackToPlaintext = nil, "false", false
		return nil
	case "preferred":
		dc.TLS = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // "preferred" is opportunistic TLS by definition
		dc.TLSConfig = "preferred"
		dc.AllowFallbackToPlaintext = true
		return nil
	case "true", "on", "1", "skip-verify":
	default:
		return configError("MYSQL_TLS: %q is not one of false, true, skip-verify, preferred", c.TLS)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.TLSServerName}
	if mode == "skip-verify" {
		tc.InsecureSkipVerify = true
	}
	if tc.ServerName == "" && !tc.InsecureSkipVerify {
		if host, _, err := net.SplitHostPort(dc.Addr); err == nil {
			tc.ServerName = host
		}
	}
	if c.TLSCAFile != "" {
		pem, err := os.ReadFile(c.TLSCAFile)
		if err != nil {
			return configError("MYSQL_TLS_CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return configError("MYSQL_TLS_CA: no PEM certificate in %s", c.TLSCAFile)
		}
		tc.RootCAs = pool
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return configError("MYSQL_TLS_CERT and MYSQL_TLS_KEY go together")
	}
	if c.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile)
		if err != nil {
			return configError("MYSQL_TLS_CERT/MYSQL_TLS_KEY: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	dc.TLS = tc
	dc.AllowFallbackToPlaintext = false
	return nil
}

// applyDefaults sets what every connection of the adapter relies on:
// parseTime (unless set explicitly), a utf8mb4 collation (unless a charset
// or collation is given), clientFoundRows (always: Update reports
// ErrNotFound from the affected-row count, which must count matched rows,
// not changed ones) and the dial timeout.
func (c Config) applyDefaults(dc *mysqldrv.Config, explicit map[string]bool) {
	if !explicit["parseTime"] {
		dc.ParseTime = true
	}
	if !explicit["charset"] && !explicit["collation"] {
		dc.Collation = defaultCollation
	}
	dc.ClientFoundRows = true
	if dc.Timeout == 0 {
		dc.Timeout = c.connectTimeout()
	}
}

func (c Config) connectTimeout() time.Duration {
	if c.ConnectTimeout > 0 {
		return c.ConnectTimeout
	}
	return DefaultConnectTimeout
}

// String renders c with every password replaced by "xxxxx": the DSN,
// URL and replicas through the shared redactor (a malformed one, whose
// password may be anywhere in it, as "xxxxx" whole; all replicas so when
// one is: a ',' in a password splits MYSQL_REPLICA_DSNS inside it).
func (c Config) String() string { return envconfig.String(c) }

// GoString is String: %#v shows no password either.
func (c Config) GoString() string { return envconfig.GoString(c) }

// Format writes String for every verb, so that no formatting verb
// (%v, %+v, %#v, %s, %q, ...) reaches the password.
func (c Config) Format(f fmt.State, verb rune) { envconfig.Format(f, verb, c) }

// LogValue renders c for log/slog, passwords redacted.
func (c Config) LogValue() slog.Value { return envconfig.LogValue(c) }
