package gormstore

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"

	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/internal/sqlrules"
	"github.com/portkit/portkit/ports"
)

var (
	errNoVersion = errors.New("the model has no ports.Version field")
	errZeroKey   = errors.New("Upsert needs the entity's primary key")
	// errUpsertUnique: the INSERT of an upsert met a unique value of
	// another row, which it leaves as it is.
	errUpsertUnique = errors.New("another row holds a unique value of the entity")
)

// Patch applies p to the row with primary key id in one UPDATE: each Set
// assigns its value, each Inc adds to the stored value (a NULL counting
// as 0), UpdatedAt is set and the version incremented. It returns
// ErrNotFound when no row has that key (from the matched-row count) and,
// with p.IfVersion, ErrConflict when the stored version differs.
func (s *Store[T]) Patch(ctx context.Context, id any, p ports.Patch) error {
	ctx, sp := s.in.Start(ctx, obs.OpPatch)
	err := s.doPatch(ctx, id, p)
	sp.End(err)
	return err
}

func (s *Store[T]) doPatch(ctx context.Context, id any, p ports.Patch) error {
	op := s.op.patch
	release, err := s.db.Enter(ctx, op)
	if err != nil {
		return err
	}
	defer release()
	if err := s.checkID(op, id); err != nil {
		return err
	}
	if err := s.ps.ValidatePatch(p, s.pkPath); err != nil {
		return s.db.Invalid(op, err)
	}
	set := make(map[string]any, len(p.Changes())+len(s.updatedAt)+1)
	for _, c := range p.Changes() {
		ci, err := s.cols.column(c.Field)
		if err != nil {
			return s.db.Invalid(op, err)
		}
		if !ci.field.Updatable {
			return s.db.Invalid(op, fmt.Errorf("field %s is not updatable (gorm permissions)", c.Field))
		}
		check := sqlrules.CheckValue
		if c.Op == ports.OpInc {
			check = sqlrules.CheckDelta
		}
		if err := check(ci.field, c.Value, s.db.dialect.Rules()); err != nil {
			return s.db.Invalid(op, err)
		}
		col := clause.Column{Name: ci.name}
		switch c.Op {
		case ports.OpInc:
			set[ci.name] = clause.Expr{SQL: "COALESCE(?, 0) + ?", Vars: []any{col, c.Value}}
		default:
			v := c.Value
			if isNilPointer(v) {
				v = nil
			}
			set[ci.name] = v
		}
	}
	now := s.db.now()
	for _, f := range s.updatedAt {
		if _, named := set[f.DBName]; !named {
			set[f.DBName] = autoTime(f, now)
		}
	}
	where := []clause.Expression{s.pkEq(id)}
	if s.version != nil {
		col := clause.Column{Name: s.version.DBName}
		set[s.version.DBName] = clause.Expr{SQL: "? + 1", Vars: []any{col}}
		if v, ok := p.Precondition(); ok {
			where = append(where, clause.Eq{Column: col, Value: int64(v)})
		}
	}
	res := s.conn(ctx).Model(new(T)).Clauses(clause.Where{Exprs: where}).UpdateColumns(set)
	if res.Error != nil {
		return s.db.Wrap(ctx, op, res.Error)
	}
	if res.RowsAffected == 0 {
		if _, ok := p.Precondition(); ok {
			return s.absentOrStale(ctx, op, id)
		}
		return s.db.class.NotFound(op, nil)
	}
	return nil
}

// autoTime is the value gorm gives an autoUpdateTime field at now.
func autoTime(f *schema.Field, now interface {
	UnixNano() int64
	UnixMilli() int64
	Unix() int64
}) any {
	switch f.AutoUpdateTime {
	case schema.UnixNanosecond:
		return now.UnixNano()
	case schema.UnixMillisecond:
		return now.UnixMilli()
	case schema.UnixSecond:
		if f.DataType == schema.Time {
			return now
		}
		return now.Unix()
	}
	return now
}

