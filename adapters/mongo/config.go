package mongo

import (
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

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
	URI string `env:"MONGODB_URI,required,notEmpty"`
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
	return configFromEnv(nil)
}

// configFromEnv parses environ, or the process environment when environ is
// nil.
func configFromEnv(environ map[string]string) (Config, error) {
	cfg, err := env.ParseAsWithOptions[Config](env.Options{Environment: environ})
	if err != nil {
		return Config{}, ports.NewError(backend, "config", ports.ErrInvalid, envError(err))
	}
	if err := cfg.validate(envName); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// envError rewrites caarlos0/env's errors, which name Go fields, so that
// they name the environment variables. Only duration values can fail to
// parse, and those are not secret.
func envError(err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	msgs := make([]string, 0, len(agg.Errors))
	for _, e := range agg.Errors {
		var pe env.ParseError
		var unset env.VarIsNotSetError
		var empty env.EmptyVarError
		switch {
		case errors.As(e, &pe):
			msgs = append(msgs, fmt.Sprintf("%s: %v", envName(pe.Name), pe.Err))
		case errors.As(e, &unset):
			msgs = append(msgs, unset.Key+" is not set")
		case errors.As(e, &empty):
			msgs = append(msgs, empty.Key+" is empty")
		default:
			msgs = append(msgs, e.Error())
		}
	}
	return errors.New(strings.Join(msgs, "; "))
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
		return ports.NewError(backend, "config", ports.ErrInvalid,
			fmt.Errorf("%s: %s", name(field), fmt.Sprintf(format, args...)))
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
func (c Config) String() string {
	return fmt.Sprintf("mongo.Config{URI:%q Database:%q ConnectTimeout:%v ServerSelectionTimeout:%v CheckTimeout:%v}",
		RedactURI(c.URI), c.Database, c.ConnectTimeout, c.ServerSelectionTimeout, c.CheckTimeout)
}

// GoString is String, so that %#v redacts too.
func (c Config) GoString() string { return c.String() }

// Format writes String for every verb, so that no verb (%d, %x, ...)
// reaches the fields.
func (c Config) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }

// LogValue logs c with the URI redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("uri", RedactURI(c.URI)),
		slog.String("database", c.Database),
		slog.Duration("connect_timeout", c.ConnectTimeout),
		slog.Duration("server_selection_timeout", c.ServerSelectionTimeout),
		slog.Duration("check_timeout", c.CheckTimeout),
	)
}

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
// (tlsCertificateKeyFilePassword, authMechanismProperties) replaced by
// "xxxxx". A string that is not a MongoDB URI, or a malformed one with an
// '@' after the host list (where part of the password may be), is
// replaced as a whole.
func RedactURI(uri string) string {
	if uri == "" {
		return ""
	}
	p, err := parseURI(uri)
	if (err != nil && p.scheme == "") || errors.Is(err, errMalformedURI) {
		return "xxxxx"
	}
	var b strings.Builder
	b.WriteString(p.scheme)
	b.WriteString("://")
	if p.hasAtSign {
		user, _, hasPass := strings.Cut(p.userinfo, ":")
		b.WriteString(user)
		if hasPass {
			b.WriteString(":xxxxx")
		}
		b.WriteString("@")
	}
	b.WriteString(p.hosts)
	rest := uri[strings.Index(uri, "://")+3:]
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		rest = rest[i:]
	} else {
		rest = ""
	}
	path, query, hasQuery := strings.Cut(rest, "?")
	b.WriteString(path)
	if hasQuery {
		b.WriteString("?")
		for kv, sep := range uriOptions(query) {
			b.WriteString(sep)
			k, v, hasV := strings.Cut(kv, "=")
			// A secret option may hide in a value too ("?=?tls...Password=x").
			if hasV && (isSecretOption(k) || isSecretOption(v)) {
				b.WriteString(k + "=xxxxx")
				continue
			}
			b.WriteString(kv)
		}
	}
	return b.String()
}

// uriOptions yields the options of a raw query as the driver splits them, on
// '&' and ';', each with the separator before it ("" for the first).
func uriOptions(query string) iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		sep := ""
		for {
			i := strings.IndexAny(query, "&;")
			if i < 0 {
				yield(query, sep)
				return
			}
			if !yield(query[:i], sep) {
				return
			}
			sep, query = query[i:i+1], query[i+1:]
		}
	}
}

// isSecretOption reports whether the URI option k carries a secret. The
// driver unescapes option names and ignores their case; a name that only
// contains a secret one (a stray '?' before it, say) counts too.
func isSecretOption(k string) bool {
	if u, err := url.QueryUnescape(k); err == nil {
		k = u
	}
	k = strings.ToLower(k)
	for _, name := range []string{"authmechanismproperties", "tlscertificatekeyfilepassword", "sslclientcertificatekeypassword"} {
		if strings.Contains(k, name) {
			return true
		}
	}
	return false
}

// uriSecrets returns the secret substrings of uri, raw and unescaped, for
// scrubbing them from driver error messages.
func uriSecrets(uri string) []string {
	p, _ := parseURI(uri)
	var raw []string
	if _, pass, ok := strings.Cut(p.userinfo, ":"); ok && pass != "" {
		raw = append(raw, pass)
	}
	for kv := range uriOptions(p.rawQuery) {
		if k, v, ok := strings.Cut(kv, "="); ok && v != "" && (isSecretOption(k) || isSecretOption(v)) {
			raw = append(raw, v)
		}
	}
	out := make([]string, 0, 2*len(raw))
	for _, s := range raw {
		out = append(out, s)
		if u, err := url.QueryUnescape(s); err == nil && u != s {
			out = append(out, u)
		}
		if u, err := url.PathUnescape(s); err == nil && u != s {
			out = append(out, u)
		}
	}
	return out
}

// scrubbed is an error whose message has the secrets of a URI removed; it
// unwraps to the original so that errors.Is and errors.As still work.
type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }

// scrub returns err, or a wrapper with the secrets of uri removed from its
// message when the message contains one.
func scrub(err error, uri string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	changed := false
	for _, s := range uriSecrets(uri) {
		if strings.Contains(msg, s) {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
			changed = true
		}
	}
	if !changed {
		return err
	}
	return &scrubbed{msg: msg, err: err}
}
