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

	// Upsert returns the conflict clause of an INSERT that replaces the
	// row with the same primary key pk: the columns cols take the
	// inserted values, version (when not "") the stored version plus one.
	// A conflict on another unique index must not change that other row.
	Upsert(pk string, cols []string, version string) clause.OnConflict

	// UpsertResult tells from an upsert's result what it did, and, for
	// UpsertReplaced of a versioned row, the version it stored (0:
	// unknown, read it back).
	UpsertResult(res sql.Result, versioned bool) (UpsertOutcome, int64, error)

	// MaxParams is the most parameters one statement may carry.
	MaxParams() int
}

// UpsertSetter is implemented by a dialect whose upsert can give a
// column of a replaced row another value than the inserted one: the
// UpdatedAt columns take the time of the call, as Update stamps them (the
// port's Upsert replaces "as Update does"), while an inserted row keeps
// the value sent, as after Create; a zero field with a default takes its
// zero, as Update writes it, while an inserted row takes the default.
type UpsertSetter interface {
	// UpsertValue returns the value column col takes in the update
	// branch of the upsert of Upsert(pk, …): v, for the row with the
	// key; the column as it is for a row that merely shares a unique
	// value (see Upsert).
	UpsertValue(pk, col string, v any) clause.Expression
}

// UpsertOutcome is what an upsert did, as far as its result tells.
type UpsertOutcome int

// The outcomes of an upsert.
const (
	// UpsertUnknown: the result does not tell; the store reads the row
	// back (absent: a unique value of another row stopped the insert).
	UpsertUnknown UpsertOutcome = iota
	// UpsertInserted: a new row.
	UpsertInserted
	// UpsertReplaced: the row with the primary key was replaced.
	UpsertReplaced
)
