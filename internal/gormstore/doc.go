// Package gormstore is the dialect-neutral machinery of portkit's SQL
// adapters over gorm: one implementation of ports.SQLStore and
// ports.Transactor that adapters/mysql and adapters/postgres configure
// with a Dialect, so that each adapter keeps only its
// configuration, its Open, Check and Close, and its error classifier.
//
// What it holds:
//
//   - DB: the closed-state gate every call passes (internal/gate: after
//     Close ErrClosed, a nil context ErrInvalid, a done one
//     ErrUnavailable, then the arguments), error wrapping through the
//     dialect's errclass.Classifier, and transactions: WithinTx runs on a
//     connection of its own where BEGIN, COMMIT and ROLLBACK are statements
//     bounded by the context (ErrOutcomeUnknown when a COMMIT's answer is
//     lost), savepoints for nested calls, and Close waiting for running
//     transactions, none of which may then commit.
//   - Store: CRUD, Find, Stream (the driver's row cursor, constant
//     memory), FindPage (keyset pages with ports' cursors), Patch (Set and
//     atomic Inc in one UPDATE), Upsert, optimistic concurrency with a
//     ports.Version field, DeleteWhere, and Migrate, which creates tables
//     with the dialect's options and never changes an existing column or
//     index (a difference is an ErrConflict naming it).
//   - Queries: ports.Query to gorm clauses, columns from gorm's schema,
//     values as parameters (query.go).
//   - Reads: rows are scanned straight into the entity's fields by
//     decoders built once per model (scan.go), with gorm's conversions
//     (NULL to a zero value, DECIMAL to a float, TINYINT to a bool, an
//     unsigned BIGINT to a uint64); fields with a serializer or a
//     sql.Scanner go through gorm's setter or their Scan method. Get runs
//     a statement gorm built once.
//   - Writes: the portable value rules (internal/sqlrules) before
//     anything is sent; a failed write leaves the caller's entity as it
//     was.
package gormstore
