package mongo

import (
	"context"
	"strings"

	"github.com/portkit/portkit/internal/envconfig"
	"github.com/portkit/portkit/open/driver"
)

// Scheme returns the mongodb:// and mongodb+srv:// scheme of the document
// port, for package open:
//
//	mongodb://user:password@host:27017/orders?authSource=admin&connect_timeout=3s
//
// The URL is the driver's connection string (Config.URI); a lower-case
// parameter named after one of the adapter's variables without its
// MONGODB_ prefix sets that variable instead (connect_timeout=3s,
// server_selection_timeout=2s, check_timeout=1s, database=orders),
// overriding the environment, and the other variables come from the
// environment as ConfigFromEnviron reads them. A database in the URL's
// path replaces MONGODB_DATABASE. The handle's stores are the adapter's
// (open.NewDocStore gives the store NewDocStore gives, with its
// EnsureIndexes), and its Transactor is the Store's WithinTx.
func Scheme() driver.Scheme {
	return driver.Scheme{Names: []string{"mongodb", "mongodb+srv"}, Backend: backend, Doc: openURL}
}

func urlVars(r driver.Request) driver.Vars {
	v := driver.Vars{Prefix: "MONGODB_", All: envconfig.Vars[Config](), URL: "MONGODB_URI", Replaced: []string{"MONGODB_URI"}}
	if r.URL != nil && strings.Trim(r.URL.Path, "/") != "" {
		v.Replaced = append(v.Replaced, "MONGODB_DATABASE")
	}
	return v
}

func openURL(ctx context.Context, r driver.Request) (driver.Doc, error) {
	env, err := r.Env(urlVars(r))
	if err != nil {
		return driver.Doc{}, err
	}
	cfg, err := ConfigFromEnviron(env.Vars)
	if err != nil {
		return driver.Doc{}, err
	}
	s, err := Open(ctx, cfg, WithLogger(r.Logger))
	if err != nil {
		return driver.Doc{}, err
	}
	return driver.Doc{Transactor: s, Connector: s, Target: RedactURI(env.URL), Stores: s.core}, nil
}
