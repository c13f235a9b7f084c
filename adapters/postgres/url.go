package postgres

import (
	"context"

	"github.com/portkit/portkit/internal/envconfig"
	"github.com/portkit/portkit/internal/redact"
	"github.com/portkit/portkit/open/driver"
)

// Scheme returns the postgres:// (and postgresql://) scheme of the SQL
// port, for package open:
//
//	postgres://user:password@host:5432/db?sslmode=disable&max_open_conns=20
//
// The URL is a libpq connection URL (DATABASE_URL); a lower-case parameter
// named after one of the adapter's variables without its POSTGRES_ prefix
// sets that variable instead (max_open_conns=20 for
// POSTGRES_MAX_OPEN_CONNS, connect_timeout=3s), overriding the
// environment, and the other variables come from the environment as
// ConfigFromEnviron reads them. The URL replaces DATABASE_URL and the PG*
// variables that say where to connect. The handle's stores are the
// adapter's (open.NewSQLStore gives what NewStore gives, with its
// Migrate).
func Scheme() driver.Scheme {
	return driver.Scheme{Names: []string{"postgres", "postgresql"}, Backend: backend, SQL: openURL}
}

// urlVars are the adapter's variables as open reads them from a URL.
func urlVars() driver.Vars {
	return driver.Vars{
		Prefix:   "POSTGRES_",
		All:      envconfig.Vars[Config](),
		URL:      "DATABASE_URL",
		Replaced: []string{"DATABASE_URL", "PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "PGSERVICE"},
		// libpq's own parameter, which POSTGRES_CONNECT_TIMEOUT mirrors.
		DriverParams: []string{"connect_timeout"},
	}
}

func openURL(ctx context.Context, r driver.Request) (driver.SQL, error) {
	env, err := r.Env(urlVars())
	if err != nil {
		return driver.SQL{}, err
	}
	cfg, err := ConfigFromEnviron(env.Vars)
	if err != nil {
		return driver.SQL{}, err
	}
	db, err := Open(ctx, cfg, WithLogger(r.Logger))
	if err != nil {
		return driver.SQL{}, err
	}
	return driver.SQL{Transactor: db, Connector: db, Target: redact.Conn(env.URL), Dialect: "postgres", Stores: db.core}, nil
}
