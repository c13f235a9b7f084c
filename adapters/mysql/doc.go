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
//	for o, err := range orders.Stream(ctx, ports.Where("Status", ports.Eq, "open")) { ... }
//	page, err := orders.FindPage(ctx, ports.All().OrderBy("-CreatedAt").Limit(50), cursor)
//	err = orders.Patch(ctx, id, ports.Set("Status", "paid").Inc("Attempts", 1))
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
// # Tables
//
// Store.Migrate creates a table with utf8mb4 and the utf8mb4_general_ci
// collation (Collation: the port's documented MySQL collation, which the
// SQL fake emulates: case- and accent-insensitive, trailing spaces
// ignored, in comparisons, sorts and unique indexes), InnoDB, and gorm's
// column types: datetime(3) for times (milliseconds, truncated by MariaDB;
// CreatedAt and UpdatedAt are set in UTC at milliseconds), bigint
// unsigned for uint64, varchar(n) for `size:n`, longtext for a string
// without a size (varchar(191) when it has an index, a default or is the
// key). On a table that exists — made by another tool, say — Migrate only
// adds missing columns and indexes; a column or index that differs from
// the model (type, size, precision, nullability, default, uniqueness) is
// an ErrConflict naming each difference, and nothing is changed. A table
// may hold more than the model (columns, indexes, a default or NOT NULL
// the model does not ask for); its own collation then applies.
//
// # Queries
//
// A ports.Query is checked with ports.Schema (the validator the fakes use),
// then translated through gorm's schema of T (internal/gormstore): each
// field path maps to its column, each condition to a gorm clause
// expression with the value as a parameter. No text of a Query is ever
// written into SQL. Eq and Ne with nil are IS NULL and IS NOT NULL; Ne
// with a value also matches NULL in a nullable column, as in Go; In with
// an empty slice matches nothing. Results come in the query's order, then
// primary-key order; MySQL sorts NULL first ascending and last
// descending, the port's rule. FindPage pages by keyset: one SELECT of
// "after the cursor's row" (ports.Keyset), so that with an index on the
// sort keys page 1000 costs what page 1 does. (MariaDB sorts by an index
// only when the ORDER BY is exactly its columns: sort by the primary key,
// by a unique NOT NULL column — after which the key is not appended — or
// give the sort keys and the key a composite index.)
//
// # Values
//
// Before a write is sent the portable rules apply (internal/sqlrules,
// ErrInvalid naming the field): valid UTF-8; a string within its column
// (`size:` in characters, varchar(191) for an indexed unsized string,
// sqlrules.MaxUnsizedBytes for a longtext); at most
// sqlrules.MaxStatementBytes of strings and bytes per row (a statement
// must fit in MySQL's default 16 MiB max_allowed_packet; CreateMany splits
// its INSERTs to stay under it and under 65,535 parameters); finite
// floats; times in years 1..9999; integers within their column (a `size:8`
// int is a TINYINT). Patch values go through the same rules; Query values
// through ports.Schema's. -0.0 is stored as 0.
//
// # Errors
//
// Every error is a *ports.OpError with exactly one of the port's sentinels
// (the classification table of package ports), the driver's error
// reachable with errors.As. One classifier maps MySQL and MariaDB error
// numbers: duplicate key (1062, 1586), deadlock (1213) → ErrConflict; no
// such table (1146) or column (1054), data too long (1406), incorrect
// string (1366) or datetime (1292) value, out of range (1264, 1690, and
// MariaDB's 167 for an auto-increment past its type), truncated (1265),
// too many placeholders (1390), auto-increment exhausted (1467), and any
// other error reply of the server → ErrInvalid; access denied (1044,
// 1045, 1142, 1143, 1227, 1698, …) → ErrPermission; lock wait timeout
// (1205), too many connections (1040), shutdown, a killed connection,
// statement timeouts → ErrUnavailable. A column value that does not fit
// its field (written by another client) is ErrInvalid; a lost or refused
// connection ErrUnavailable; a cancelled or expired context
// ErrUnavailable with the context's error reachable; no row ErrNotFound.
// After Close every method returns ErrClosed before it looks at its
// arguments; a nil context is ErrInvalid, a done one ErrUnavailable. A
// server message that quotes a statement's value ("Duplicate entry
// '<value>' …") is rendered without it unless Config.LogParams is set.
//
// # Transactions
//
// DB.WithinTx puts the transaction in the context; every store call made
// with it runs in the transaction (DB.InTx tells). A nested WithinTx uses
// a savepoint. A panic rolls back and is re-raised. The transaction runs
// on a connection of its own, where BEGIN, COMMIT and ROLLBACK are
// statements bounded by the context: a COMMIT whose answer does not come
// before the context ends is ErrUnavailable wrapping
// ports.ErrOutcomeUnknown (it may have committed); a context that ended
// before COMMIT commits nothing. Close waits for running transactions
// (until its own context ends) and lets none of them commit.
//
// # Performance
//
// Statements are prepared once per connection and cached (gorm's
// PrepareStmt), which halves the latency of a point select against
// unprepared statements (one round trip instead of two); statements that
// are not prepared (those of a transaction, and every one with
// DisablePreparedStmt) have their parameters interpolated by the driver,
// in one round trip. Get runs a statement gorm built once and skips gorm's
// per-call statement building (WithQueryCallbacks turns this off). Reads
// scan rows straight into the entities' fields, without gorm's
// reflection. Store calls run without gorm's default per-statement
// transaction; CreateMany inserts in batches of 1000 rows per statement.
//
// # Replicas
//
// With Config.ReplicaDSNs, reads outside a transaction go to a random
// replica (gorm.io/plugin/dbresolver) and writes and transactions to the
// primary. ReadFromPrimary(ctx) sends a read to the primary, for reading
// one's own writes.
package mysql
