// Package driver is the side of package open that adapters implement: the
// [Scheme] an adapter provides, the [Request] its openers receive, and the
// handles they return. Applications use package open, which re-exports
// these types; they never need this package.
//
// It is a package of its own so that every provider of a scheme — the
// fakes included, which package open itself imports for its typed store
// constructors — can import it without an import cycle.
//
// # Writing an opener
//
// An adapter adds one file, url.go, with a function that returns its
// Scheme:
//
//	// Scheme returns the redis:// and rediss:// scheme of the Cache.
//	func Scheme() driver.Scheme {
//		return driver.Scheme{Names: []string{"redis", "rediss"}, Backend: "redis", Cache: openCache}
//	}
//
// Each opener turns the Request into the adapter's Config through the
// adapter's own ConfigFromEnviron (with [Request.Env], which sets the
// URL and the settings its query carries onto the adapter's variables), so
// that a URL is read by the same parser, and checked by the same rules, as
// the variables are. It then opens the adapter and returns the handle:
// the port, its Connector, where it connects (redacted), and, for the
// stores, the machinery package open's typed constructors build on.
//
// An opener's errors follow the ports' table (a bad URL or setting is
// ErrInvalid, an unreachable server ErrUnavailable, a refused password
// ErrPermission) and never hold a secret: open scrubs the URL's secrets
// from them once more, but an opener must not rely on it.
package driver

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"

	"github.com/portkit/portkit/ports"
)

// Scheme is what an adapter provides to package open: the URL schemes it
// serves and an opener for each port it implements. A nil opener means
// the scheme does not serve that port.
type Scheme struct {
	// Names are the URL schemes, in lower case: "redis" and "rediss",
	// "mongodb" and "mongodb+srv", "mem".
	Names []string
	// Backend names the adapter in errors: "redis", "fakes".
	Backend string
	// OwnParser says the adapter's URLs are not always RFC 3986 URLs (a
	// NATS server list, "nats://a:4222,nats://b:4222"): open then hands
	// over a URL that url.Parse refuses with Request.URL nil, for the
	// opener to read Request.Raw itself, instead of refusing it.
	OwnParser bool

	SQL    func(ctx context.Context, r Request) (SQL, error)
	Doc    func(ctx context.Context, r Request) (Doc, error)
	Cache  func(ctx context.Context, r Request) (Cache, error)
	PubSub func(ctx context.Context, r Request) (PubSub, error)
}

// Request is what an opener receives.
type Request struct {
	// Scheme is the URL's scheme, in lower case.
	Scheme string
	// URL is the parsed URL; nil only for a Scheme with OwnParser whose
	// URL url.Parse refuses. It may hold a password: never print it.
	URL *url.URL
	// Raw is the URL as the application gave it, for adapters whose
	// parser takes a string. It may hold a password: never print it.
	Raw string
	// Environ is the environment (variable → value) the opener reads the
	// adapter's other variables from: the process's, unless the
	// application gave one. Never nil; openers must not modify it.
	Environ map[string]string
	// Logger is the logger the adapter should log through. Never nil.
	Logger *slog.Logger
}

// SQL is an open SQL database: the Transactor of its stores, the
// Connector of its connection pool, and the store machinery package open's
// NewSQLStore builds typed stores on.
type SQL struct {
	ports.Transactor
	ports.Connector
	// Target is where the database is, with every secret redacted, for
	// logs and lifecycle.WithTarget.
	Target string
	// Scheme is the URL scheme the handle was opened with (set by open).
	Scheme string
	// Dialect is the SQL dialect: "mysql" or "postgres".
	Dialect string
	// Stores is the backend's store machinery: *gormstore.DB for the
	// adapters built on internal/gormstore, *fakes.DB for mem://. Package
	// open knows these types; a third-party adapter leaves it nil and
	// offers its own typed constructor.
	Stores any
}

// Doc is an open document database: the Transactor of its stores, the
// Connector of its client, and the store machinery package open's
// NewDocStore builds typed stores on.
type Doc struct {
	ports.Transactor
	ports.Connector
	// Target is where the database is, with every secret redacted.
	Target string
	// Scheme is the URL scheme the handle was opened with (set by open).
	Scheme string
	// Stores is the backend's store machinery: *mongostore.DB for the
	// mongo adapter, *fakes.DB for mem://; nil for a third-party adapter.
	Stores any
}

// Cache is an open cache: the port and its Connector (usually one value).
type Cache struct {
	ports.Cache
	ports.Connector
	// Target is where the cache is, with every secret redacted.
	Target string
	// Scheme is the URL scheme the handle was opened with (set by open).
	Scheme string
}

