package mongo

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/portkit/portkit/internal/envconfig"
	"github.com/portkit/portkit/internal/redact"
	"github.com/portkit/portkit/ports"
)

// Defaults of the Config timeouts, used where a Config leaves them zero.
const (
	DefaultConnectTimeout         = 10 * time.Second
	DefaultServerSelectionTimeout = 5 * time.Second
	DefaultCheckTimeout           = ports.DefaultCheckTimeout
)

// Config says how to reach MongoDB. Its zero timeouts take the defaults
// above. A Config redacts the password of its URI (and any secret URI
// option) when formatted with any fmt verb or logged through log/slog.
type Config struct {
	// URI is the connection string, mongodb:// or mongodb+srv://.
	URI string `env:"MONGODB_URI,required,notEmpty" secret:"conn"`
	// Database is the database the stores use; empty means the database
	// named in the URI path.
	Database string `env:"MONGODB_DATABASE"`
	// ConnectTimeout bounds dialing and the first ping of Open.
	ConnectTimeout time.Duration `env:"MONGODB_CONNECT_TIMEOUT" envDefault:"10s"`
	// ServerSelectionTimeout bounds how long an operation waits for a
	// usable server before it fails with ErrUnavailable.
	ServerSelectionTimeout time.Duration `env:"MONGODB_SERVER_SELECTION_TIMEOUT" envDefault:"5s"`
	// CheckTimeout bounds Store.Check when the caller's context has no
	// earlier deadline.
	CheckTimeout time.Duration `env:"MONGODB_CHECK_TIMEOUT" envDefault:"5s"`
}

// ConfigFromEnv reads a Config from the environment variables listed in
// the package documentation. It does not contact the server. A missing or
// malformed variable gives an error wrapping ports.ErrInvalid that names
// the variable and never contains the password.
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
	if err := cfg.validate(envName); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// envName returns the environment variable of the Config field name.
func envName(field string) string {
	f, ok := reflect.TypeFor[Config]().FieldByName(field)
	if !ok {
		return field
	}
	name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
	return name
}

// fieldName names a Config field for errors of Open.
func fieldName(field string) string { return "Config." + field }

// withDefaults returns c with zero timeouts replaced by the defaults.
func (c Config) withDefaults() Config {
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.ServerSelectionTimeout == 0 {
		c.ServerSelectionTimeout = DefaultServerSelectionTimeout
	}
	if c.CheckTimeout == 0 {
		c.CheckTimeout = DefaultCheckTimeout
	}
	return c
}

// validate checks what can be checked without the driver: the scheme, a
// host, a database (given or in the URI path) and non-negative timeouts.
// name turns a field name into the name the error uses.
func (c Config) validate(name func(string) string) error {
	invalid := func(field, format string, args ...any) error {
		return envconfig.Invalidf(backend, "%s: %s", name(field), fmt.Sprintf(format, args...))
	}
	p, err := parseURI(c.URI)
	if err != nil {
		return invalid("URI", "%v", err)
	}
	if c.Database == "" && p.database == "" {
		return invalid("Database", "no database: set it, or name one in the URI path (%s)", name("URI"))
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{
		{"ConnectTimeout", c.ConnectTimeout},
		{"ServerSelectionTimeout", c.ServerSelectionTimeout},
		{"CheckTimeout", c.CheckTimeout},
	} {
		if d.v < 0 {
			return invalid(d.field, "negative duration %v", d.v)
		}
	}
	return nil
}

// database returns the database the stores use.
func (c Config) database() string {
	if c.Database != "" {
		return c.Database
	}
	p, _ := parseURI(c.URI)
	return p.database
}

// String returns c with the URI's password and secret options replaced by
// "xxxxx".
func (c Config) String() string { return envconfig.String(c) }

// GoString is String, so that %#v redacts too.
func (c Config) GoString() string { return envconfig.GoString(c) }

// Format writes String for every verb, so that no verb (%d, %x, ...)
// reaches the fields.
func (c Config) Format(f fmt.State, verb rune) { envconfig.Format(f, verb, c) }

// LogValue logs c with the URI redacted.
func (c Config) LogValue() slog.Value { return envconfig.LogValue(c) }

// parsedURI is what parseURI extracts from a connection string.
type parsedURI struct {
	scheme    string // "mongodb" or "mongodb+srv"
	userinfo  string // raw, before '@'; "" when absent
	hosts     string
	database  string // unescaped path
	rawQuery  string
	hasAtSign bool
}

// errMalformedURI is all that is said about a URI with an '@' after the
// first '/' or '?' of its authority part: an unencoded '/' or '?' in the
// user name or password ends the authority there, and the rest of the
// password, up to the '@', would be read as the database or the options.
var errMalformedURI = errors.New("malformed URI (want mongodb://user:pass@host1,host2/db?options; " +
	"percent-encode @ : / ? % in the user name and password, and @ in the database and options)")

// parseURI splits a MongoDB connection string without contacting DNS (the
// driver resolves mongodb+srv hosts while parsing; Open does that). Its
// errors never contain the userinfo; an '@' after the first '/' or '?'
// is errMalformedURI, since the password may then lie beyond the
// authority.
func parseURI(uri string) (parsedURI, error) {
	var p parsedURI
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok || (scheme != "mongodb" && scheme != "mongodb+srv") {
		return p, errors.New(`scheme must be "mongodb://" or "mongodb+srv://"`)
	}
	p.scheme = scheme
	authority, pathQuery := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority, pathQuery = rest[:i], rest[i:]
	}
	if strings.Contains(pathQuery, "@") {
		return p, errMalformedURI
	}
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		p.userinfo, p.hosts, p.hasAtSign = authority[:i], authority[i+1:], true
	} else {
		p.hosts = authority
	}
	if p.hosts == "" {
		return p, errors.New("no host")
	}
	path, query, _ := strings.Cut(pathQuery, "?")
	p.rawQuery = query
	path = strings.TrimPrefix(path, "/")
	db, err := url.PathUnescape(path)
	if err != nil {
		return p, errors.New("malformed database name in the path")
	}
	if strings.ContainsAny(db, `/\. "$`) {
		return p, fmt.Errorf("invalid database name %q", db)
	}
	p.database = db
	return p, nil
}

// RedactURI returns uri with its password and the values of secret options
// (tlsCertificateKeyFilePassword, authMechanismProperties, any option
// named like a password or token) replaced by "xxxxx". A string that is
// not a MongoDB URI, or a malformed one with an '@' after the host list
// (where part of the password may be), is replaced as a whole.
func RedactURI(uri string) string {
	if uri != "" && !strings.HasPrefix(uri, "mongodb://") && !strings.HasPrefix(uri, "mongodb+srv://") {
		return redact.Placeholder
	}
	return redact.Conn(uri)
}

// scrub returns err, or a wrapper with the secrets of uri removed from its
// message when the message contains one; the wrapper unwraps to err, so
// that errors.Is and errors.As still work.
func scrub(err error, uri string) error {
	return redact.Error(err, redact.Secrets(uri)...)
}
