package gormstore

import (
	"context"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"
)

// Migrate creates the table of T when it does not exist, with the
// dialect's table options (character set and collation), or else only
// adds what the table lacks: missing columns and missing indexes. It
// never changes an existing column or index: when one differs from the
// model (type, size, precision, nullability, default, uniqueness; an
// index's columns or uniqueness), Migrate changes nothing and returns an
// ErrConflict naming every difference. A table may have more than the
// model (columns, indexes, stricter NOT NULL on a non-pointer field, a
// default the model does not declare, a unique index): that is kept.
//
// Migrate runs on the primary, outside any transaction of ctx (DDL
// commits a transaction on MySQL).
func (s *Store[T]) Migrate(ctx context.Context) error {
	op := s.op.migrate
	release, err := s.db.Enter(ctx, op)
	if err != nil {
		return err
	}
	defer release()
	tx := s.db.ddl.WithContext(ctx).Set("gorm:table_options", s.db.dialect.TableOptions()).Table(s.table)
	m := tx.Migrator()
	if !m.HasTable(new(T)) {
		if err := tx.Error; err != nil {
			return s.db.Wrap(ctx, op, err)
		}
		return s.db.Wrap(ctx, op, m.CreateTable(new(T)))
	}
	missingCols, missingIdx, diffs, err := s.plan(m)
	if err != nil {
		return s.db.Wrap(ctx, op, err)
	}
	if len(diffs) > 0 {
		return s.db.class.Conflict(op, &SchemaConflict{Table: s.table, Differences: diffs})
	}
	for _, f := range missingCols {
		if err := m.AddColumn(new(T), f.DBName); err != nil {
			return s.db.Wrap(ctx, op, err)
		}
	}
	for _, name := range missingIdx {
		if err := m.CreateIndex(new(T), name); err != nil {
			return s.db.Wrap(ctx, op, err)
		}
	}
	return nil
}

// SchemaConflict is the cause of the ErrConflict of Migrate: the existing
// table differs from the model, and nothing was changed.
type SchemaConflict struct {
	Table       string
	Differences []string // one per column or index, e.g. "column `name`: ..."
}

func (e *SchemaConflict) Error() string {
	return fmt.Sprintf("table %s differs from the model, and Migrate changes no existing column or index: %s",
		e.Table, strings.Join(e.Differences, "; "))
}

// plan compares the existing table with the model.
func (s *Store[T]) plan(m gorm.Migrator) (missingCols []*schema.Field, missingIdx []string, diffs []string, err error) {
	cts, err := m.ColumnTypes(new(T))
	if err != nil {
		return nil, nil, nil, err
	}
	byName := make(map[string]gorm.ColumnType, len(cts))
	for _, ct := range cts {
		byName[strings.ToLower(ct.Name())] = ct
	}
	for _, f := range s.gs.Fields {
		if f.DBName == "" || f.IgnoreMigration {
			continue
		}
		ct, ok := byName[strings.ToLower(f.DBName)]
		if !ok {
			missingCols = append(missingCols, f)
			continue
		}
		for _, d := range columnDiffs(m, s.db.ddl.Dialector, f, ct) {
			diffs = append(diffs, fmt.Sprintf("column `%s`: %s", f.DBName, d))
		}
	}
	existing, err := m.GetIndexes(new(T))
	if err != nil {
		return nil, nil, nil, err
	}
	for _, idx := range s.gs.ParseIndexes() {
		want := make([]string, 0, len(idx.Fields))
		for _, o := range idx.Fields {
			want = append(want, strings.ToLower(o.DBName))
		}
		wantUnique := idx.Class == "UNIQUE"
		var same, equivalent gorm.Index
		for _, ex := range existing {
			cols := make([]string, 0, len(ex.Columns()))
			for _, c := range ex.Columns() {
				cols = append(cols, strings.ToLower(c))
			}
			unique, _ := ex.Unique()
			if strings.EqualFold(ex.Name(), idx.Name) {
				same = ex
				if !slices.Equal(cols, want) || unique != wantUnique {
					diffs = append(diffs, fmt.Sprintf("index `%s`: the table has %s, the model wants %s",
						idx.Name, describeIndex(cols, unique), describeIndex(want, wantUnique)))
				}
			} else if slices.Equal(cols, want) && unique == wantUnique {
				equivalent = ex
			}
		}
		if same == nil && equivalent == nil {
			missingIdx = append(missingIdx, idx.Name)
		}
	}
	return missingCols, missingIdx, diffs, nil
}

func describeIndex(cols []string, unique bool) string {
	kind := "an index"
	if unique {
		kind = "a unique index"
	}
	return fmt.Sprintf("%s on (%s)", kind, strings.Join(cols, ", "))
}