// Upsert inserts e or, when a row has e's primary key, replaces it as
// Update does (CreatedAt kept), in one INSERT … ON DUPLICATE KEY UPDATE
// (the dialect's upsert). With a non-zero version it is Update (the
// stored version must be e's; ErrNotFound when absent). e's primary key
// must be set. On success e holds what the store set: the version (1 for
// an insert), UpdatedAt and, for a replaced row, the stored CreatedAt.
func (s *Store[T]) Upsert(ctx context.Context, e *T) error {
	ctx, sp := s.in.Start(ctx, obs.OpUpsert)
	err := s.doUpsert(ctx, e)
	sp.End(err)
	return err
}

func (s *Store[T]) doUpsert(ctx context.Context, e *T) error {
	op := s.op.upsert
	release, err := s.db.Enter(ctx, op)
	if err != nil {
		return err
	}
	defer release()
	if e == nil {
		return s.db.Invalid(op, errNilEntity)
	}
	rv := reflect.ValueOf(e).Elem()
	id, zero := s.pk.ValueOf(ctx, rv)
	if zero {
		return s.db.Invalid(op, errZeroKey)
	}
	if s.versionOf(ctx, e) != 0 {
		return s.update(ctx, op, e)
	}
	if err := s.checkEntity(op, e, true); err != nil {
		return err
	}
	old := *e
	s.setVersion(ctx, e, 1)
	res := gorm.WithResult()
	now := s.db.now()
	up, zeroDefaults := s.upsertAt(ctx, e, now)
	tx := s.conn(ctx).Clauses(up, res)
	var saved, sentUpdated []reflect.Value
	if s.returning != nil {
		tx = tx.Clauses(*s.returning)
		saved = s.stampCreated(ctx, e)
		sentUpdated = s.stampedValues(ctx, e)
	}
	if err := tx.Create(e).Error; err != nil {
		*e = old
		return s.db.Wrap(ctx, op, err)
	}
	if s.returning != nil {
		s.keptCreated(ctx, e, saved)
		s.stampReplaced(ctx, e, sentUpdated, now)
		return nil // the row came back: e holds what was stored
	}
	outcome, version, err := s.db.dialect.UpsertResult(res.Result, s.version != nil)
	if err != nil {
		return s.db.Wrap(ctx, op, err)
	}
	if outcome == UpsertReplaced {
		s.stampReplaced(ctx, e, nil, now)
		// The replaced row took e's zeros, not gorm's defaults.
		src, dst := reflect.ValueOf(&old).Elem(), reflect.ValueOf(e).Elem()
		for _, f := range zeroDefaults {
			f.ReflectValueOf(ctx, dst).Set(f.ReflectValueOf(ctx, src))
		}
	}
	var back []*schema.Field
	switch {
	case outcome == UpsertUnknown:
		back = append(back, s.pk)
		if s.version != nil {
			back = append(back, s.version)
		}
	case outcome == UpsertReplaced && s.version != nil && version == 0:
		back = append(back, s.version)
	case outcome == UpsertReplaced && s.version != nil:
		s.setVersion(ctx, e, version)
	}
	if outcome != UpsertInserted {
		// A replaced row kept its CreatedAt: hand it back.
		back = append(back, s.createdAt...)
	}
	if outcome == UpsertUnknown {
		// The default of an inserted row, the zero of a replaced one.
		back = append(back, zeroDefaults...)
	}
	if len(back) == 0 {
		return nil
	}
	var sent []reflect.Value
	if outcome == UpsertUnknown {
		sent = s.createdValues(ctx, e)
	}
	found, err := s.readBack(ctx, op, id, e, back)
	switch {
	case err != nil:
		return err
	case !found && outcome == UpsertUnknown:
		*e = old
		return s.db.class.Conflict(op, errUpsertUnique)
	}
	if outcome == UpsertUnknown {
		s.keepSentCreated(ctx, e, sent)
	}
	return nil
}

// createdValues returns the values of the time CreatedAt fields of e (the
// invalid Value for the others and for a nil pointer).
func (s *Store[T]) createdValues(ctx context.Context, e *T) []reflect.Value {
	return timeValues(ctx, reflect.ValueOf(e).Elem(), s.createdAt)
}

