// Package postgres implements ports.SQLStore, ports.Transactor and
// ports.Connector over PostgreSQL, with gorm.io/gorm and
// gorm.io/driver/postgres (jackc/pgx v5 underneath), on the SQL machinery
// it shares with adapters/mysql (internal/gormstore).
//
//	cfg, err := postgres.ConfigFromEnv()
//	db, err := postgres.Open(ctx, cfg)             // *postgres.DB: Connector + Transactor
//	orders, err := postgres.NewStore[Order](db)    // ports.SQLStore[Order]
//	err = db.WithinTx(ctx, func(ctx context.Context) error {
//		return orders.Create(ctx, &Order{...})    // runs in the transaction
//	})
//	for o, err := range orders.Stream(ctx, ports.Where("Status", ports.Eq, "open")) { ... }
//	page, err := orders.FindPage(ctx, ports.All().OrderBy("-CreatedAt").Limit(50), cursor)
//	err = orders.Patch(ctx, id, ports.Set("Status", "paid").Inc("Attempts", 1))
//
// # Configuration
//
// ConfigFromEnv reads the variables libpq users set, and portkit's own.
// DATABASE_URL's settings win; the PG* variables fill in what it does not
// set (as query parameters of a URL); what neither sets pgx takes from
// the process's PG* variables, ~/.pgpass and the service file, as libpq
// does. DATABASE_URL or PGHOST must be set.
//
//	DATABASE_URL               postgres://user:pass@host:5432/db?sslmode=require, or host=... user=... (key=value)
//	PGHOST, PGPORT             server (port 5432 by default; several hosts comma-separated)
//	PGUSER, PGPASSWORD         credentials
//	PGDATABASE                 database
//	PGSSLMODE                  disable | allow | prefer | require | verify-ca | verify-full
//	PGSSLROOTCERT, PGSSLCERT, PGSSLKEY, PGSSLPASSWORD   TLS files, and the key's password
//	PGAPPNAME                  application_name
//	POSTGRES_MAX_OPEN_CONNS    open connections (0: no limit)
//	POSTGRES_MAX_IDLE_CONNS    idle connections (default 10)
//	POSTGRES_CONN_MAX_LIFETIME e.g. 30m (default: none)
//	POSTGRES_CONN_MAX_IDLE_TIME e.g. 5m (default: none)
//	POSTGRES_CONNECT_TIMEOUT   bound of Open (default 5s; also caps connect_timeout)
//	POSTGRES_CHECK_TIMEOUT     bound of Check (default 5s)
//	POSTGRES_SLOW_THRESHOLD    statements slower than this are logged at Warn (default 200ms)
//	POSTGRES_LOG_PARAMS        true: log statement parameters and the server's messages about values
//
// Any parameter pgx accepts goes in DATABASE_URL: target_session_attrs,
// options, statement_cache_capacity, default_query_exec_mode
// (simple_protocol behind PgBouncer in transaction mode), ... pgx
// prepares and caches each statement on its connection by default, so
// gorm's own statement cache is off. A bad value is an error naming the
// variable; no error, log line or rendering of Config (fmt verbs, slog)
// shows a password (userinfo, ?password=, sslpassword, key=value).
//
// # Tables
//
// Store.Migrate creates a table with gorm's PostgreSQL column types, except
// that every text column gets COLLATE "C" (Collation: the port's
// documented PostgreSQL collation, bytewise: case- and accent-sensitive,
// trailing spaces significant, in comparisons, sorts and unique indexes;
// the SQL fake follows it with fakes.WithDialect(fakes.Postgres)) and a
// float without a precision is double precision (real for a float32)
// rather than gorm's unbounded numeric. Times are timestamptz:
// microseconds (CreatedAt and UpdatedAt are set in UTC at microseconds;
// pgx sends a time truncated to microseconds). An integer key is a
// bigserial. On a table that exists, Migrate only adds missing columns
// and indexes; a column or index that differs from the model is an
// ErrConflict naming each difference, and nothing is changed (the
// collation of an existing column is not compared).
//
// # Queries and values
//
// Queries are translated by internal/gormstore, as on MySQL: columns from
// gorm's schema, values as parameters, Ne with a value matching NULL. A
// nullable sort key is written with NULLS FIRST ascending and NULLS LAST
// descending (PostgreSQL's default is the reverse), the port's order.
// Before a write is sent, the portable rules apply (internal/sqlrules,
// dialect Postgres) with ErrInvalid: invalid UTF-8, NaN or ±Inf, a string
// over its size, a time outside years 1..9999, and PostgreSQL's own: a
// NUL character in a string (text cannot hold it; bytea can), an integer
// outside its column (`size:16` a smallint, `size:32` an integer; a
// uint16 is an integer, a uint32 or uint64 a bigint, so a uint64 over
// MaxInt64 is refused; an unsigned column is created with CHECK (col >=
// 0), so that an Inc below zero is ErrInvalid, SQLSTATE 23514, as on
// MySQL). -0.0 is kept.
//
// Keys: CreateMany inserts with RETURNING the generated keys. An explicit
// key does not move the key's sequence: a later generated key may collide
// with it (ErrConflict). Upsert is one INSERT … ON CONFLICT (key) DO
// UPDATE … RETURNING: the stored version and CreatedAt come back in the
// same round trip; a unique value of another row is ErrConflict and
// changes nothing.
//
// # Transactions
//
// WithinTx holds a connection of its own; BEGIN, COMMIT and ROLLBACK are
// bounded by ctx (ErrUnavailable wrapping ports.ErrOutcomeUnknown when a
// COMMIT's answer is lost); a nested WithinTx is a savepoint. PostgreSQL
// aborts a transaction at its first failed statement: later statements
// fail (SQLSTATE 25P02, ErrInvalid) and WithinTx returns ErrInvalid
// rather than commit when fn ignored the failure. Run a statement that may
// fail in a nested WithinTx to go on after it.
//
// # Telemetry
//
// The DB, its stores and its transactions record OpenTelemetry spans and
// metrics through portkit's instrumentation core, as the MySQL adapter
// does (see package telemetry for the names and attributes): one span per
// port operation ("sql.find orders", "tx.within_tx", "check postgres",
// "close postgres"), with db.system.name "postgresql" and server.address
// and server.port of the server pgx connects to first (a Unix socket's
// directory, port 0; never the user or the password), and
// db.client.operation.duration, portkit.operation.errors and
// portkit.check.*. No span or metric holds a statement, a parameter or an
// error's text. It uses the global providers by default, or those of
// [WithTracerProvider] and [WithMeterProvider].
//
// # Errors
//
// Every error is a *ports.OpError with exactly one sentinel, classified by
// SQLSTATE (pgconn.PgError.Code, reachable with errors.As):
//
//	23505 unique, 23P01 exclusion, 40001 serialization, 40P01 deadlock   ErrConflict
//	22xxx data exceptions, 23xxx other constraints, 42xxx (42P01 no such
//	table, 42703 no such column, 42601 syntax), 3D000 no such database,
//	0Axxx, 54xxx, 25P02 aborted transaction, any other reply             ErrInvalid
//	28000, 28P01 authentication / no such role, 42501 no privilege       ErrPermission
//	08xxx connection, 53xxx resources, 57xxx (57014 statement_timeout,
//	57P01 shutdown, 57P03 starting up), 58xxx, 55P03 lock_timeout,
//	25006 read-only (a standby), 40003, failures without a reply         ErrUnavailable
//
// A cancelled or expired ctx is ErrUnavailable with the context's error;
// after Close, ErrClosed. The server's message of a data exception may
// quote the value: unless Config.LogParams, its quoted parts are omitted
// from the error text, and pgx's "unable to encode <value>" is replaced;
// a duplicate's value sits only in the PgError's Detail.
package postgres
