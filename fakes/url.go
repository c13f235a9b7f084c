package fakes

import (
	"context"
	"net/url"
	"slices"
	"strings"

	"github.com/portkit/portkit/open/driver"
)

// Scheme is the URL scheme of the fakes, for package open.
const Scheme = "mem"

// Schemes returns the mem:// scheme for package open: every port on its
// in-memory fake, so that an application whose URLs default to mem://
// runs with nothing installed.
//
//	mem://                      a new, empty fake
//	mem://name                  the same, with that Connector name
//	mem://?dialect=postgres     (SQL) PostgreSQL's semantics (WithDialect); mysql by default
//	mem://?key_prefix=app:      (cache) every key prefixed (WithKeyPrefix)
//	mem://?project=p            (pub/sub) the project of full resource names (WithProject)
//
// Every open of a mem:// URL is a new backend: two opens share nothing,
// so open the SQL database once for the stores that share transactions.
// A URL with a user, a password, a path or another parameter is
// ErrInvalid naming what is wrong.
func Schemes() driver.Scheme {
	return driver.Scheme{
		Names:   []string{Scheme},
		Backend: "fakes",
		SQL:     openSQL,
		Doc:     openDoc,
		Cache:   openCache,
		PubSub:  openPubSub,
	}
}

// memTarget is the Target of every fake.
const memTarget = "in-memory"

// memURL checks r's URL and returns the Options its name and logger make,
// and the parameters of allowed, by name.
func memURL(r driver.Request, port string, allowed ...string) ([]Option, map[string]string, error) {
	u := r.URL
	fail := func(format string, args ...any) ([]Option, map[string]string, error) {
		return nil, nil, driver.Invalid("fakes", "open "+port, "mem:// URL: "+format, args...)
	}
	switch {
	case u == nil:
		return fail("missing")
	case u.Opaque != "":
		return fail("want mem:// or mem://name")
	case u.User != nil:
		return fail("a fake takes no user or password")
	case u.Port() != "":
		return fail("a fake takes no port")
	case u.Path != "" && u.Path != "/":
		return fail("a fake takes no path")
	case u.Fragment != "":
		return fail("a fake takes no fragment")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return fail("malformed query")
	}
	params := map[string]string{}
	for k, vs := range q {
		if !slices.Contains(allowed, k) {
			want := "none"
			if len(allowed) > 0 {
				want = strings.Join(allowed, ", ")
			}
			return fail("unknown parameter %q for the %s port (known: %s)", k, port, want)
		}
		if len(vs) != 1 {
			return fail("parameter %s given %d times", k, len(vs))
		}
		params[k] = vs[0]
	}
	opts := []Option{WithLogger(r.Logger)}
	if u.Hostname() != "" {
		opts = append(opts, WithName(u.Hostname()))
	}
	return opts, params, nil
}

func openSQL(_ context.Context, r driver.Request) (driver.SQL, error) {
	opts, params, err := memURL(r, "sql", "dialect")
	if err != nil {
		return driver.SQL{}, err
	}
	dialect := MySQL
	switch d := params["dialect"]; d {
	case "", "mysql", "mariadb":
	case "postgres", "postgresql":
		dialect = Postgres
	default:
		return driver.SQL{}, driver.Invalid("fakes", "open sql", "mem:// URL: dialect %q is not mysql or postgres", d)
	}
	db := NewDB(append([]Option{WithDialect(dialect)}, opts...)...)
	return driver.SQL{Transactor: db, Connector: db, Target: memTarget, Dialect: string(dialect), Stores: db}, nil
}

func openDoc(_ context.Context, r driver.Request) (driver.Doc, error) {
	opts, _, err := memURL(r, "doc")
	if err != nil {
		return driver.Doc{}, err
	}
	db := NewDB(append([]Option{WithName("fake-doc")}, opts...)...)
	return driver.Doc{Transactor: db, Connector: db, Target: memTarget, Stores: db}, nil
}

func openCache(_ context.Context, r driver.Request) (driver.Cache, error) {
	opts, params, err := memURL(r, "cache", "key_prefix")
	if err != nil {
		return driver.Cache{}, err
	}
	if p := params["key_prefix"]; p != "" {
		opts = append(opts, WithKeyPrefix(p))
	}
	c := NewCache(opts...)
	return driver.Cache{Cache: c, Connector: c, Target: memTarget}, nil
}

func openPubSub(_ context.Context, r driver.Request) (driver.PubSub, error) {
	opts, params, err := memURL(r, "pubsub", "project")
	if err != nil {
		return driver.PubSub{}, err
	}
	if p := params["project"]; p != "" {
		opts = append(opts, WithProject(p))
	}
	ps := NewPubSub(opts...)
	return driver.PubSub{Publisher: ps, Subscriber: ps, Admin: ps, Connector: ps, Target: memTarget}, nil
}