// keepSentCreated completes an upsert whose outcome is unknown (MySQL's 1
// row affected: an insert, or a replaced row that did not change) once
// its CreatedAt fields were read back: a stored time that is the one sent,
// as the column stores it (UTC, truncated to datetime(3)'s milliseconds),
// is the inserted row's, and e keeps the value it was sent with, as after
// Create and as adapters/postgres hands it back; another one was kept by a
// replaced row and stays. Found by the differential checker: an inserted
// row's CreatedAt came back in UTC and truncated.
func (s *Store[T]) keepSentCreated(ctx context.Context, e *T, sent []reflect.Value) {
	v := reflect.ValueOf(e).Elem()
	for i, f := range s.createdAt {
		if !sent[i].IsValid() {
			continue
		}
		was := sent[i].Interface().(time.Time)
		fv := f.ReflectValueOf(ctx, v)
		switch x := fv.Interface().(type) {
		case time.Time:
			if x.Equal(was.Truncate(time.Millisecond)) {
				fv.Set(reflect.ValueOf(was))
			}
		case *time.Time:
			if x != nil && x.Equal(was.Truncate(time.Millisecond)) {
				fv.Set(reflect.ValueOf(&was))
			}
		}
	}
}

// readBack sets fields of e from the stored row with primary key id, and
// reports whether there is one.
func (s *Store[T]) readBack(ctx context.Context, op string, id any, e *T, fields []*schema.Field) (bool, error) {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.DBName
	}
	rows, err := s.conn(ctx).Model(new(T)).Select(names).Clauses(clause.Where{Exprs: []clause.Expression{s.pkEq(id)}}).Rows()
	if err != nil {
		return false, s.db.Wrap(ctx, op, err)
	}
	defer rows.Close()
	if !rows.Next() {
		return false, s.db.Wrap(ctx, op, rows.Err())
	}
	plan := newRowPlan(s.gs.ModelType, fields)
	tmp := new(T)
	if err := plan.newScanner().scan(ctx, rows, reflectPointer(tmp)); err != nil {
		return false, s.db.Wrap(ctx, op, err)
	}
	src, dst := reflect.ValueOf(tmp).Elem(), reflect.ValueOf(e).Elem()
	for _, f := range fields {
		f.ReflectValueOf(ctx, dst).Set(f.ReflectValueOf(ctx, src))
	}
	return true, s.db.Wrap(ctx, op, rows.Close())
}

// DeleteIfVersion removes the row with primary key id if its stored
// version is v: ErrConflict when it is another, ErrNotFound when there is
// none, ErrInvalid when T has no Version field.
func (s *Store[T]) DeleteIfVersion(ctx context.Context, id any, v ports.Version) error {
	ctx, sp := s.in.Start(ctx, obs.OpDeleteIfVersion)
	err := s.doDeleteIfVersion(ctx, id, v)
	sp.End(err)
	return err
}

func (s *Store[T]) doDeleteIfVersion(ctx context.Context, id any, v ports.Version) error {
	op := s.op.deleteIf
	release, err := s.db.Enter(ctx, op)
	if err != nil {
		return err
	}
	defer release()
	if s.version == nil {
		return s.db.Invalid(op, errNoVersion)
	}
	if err := s.checkID(op, id); err != nil {
		return err
	}
	where := []clause.Expression{s.pkEq(id), clause.Eq{Column: clause.Column{Name: s.version.DBName}, Value: int64(v)}}
	res := s.conn(ctx).Clauses(clause.Where{Exprs: where}).Delete(new(T))
	if res.Error != nil {
		return s.db.Wrap(ctx, op, res.Error)
	}
	if res.RowsAffected == 0 {
		return s.absentOrStale(ctx, op, id)
	}
	return nil
}

// DeleteWhere removes every row matching q's conditions (at least one;
// q's order, limit and offset unset) in one DELETE and returns how many
// it removed (soft-deleted, for a model with gorm.DeletedAt).
func (s *Store[T]) DeleteWhere(ctx context.Context, q ports.Query) (int64, error) {
	ctx, sp := s.in.Start(ctx, obs.OpDeleteWhere)
	v, err := s.doDeleteWhere(ctx, q)
	sp.End(err)
	return v, err
}

func (s *Store[T]) doDeleteWhere(ctx context.Context, q ports.Query) (int64, error) {
	op := s.op.deleteWhere
	release, err := s.db.Enter(ctx, op)
	if err != nil {
		return 0, err
	}
	defer release()
	if err := s.ps.ValidateDeleteWhere(q); err != nil {
		return 0, s.db.Invalid(op, err)
	}
	where, err := s.cols.where(q.Conditions())
	if err != nil {
		return 0, s.db.Invalid(op, err)
	}
	res := s.conn(ctx).Clauses(clause.Where{Exprs: where}).Delete(new(T))
	if res.Error != nil {
		return 0, s.db.Wrap(ctx, op, res.Error)
	}
	return res.RowsAffected, nil
}

