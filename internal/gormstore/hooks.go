package gormstore

import (
	"context"
	"database/sql"
	"reflect"
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
	// UpsertKept returns the RETURNING expression of column col, named
	// col, that yields the stored value of a replaced row and NULL for a
	// row the upsert inserted (PostgreSQL: CASE WHEN xmax = 0 THEN NULL
	// ELSE "col" END AS "col"): an inserted row keeps the CreatedAt the
	// entity was given or stamped with, as Create does.
	UpsertKept(col string) string
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
// Create returns them) or, with an UpsertSetter dialect, a gorm default.
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
	r, _ := s.db.dialect.(UpsertReturner)
	for _, f := range s.createdAt {
		if isTimeField(f) && r != nil && f.DBName != "" && f.Readable && !seen[f.DBName] {
			seen[f.DBName] = true
			cols = append(cols, clause.Column{Name: r.UpsertKept(f.DBName), Raw: true})
			continue
		}
		add(f)
	}
	if _, ok := s.db.dialect.(UpsertSetter); ok && r != nil {
		// A replaced row's UpdatedAt, stamped by the upsert (see
		// stampReplaced); NULL, left as sent, for an inserted row.
		for _, f := range s.updatedAt {
			if isTimeField(f) && f.DBName != "" && f.Readable && !seen[f.DBName] {
				seen[f.DBName] = true
				cols = append(cols, clause.Column{Name: r.UpsertKept(f.DBName), Raw: true})
			}
		}
	}
	for _, f := range s.gs.FieldsWithDefaultDBValue {
		add(f)
	}
	if _, ok := s.db.dialect.(UpsertSetter); ok {
		// The fields with a gorm default: an inserted row's default, a
		// replaced one's zero (see upsertAt).
		for _, f := range s.gs.Fields {
			if f.HasDefaultValue && f.DBName != "" && f.AutoCreateTime == 0 && f.AutoUpdateTime == 0 {
				add(f)
			}
		}
	}
	return &clause.Returning{Columns: cols}
}

// isTimeField reports whether f is a time.Time or a *time.Time.
func isTimeField(f *schema.Field) bool {
	return f.FieldType == reflect.TypeFor[time.Time]() || f.FieldType == reflect.TypeFor[*time.Time]()
}

// stampCreated sets the zero time CreatedAt fields of e to now, as gorm's
// Create would, and returns their values, for keptCreated.
func (s *Store[T]) stampCreated(ctx context.Context, e *T) []reflect.Value {
	v := reflect.ValueOf(e).Elem()
	var saved []reflect.Value
	for _, f := range s.createdAt {
		if !isTimeField(f) {
			saved = append(saved, reflect.Value{})
			continue
		}
		fv := f.ReflectValueOf(ctx, v)
		if fv.IsZero() || fv.Kind() == reflect.Pointer && fv.Elem().IsZero() {
			now := s.db.now()
			if fv.Kind() == reflect.Pointer {
				fv.Set(reflect.ValueOf(&now))
			} else {
				fv.Set(reflect.ValueOf(now))
			}
		}
		c := fv // the time itself, not a pointer gorm may scan through
		if fv.Kind() == reflect.Pointer {
			c = fv.Elem()
		}
		saved = append(saved, reflect.ValueOf(c.Interface()))
	}
	return saved
}

// keptCreated completes an upsert whose RETURNING came back into e: a
// time CreatedAt the RETURNING left NULL (an inserted row, see
// UpsertReturner.UpsertKept; gorm leaves the field as it was) keeps the
// value it was sent with, as after Create; one a replaced row kept,
// scanned in the driver's location (time.Local with pgx), is put in UTC,
// as the store's reads hand it out. Found by the differential checker:
// an inserted row's CreatedAt came back rounded to the column and in
// time.Local.
func (s *Store[T]) keptCreated(ctx context.Context, e *T, saved []reflect.Value) {
	v := reflect.ValueOf(e).Elem()
	for i, f := range s.createdAt {
		if !isTimeField(f) {
			continue
		}
		fv := f.ReflectValueOf(ctx, v)
		switch x := fv.Interface().(type) {
		case time.Time:
			if x != saved[i].Interface().(time.Time) {
				fv.Set(reflect.ValueOf(x.UTC()))
			}
		case *time.Time:
			if x != nil && *x != saved[i].Interface().(time.Time) {
				u := x.UTC()
				fv.Set(reflect.ValueOf(&u))
			}
		}
	}
}