var (
	parenNumbers = regexp.MustCompile(`\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)`)
	charTypes    = map[string]bool{"char": true, "varchar": true, "binary": true, "varbinary": true, "character varying": true, "character": true}
	timeTypes    = map[string]bool{"datetime": true, "timestamp": true, "time": true, "timestamptz": true, "timestamp with time zone": true, "timestamp without time zone": true}
)

// columnDiffs lists how the existing column ct differs from what the
// model's field f asks for, by the comparisons gorm's AutoMigrate makes
// before it alters a column (type, length, precision, nullability,
// default, uniqueness), each reported instead of applied. A property the
// model leaves open is no difference: no default in the model accepts
// the table's; a non-pointer field accepts NOT NULL.
func columnDiffs(m gorm.Migrator, d gorm.Dialector, f *schema.Field, ct gorm.ColumnType) []string {
	var out []string
	want := strings.ToLower(strings.TrimSpace(m.FullDataTypeOf(f).SQL))
	wantType := strings.ToLower(strings.TrimSpace(d.DataTypeOf(f)))
	real := strings.ToLower(ct.DatabaseTypeName())
	have, _ := ct.ColumnType()
	have = strings.ToLower(have)
	typeDiff := func() {
		out = append(out, fmt.Sprintf("the table has type %s, the model wants %s", have, wantType))
	}
	if !f.PrimaryKey {
		same := strings.HasPrefix(wantType, real)
		for _, alias := range m.GetTypeAliases(real) {
			same = same || strings.HasPrefix(wantType, alias)
		}
		if real == "tinyint" && strings.HasPrefix(wantType, "boolean") {
			same = strings.HasPrefix(have, "tinyint(1)")
		}
		if !same {
			typeDiff()
			return out // the rest follows from the type
		}
		if strings.Contains(have, "unsigned") != strings.Contains(wantType, "unsigned") && !strings.HasPrefix(wantType, "boolean") {
			typeDiff()
			return out
		}
	}
	wantNums := parenNumbers.FindStringSubmatch(wantType)
	switch {
	case charTypes[real]:
		if length, ok := ct.Length(); ok && wantNums != nil && wantNums[1] != strconv.FormatInt(length, 10) {
			typeDiff()
		}
	case real == "decimal" || real == "numeric":
		if p, sc, ok := ct.DecimalSize(); ok && wantNums != nil {
			ws := wantNums[2]
			if ws == "" {
				ws = "0"
			}
			if wantNums[1] != strconv.FormatInt(p, 10) || ws != strconv.FormatInt(sc, 10) {
				typeDiff()
			}
		}
	case timeTypes[real]:
		if p, _, ok := ct.DecimalSize(); ok && wantNums != nil && wantNums[1] != strconv.FormatInt(p, 10) {
			typeDiff()
		}
	}
	if nullable, ok := ct.Nullable(); ok && !f.PrimaryKey {
		switch {
		case nullable && (f.NotNull || strings.Contains(want, "not null")):
			out = append(out, "the table allows NULL, the model wants NOT NULL")
		case !nullable && f.FieldType.Kind() == reflect.Pointer && !f.NotNull:
			out = append(out, "the table has NOT NULL, the model's pointer field can be nil")
		}
	}
	if !f.PrimaryKey && f.HasDefaultValue && f.DefaultValue != "" && !strings.EqualFold(f.DefaultValue, "null") {
		dv, ok := ct.DefaultValue()
		if !ok {
			out = append(out, fmt.Sprintf("the table has no default, the model wants %s", f.DefaultValue))
		} else if !sameDefault(f, dv) {
			out = append(out, fmt.Sprintf("the table's default is %s, the model wants %s", dv, f.DefaultValue))
		}
	}
	if unique, ok := ct.Unique(); ok && f.Unique && !unique && !f.PrimaryKey {
		out = append(out, "the model wants a UNIQUE column, the table's is not")
	}
	return out
}

// sameDefault compares a stored default with the model's, as gorm does.
func sameDefault(f *schema.Field, dv string) bool {
	want := f.DefaultValue
	switch f.GORMDataType {
	case schema.Time:
		return strings.EqualFold(strings.TrimSuffix(dv, "()"), strings.TrimSuffix(want, "()"))
	case schema.Bool:
		a, err1 := strconv.ParseBool(dv)
		b, err2 := strconv.ParseBool(want)
		return err1 == nil && err2 == nil && a == b || dv == want
	case schema.String:
		return dv == want || dv == strings.Trim(want, "'\"")
	case schema.Int, schema.Uint, schema.Float:
		a, err1 := strconv.ParseFloat(dv, 64)
		b, err2 := strconv.ParseFloat(want, 64)
		return dv == want || (err1 == nil && err2 == nil && a == b)
	}
	return dv == want
}