// upsertAt returns the upsert's conflict clause for a call at now with e
// (before gorm's Create fills in defaults), and the fields with a default
// that are zero in e. With an UpsertSetter dialect, a replaced row's
// UpdatedAt time columns take now, as Update stamps them, and those zero
// fields their zero, as Update writes them: gorm's Create sends the
// default instead (a default 0 made a -0 float 0; found by the
// differential checker, seed 20261254).
func (s *Store[T]) upsertAt(ctx context.Context, e *T, now time.Time) (clause.OnConflict, []*schema.Field) {
	st, ok := s.db.dialect.(UpsertSetter)
	if !ok {
		return s.upsert, nil
	}
	v := reflect.ValueOf(e).Elem()
	up := s.upsert
	up.DoUpdates = append(clause.Set(nil), s.upsert.DoUpdates...)
	var zeros []*schema.Field
	for i, a := range up.DoUpdates {
		for _, f := range s.updatedAt {
			if isTimeField(f) && a.Column.Name == f.DBName {
				up.DoUpdates[i].Value = st.UpsertValue(s.pk.DBName, f.DBName, now)
			}
		}
		for _, f := range s.gs.Fields {
			if !f.HasDefaultValue || f.DBName != a.Column.Name || f.AutoUpdateTime > 0 || f == s.version {
				continue
			}
			if x, zero := f.ValueOf(ctx, v); zero {
				up.DoUpdates[i].Value = st.UpsertValue(s.pk.DBName, f.DBName, x)
				zeros = append(zeros, f)
			}
		}
	}
	return up, zeros
}

// stampedValues returns the values of the time UpdatedAt fields of e (the
// invalid Value for the others and for a nil pointer), as sent.
func (s *Store[T]) stampedValues(ctx context.Context, e *T) []reflect.Value {
	return timeValues(ctx, reflect.ValueOf(e).Elem(), s.updatedAt)
}

// stampReplaced sets the time UpdatedAt fields of e to now, the time an
// UpsertSetter dialect stamped a replaced row with: always when sent is
// nil (the result told a replaced row), else those the RETURNING changed
// from the values sent (see UpsertSetter and UpsertKept: NULL, left as
// sent, for an inserted row).
func (s *Store[T]) stampReplaced(ctx context.Context, e *T, sent []reflect.Value, now time.Time) {
	if _, ok := s.db.dialect.(UpsertSetter); !ok {
		return
	}
	v := reflect.ValueOf(e).Elem()
	for i, f := range s.updatedAt {
		if !isTimeField(f) {
			continue
		}
		fv := f.ReflectValueOf(ctx, v)
		if sent != nil {
			cur := timeValues(ctx, v, s.updatedAt[i:i+1])[0]
			switch {
			case !cur.IsValid() && sent[i].IsValid() && fv.Kind() == reflect.Pointer:
				at := sent[i].Interface().(time.Time) // a NULL scanned as nil
				fv.Set(reflect.ValueOf(&at))
				continue
			case !cur.IsValid() || cur.Interface().(time.Time) == sent[i].Interface().(time.Time):
				continue
			}
		}
		if fv.Kind() == reflect.Pointer {
			at := now
			fv.Set(reflect.ValueOf(&at))
		} else {
			fv.Set(reflect.ValueOf(now))
		}
	}
}

// timeValues returns the values of the time fields fs of v (the invalid
// Value for the other fields and for a nil pointer).
func timeValues(ctx context.Context, v reflect.Value, fs []*schema.Field) []reflect.Value {
	out := make([]reflect.Value, len(fs))
	for i, f := range fs {
		if !isTimeField(f) {
			continue
		}
		fv := f.ReflectValueOf(ctx, v)
		if fv.Kind() == reflect.Pointer {
			if fv.IsNil() {
				continue
			}
			fv = fv.Elem()
		}
		out[i] = reflect.ValueOf(fv.Interface())
	}
	return out
}
