package mysql

import (
	"context"

	"github.com/portkit/portkit/internal/envconfig"
	"github.com/portkit/portkit/internal/redact"
	"github.com/portkit/portkit/open/driver"
)

// Scheme returns the mysql:// (and mariadb://) scheme of the SQL port,
// for package open:
//
//	mysql://user:password@host:3306/db?parseTime=true&max_open_conns=20
//
// The URL is the adapter's URL form (Config.URL: go-sql-driver parameters
// in the query); a lower-case parameter named after one of the adapter's
// variables without its MYSQL_ prefix sets that variable instead
// (max_open_conns=20 for MYSQL_MAX_OPEN_CONNS, connect_timeout=3s,
// tls_ca=/path), overriding the environment, and the other variables come
// from the environment as ConfigFromEnviron reads them. The URL replaces
// MYSQL_DSN, MYSQL_HOST and the other variables that say where to
// connect, replicas included. The handle's stores are the adapter's
// (open.NewSQLStore gives what NewStore gives, with its Migrate).
func Scheme() driver.Scheme {
	return driver.Scheme{Names: []string{"mysql", "mariadb"}, Backend: backend, SQL: openURL}
}

// urlVars are the adapter's variables as open reads them from a URL.
func urlVars() driver.Vars {
	return driver.Vars{
		Prefix: "MYSQL_",
		All:    envconfig.Vars[Config](),
		URL:    "MYSQL_URL",
		Replaced: []string{"MYSQL_DSN", "MYSQL_URL", "MYSQL_HOST", "MYSQL_PORT", "MYSQL_USER",
			"MYSQL_PASSWORD", "MYSQL_DATABASE", "MYSQL_REPLICA_DSNS"},
		DriverParams: []string{"tls"}, // go-sql-driver's, which MYSQL_TLS mirrors
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
	return driver.SQL{Transactor: db, Connector: db, Target: redact.Conn(env.URL), Dialect: "mysql", Stores: db.core}, nil
}
