// Package mysql implements ports.SQLStore, ports.Transactor and
// ports.Connector over MySQL and MariaDB, with gorm.io/gorm and
// gorm.io/driver/mysql (go-sql-driver/mysql underneath).
//
//	cfg, err := mysql.ConfigFromEnv()
//	db, err := mysql.Open(ctx, cfg)                // *mysql.DB: Connector + Transactor
//	orders, err := mysql.NewStore[Order](db)       // ports.SQLStore[Order]
//	err = db.WithinTx(ctx, func(ctx context.Context) error {
//		return orders.Create(ctx, &Order{...})    // runs in the transaction
//	})
//
// # Configuration
//
// ConfigFromEnv reads these variables. The connection comes from MYSQL_DSN,
// else MYSQL_URL, else the parts.
//
//	MYSQL_DSN                  go-sql-driver DSN: user:pass@tcp(host:3306)/db?params
//	MYSQL_URL                  mysql://user:pass@host:3306/db?params
//	MYSQL_HOST, MYSQL_PORT     server (port 3306 by default)
//	MYSQL_USER, MYSQL_PASSWORD credentials
//	MYSQL_DATABASE             database
//	MYSQL_TLS                  false | true | skip-verify | preferred
//	MYSQL_TLS_CA               CA bundle (PEM) to verify the server; implies MYSQL_TLS=true
//	MYSQL_TLS_CERT, MYSQL_TLS_KEY  client certificate (PEM)
//	MYSQL_TLS_SERVER_NAME      name to verify instead of the host
//	MYSQL_MAX_OPEN_CONNS       open connections per pool (0: no limit)
//	MYSQL_MAX_IDLE_CONNS       idle connections per pool (default 10)
//	MYSQL_CONN_MAX_LIFETIME    e.g. 30m (default: none)
//	MYSQL_CONN_MAX_IDLE_TIME   e.g. 5m (default: none)
//	MYSQL_REPLICA_DSNS         read replicas, comma-separated DSNs or URLs
//	MYSQL_CONNECT_TIMEOUT      bound of Open (default 5s)
//	MYSQL_CHECK_TIMEOUT        bound of Check (default 5s)
//	MYSQL_SLOW_THRESHOLD       statements slower than this are logged at Warn (default 200ms)
//	MYSQL_LOG_PARAMS           true: log statement parameters (default false)
//	MYSQL_DISABLE_PREPARED_STMT true: no prepared-statement cache
//
// Every connection has parseTime=true and a utf8mb4 collation unless the
// DSN sets them, and always clientFoundRows=true: Update detects a missing
// row from the affected-row count, which must count matched rows, not only
// changed ones. A bad value is an error naming the variable; no error, log
// line or rendering of Config (fmt verbs, slog) shows a password.
//
// # Queries
//
// A ports.Query is checked with ports.Schema (the validator the fakes use),
// then translated through gorm's schema of T: each field path maps to its
// column, each condition to a gorm clause expression with the value as a
// parameter. No text of a Query is ever written into SQL. Eq and Ne with
// nil are IS NULL and IS NOT NULL; Ne with a value also matches NULL in a
// nullable column, as in Go; In with an empty slice matches nothing.
// Results come in the query's order, then primary-key order. String
// comparisons and ordering follow the column's collation (case-insensitive
// with the usual *_ci collations).
//
// # Errors
//
// Every error is a *ports.OpError wrapping the driver's error: duplicate
// key (1062) → ports.ErrConflict; no row → ports.ErrNotFound, also for
// Update and Delete that match nothing; a lost or refused connection or a
// deadline → ports.ErrUnavailable; a bad argument or Query →
// ports.ErrInvalid; any call after Close → ports.ErrClosed.
//
// # Transactions
//
// DB.WithinTx puts the transaction in the context; every store call made
// with it runs in the transaction. A nested WithinTx uses a savepoint. A
// panic rolls back and is re-raised.
//
// # Performance
//
// Statements are prepared once per connection and cached (gorm's
// PrepareStmt), which halves the latency of a point select against
// unprepared statements (one round trip instead of two). Get runs a
// statement gorm built once and skips gorm's per-call statement building
// (WithQueryCallbacks turns this off). Store calls run without gorm's
// default per-statement transaction; CreateMany inserts in batches of 1000
// rows per statement.
//
// # Replicas
//
// With Config.ReplicaDSNs, reads outside a transaction go to a random
// replica (gorm.io/plugin/dbresolver) and writes and transactions to the
// primary. ReadFromPrimary(ctx) sends a read to the primary, for reading
// one's own writes.
package mysql
