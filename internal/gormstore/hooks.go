package gormstore

import (
	"context"
	"database/sql"
	"reflect"
	"slices"
	"time"

	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"
)

// UpsertReturner is implemented by a Dialect whose upsert statement can
// return the stored row (PostgreSQL's INSERT … ON CONFLICT … DO UPDATE …
// RETURNING). Upsert then takes the version, CreatedAt and the
// database's defaults of the entity from the returned row, in the same
// round trip, and does not call UpsertResult.
type UpsertReturner interface {
	// UpsertReturning reports whether the upsert returns the row.
	UpsertReturning() bool
}

// CommitChecker is implemented by a Dialect that must look at a
// transaction's connection before COMMIT. A non-nil error from
// CheckCommit rolls the transaction back, and WithinTx returns it
// (classified) instead of committing: PostgreSQL answers the COMMIT of a
// transaction that a failed statement aborted with ROLLBACK, and no
// error.
type CommitChecker interface {
	CheckCommit(conn *sql.Conn) error
}

// upsertReturning returns the RETURNING of an upsert that hands back the
// stored row: the primary key, the version, the CreatedAt fields (kept by
// a replaced row) and the fields with a database default (as gorm's
// Create returns them).
func (s *Store[T]) upsertReturning() *clause.Returning {
	seen := map[string]bool{}
	var cols []clause.Column
	add := func(f *schema.Field) {
		if f != nil && f.DBName != "" && f.Readable && !seen[f.DBName] {
			seen[f.DBName] = true
			cols = append(cols, clause.Column{Name: f.DBName})
		}
	}
	add(s.pk)
	add(s.version)
	for _, f := range s.createdAt {
		add(f)
	}
	for _, f := range s.gs.FieldsWithDefaultDBValue {
		add(f)
	}
	return &clause.Returning{Columns: cols}
}

// returnedUTC puts the times the upsert's RETURNING scanned into e (the
// driver's location, time.Local with pgx) in UTC, as the store's reads
// hand them out (found by the differential checker: an inserted row's
// CreatedAt came back in time.Local).
func (s *Store[T]) returnedUTC(ctx context.Context, e *T) {
	v := reflect.ValueOf(e).Elem()
	fields := append(slices.Clone(s.createdAt), s.gs.FieldsWithDefaultDBValue...)
	for _, f := range fields {
		if f == nil {
			continue
		}
		switch fv := f.ReflectValueOf(ctx, v); x := fv.Interface().(type) {
		case time.Time:
			if fv.CanSet() {
				fv.Set(reflect.ValueOf(x.UTC()))
			}
		case *time.Time:
			if x != nil {
				*x = x.UTC()
			}
		}
	}
}
