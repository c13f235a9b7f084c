// Package open opens portkit's ports from URLs, one URL per port, the way
// Go CDK opens its portable APIs: the same service runs on the in-memory
// fakes, on MySQL and Google Pub/Sub, or on PostgreSQL and NATS, by
// changing four variables and no code.
//
//	m := open.New(fakes.Schemes(), mysql.Scheme(), mongo.Scheme(), redis.Scheme(), pubsub.Scheme())
//	db, err := m.OpenSQL(ctx, os.Getenv("ORDERS_SQL_URL"))       // mem://, mysql://...
//	orders, err := open.NewSQLStore[Order](db, "orders")
//	cache, err := m.OpenCache(ctx, os.Getenv("ORDERS_CACHE_URL")) // mem://, redis://...
//	group.Add(db.Connector, lifecycle.WithTarget(db.Target))
//
// # Schemes
//
//	mem://                 every port: the fakes (fakes.Schemes); ?dialect=postgres for SQL
//	mysql://, mariadb://   SQL: adapters/mysql (mysql.Scheme)
//	postgres://            SQL: adapters/postgres
//	mongodb://, +srv       documents: adapters/mongo (mongo.Scheme)
//	redis://, rediss://    cache: adapters/redis (redis.Scheme)
//	gcppubsub://project    messaging: adapters/pubsub (pubsub.Scheme); its emulator when PUBSUB_EMULATOR_HOST is set
//	nats://                messaging: adapters/nats
//
// There is no registry: a [Mux] knows the schemes it was made with, so an
// application links only the adapters it names, and two Muxes of one
// process may differ (a test's and the service's). An adapter provides its
// scheme as a function, Scheme(), returning a [Scheme] (package driver
// says how to write one).
//
// # URLs and variables
//
// A URL is the adapter's own connection string (the one its URL variable
// takes: MYSQL_URL, REDIS_URL, MONGODB_URI...), read by the adapter's own
// parser. Its query keeps the driver's parameters, and a lower-case
// parameter named after one of the adapter's variables without its prefix
// sets that variable (mysql://...?max_open_conns=20 sets
// MYSQL_MAX_OPEN_CONNS), overriding the environment. Every other variable
// of the adapter is read from the environment, the process's or the one
// given with [WithEnviron], by the adapter's ConfigFromEnviron, with the
// same rules and errors as without open. The URL replaces the variables
// that say where to connect.
//
// # Errors
//
// Every error wraps one of the ports' sentinels. A URL that is empty, not
// a URL, malformed, of a scheme the Mux does not know (the error lists the
// schemes it knows, and those that serve the port) or of a scheme that
// does not serve the port is ErrInvalid; so is a bad parameter, which the
// adapter names. A server that does not answer is ErrUnavailable, a
// refused password ErrPermission. No error, log line or Target holds a
// password or a secret parameter: the adapters' errors are redacted at
// the source, and open scrubs the URL's secrets from them once more.
//
// # Handles and typed stores
//
// A store of entity type T cannot be made from a URL alone (Go has no
// generic methods), so OpenSQL and OpenDoc return a handle — the
// ports.Transactor and ports.Connector of the database — and the generic
// functions [NewSQLStore] and [NewDocStore] make typed stores on it,
// whatever its scheme, without package open importing any adapter: the
// SQL adapters keep their store machinery in internal/gormstore and the
// mongo adapter in internal/mongostore, which the handles carry (in their
// Stores field) and the typed constructors instantiate for T, exactly as
// the adapters' own NewStore and NewDocStore do; mem:// handles carry a
// *fakes.DB. The stores are therefore the adapters' own, with their
// Migrate and EnsureIndexes, which [Migrate] runs whatever the scheme.
// The price: package open links gorm, the MongoDB driver and mgm (the
// fakes link the first two already), but no database driver, so a
// service on mem:// and Redis links neither MySQL's nor pgx. A
// third-party adapter leaves Stores nil and offers its own typed
// constructor over its handle.
//
// Cache and PubSub handles carry the port itself. Each handle has its
// Target, the redacted place it connects to, for logs and
// lifecycle.WithTarget, and its Connector, which the application closes
// (a lifecycle.Group does).
package open
