// Package fakes holds in-memory implementations of every port of package
// ports, for tests and for running a service with no backend:
//
//   - [Cache]: a [ports.Cache] with Redis semantics (TTLs, SetNX, Incr);
//   - [DB]: an in-memory database and its [ports.Transactor], holding
//     [SQLStore] ([ports.SQLStore], gorm-tagged models, with the semantics
//     of MySQL or PostgreSQL as the adapters create their tables, see
//     [WithDialect]) and [DocStore] ([ports.DocStore], models embedding
//     [ports.Document]) tables;
//   - [PubSub]: a [ports.Publisher], [ports.Subscriber] and [ports.Admin]
//     with topics, subscriptions, fan-out, at-least-once redelivery,
//     ordering keys and dead letters.
//
// Each is also a [ports.Connector] and is safe for concurrent use.
//
// # Why a fake can be trusted
//
// The fakes pass the same conformance suites (package ports/portstest) as
// the adapters do against MySQL, PostgreSQL, MongoDB, Redis, Pub/Sub and
// NATS, claiming the capabilities of the backends they follow: transactions
// with savepoints, unique indexes, ordering keys, dead letters (with
// DeliveryAttempt counted on dead-letter subscriptions, as Google does). Queries are validated by the same
// [ports.Schema] the adapters use, so a query a fake rejects is rejected in
// production too. The SQL store goes further and reuses the adapters'
// machinery: gorm's own schema parser reads the model (table and column
// names, keys, defaults, permissions, serializers, embedded structs, soft
// delete, auto times), rows hold column values written and read through
// gorm's field accessors, strings compare by the collation the adapter
// creates its tables with (utf8mb4_general_ci on MySQL, from a weight table
// generated from MariaDB; bytewise on PostgreSQL), times keep the column's
// precision, and values the backend rejects are ErrInvalid by the same
// portable rules (internal/sqlrules) the adapters apply. Side-by-side
// tests against MariaDB and PostgreSQL, and the differential checker
// (internal/difftest), keep it honest.
//
// # Clock
//
// Every fake reads the time from a [Clock]: the system clock by default, or
// a [ManualClock] given with [WithClock], which moves only when the test
// calls Advance or Set. Cache expiry, document timestamps and IDs,
// gorm-style CreatedAt/UpdatedAt fields and message publish times follow
// it. Only Pub/Sub's short redelivery delay uses real time, so that a
// stopped clock cannot stall delivery.
//
// # Faults
//
// Every fake embeds [Faults]: SetUnavailable(true) makes Check and every
// call fail with an error wrapping ports.ErrUnavailable until
// SetUnavailable(false); FailNext(n, err) fails exactly the next n calls
// with err (wrapped so that errors.Is matches err and a ports sentinel);
// Calls counts calls. Faults set on a DB apply to all its stores, and are
// counted there; a store's own faults apply to that store only. Close is
// never failed; after it, every call returns ErrClosed. A call whose
// context is already done returns an error wrapping ctx.Err(); one with a
// nil context returns ErrInvalid.
//
// # Isolation
//
// [DB] serializes transactions: one runs at a time, the others wait (for
// at most [WithLockWait], honouring their context); [DB.InTx] tells
// whether a context carries one. A transaction's writes stay private until
// commit, which applies them atomically, so calls outside it see committed
// data only (read committed), and a rollback, whole or to a savepoint (a
// nested WithinTx), leaves no trace. Writes made outside the transaction
// to rows or unique values it has written wait for it to end, as InnoDB
// row locks make them. One WithinTx covers every SQL
// and document store of the DB. Closing the DB while a transaction runs
// makes it fail (it cannot commit any more), and Close waits for it.
//
// Nothing is kept in package-level state: fakes made side by side share
// nothing.
package fakes
