package gormstore

import (
	"database/sql"

	"gorm.io/gorm/clause"

	"github.com/portkit/portkit/internal/errclass"
	"github.com/portkit/portkit/internal/sqlrules"
)

// Dialect is what a SQL adapter tells the shared store machinery about
// its backend: how errors classify, which portable rules apply, how tables
// are created, and the few statements that differ between SQL dialects.
type Dialect interface {
	// Classifier classifies the backend's errors (its Backend names the
	// backend in every error).
	Classifier() *errclass.Classifier

	// Rules names the dialect of the portable value rules (sqlrules).
	Rules() sqlrules.Dialect

	// Redact returns err with what may quote a statement's values taken
	// out of its text (a server message such as "Duplicate entry '<value>'
	// for key ..."); the backend's error must stay reachable with
	// errors.As. It returns err itself when there is nothing to remove.
	Redact(err error) error

	// TableOptions is appended to CREATE TABLE (gorm's
	// "gorm:table_options"): the engine, character set and collation.
	TableOptions() string

	// Order renders one sort key so that NULLs come first ascending and
	// last descending (the port's rule).
	Order(column string, desc, nullable bool) clause.OrderByColumn

	// UpsertVersion returns the value the update branch of an upsert
	// assigns to the version column: the stored version plus one, in a
	// form UpsertResult can read back.
	UpsertVersion(column string) clause.Expression

	// UpsertResult tells from an upsert's result whether it inserted (as
	// opposed to updated) a row, and, when the model has a version and
	// the row was updated, the version it stored.
	UpsertResult(res sql.Result, versioned bool) (inserted bool, version int64, err error)

	// MaxParams is the most parameters one statement may carry.
	MaxParams() int
}