// PubSub is an open messaging backend: its Publisher, Subscriber, Admin
// and Connector (usually one value).
type PubSub struct {
	ports.Publisher
	ports.Subscriber
	ports.Admin
	ports.Connector
	// Target is where the backend is, with every secret redacted.
	Target string
	// Scheme is the URL scheme the handle was opened with (set by open).
	Scheme string
}

// Vars describes an adapter's environment variables, for
// [Request.Env].
type Vars struct {
	// Prefix starts every variable of the adapter: "MYSQL_".
	Prefix string
	// All lists every variable the adapter's ConfigFromEnviron reads.
	All []string
	// URL is the variable the URL is given in ("MYSQL_URL"); "" when the
	// adapter has none (the opener then reads the URL itself).
	URL string
	// Replaced are the variables that say where to connect, which the URL
	// replaces: Env drops them from the environment, and a query
	// parameter named after one stays in the URL, for the adapter's own
	// URL form to read or refuse (mysql's ?password=).
	Replaced []string
	// DriverParams are the query parameters of the URL's own form that
	// look like settings (go-sql-driver's tls): they stay in the URL.
	DriverParams []string
}

// Env is what [Request.Env] returns.
type Env struct {
	// Vars is the environment for the adapter's ConfigFromEnviron.
	Vars map[string]string
	// URL is the URL without its settings parameters (also in Vars[URL]
	// when the adapter has a URL variable). It may hold a password.
	URL string
	// Rest lists the names of the query parameters that are not settings,
	// in order: the driver's own, or unknown ones for an adapter that has
	// no driver to give them to.
	Rest []string
}

var settingRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Env returns the environment the adapter's ConfigFromEnviron should
// read for r: a copy of r.Environ without the v.Replaced variables, with
// the URL (stripped of its settings) in v.URL, and with one variable per
// settings parameter of the query. A settings parameter is a lower-case
// name whose upper-case form, after v.Prefix, is one of v.All (and not a
// v.Replaced variable nor a v.DriverParams name): max_open_conns=10 sets
// MYSQL_MAX_OPEN_CONNS=10, overriding the environment. The other
// parameters stay in the URL, untouched, in their order.
//
// A settings parameter given twice is an error wrapping ports.ErrInvalid
// that names it; no error quotes a value.
func (r Request) Env(v Vars) (Env, error) {
	all := make(map[string]bool, len(v.All))
	for _, k := range v.All {
		all[k] = true
	}
	replaced := make(map[string]bool, len(v.Replaced))
	for _, k := range v.Replaced {
		replaced[k] = true
	}
	env := make(map[string]string, len(r.Environ)+4)
	for k, val := range r.Environ {
		if !replaced[k] {
			env[k] = val
		}
	}
	raw := r.Raw
	var rest []string
	if r.URL != nil && r.URL.RawQuery != "" {
		var kept []string
		seen := map[string]bool{}
		for _, pair := range strings.Split(r.URL.RawQuery, "&") {
			if pair == "" {
				continue
			}
			rawKey, rawVal, _ := strings.Cut(pair, "=")
			key, err := url.QueryUnescape(rawKey)
			name := v.Prefix + strings.ToUpper(key)
			if err != nil || !settingRE.MatchString(key) || !all[name] || replaced[name] || contains(v.DriverParams, key) {
				kept = append(kept, pair)
				if err == nil {
					rest = append(rest, key)
				} else {
					rest = append(rest, "(malformed)")
				}
				continue
			}
			if seen[key] {
				return Env{}, ports.NewError("open", "url", ports.ErrInvalid, fmt.Errorf("parameter %s given twice", key))
			}
			seen[key] = true
			val, err := url.QueryUnescape(rawVal)
			if err != nil {
				return Env{}, ports.NewError("open", "url", ports.ErrInvalid, fmt.Errorf("parameter %s: malformed percent-encoding", key))
			}
			env[name] = val
		}
		raw = stripQuery(r.Raw, r.URL.RawQuery, strings.Join(kept, "&"))
	}
	if v.URL != "" {
		env[v.URL] = raw
	}
	return Env{Vars: env, URL: raw, Rest: rest}, nil
}

// stripQuery returns raw with its query replaced by query, leaving every
// other byte as it was written (the user info's escaping included).
func stripQuery(raw, oldQuery, query string) string {
	i := strings.Index(raw, "?"+oldQuery)
	if i < 0 {
		return raw // cannot happen: the query came from raw
	}
	tail := raw[i+1+len(oldQuery):]
	if query == "" {
		return raw[:i] + tail
	}
	return raw[:i] + "?" + query + tail
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Invalid returns the ErrInvalid error of an opener: backend and op as in
// ports.NewError, the cause formatted. The cause must hold no secret.
func Invalid(backend, op, format string, args ...any) error {
	return ports.NewError(backend, op, ports.ErrInvalid, fmt.Errorf(format, args...))
}
