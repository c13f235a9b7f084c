package mysql

import (
	"database/sql"
	"fmt"

	"gorm.io/gorm/clause"

	"github.com/portkit/portkit/internal/errclass"
	"github.com/portkit/portkit/internal/gormstore"
	"github.com/portkit/portkit/internal/sqlrules"
)

// Collation is the collation of the tables Migrate creates (the port's
// documented MySQL collation, which the SQL fake emulates): case- and
// accent-insensitive, trailing spaces ignored.
const Collation = "utf8mb4_general_ci"

// tableOptions is appended to CREATE TABLE.
const tableOptions = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=" + Collation

// maxParams is MySQL's limit of placeholders per statement.
const maxParams = 65535

// dialect is the MySQL side of the shared store machinery
// (internal/gormstore): how queries, tables and upserts are written for
// MySQL and MariaDB. Queries themselves are translated by gormstore
// (ports.Query → gorm clauses, columns from gorm's schema, values as
// parameters).
type dialect struct {
	logParams bool
}

var _ gormstore.Dialect = dialect{}

func (dialect) Classifier() *errclass.Classifier { return &classifier }
func (dialect) Rules() sqlrules.Dialect          { return sqlrules.MySQL }
func (dialect) TableOptions() string             { return tableOptions }
func (dialect) MaxParams() int                   { return maxParams }
func (d dialect) Redact(err error) error         { return redactValues(err, d.logParams) }

// Order renders a sort key as it is: MySQL sorts NULL first ascending and
// last descending, the port's order.
func (dialect) Order(col string, desc, _ bool) clause.OrderByColumn {
	return clause.OrderByColumn{Column: clause.Column{Name: col}, Desc: desc}
}

// Upsert is INSERT … ON DUPLICATE KEY UPDATE, each column guarded by
// "the conflicting row has our key": MySQL takes the update branch on a
// conflict with any unique index, and a row that merely shares a unique
// value with the entity must stay as it is (the store then sees that no
// row has the key, and returns ErrConflict). The version becomes
// LAST_INSERT_ID(version + 1), so that it comes back as the statement's
// last insert id (the key is given, so none is generated).
func (dialect) Upsert(pk string, cols []string, version string) clause.OnConflict {
	key := clause.Column{Name: pk}
	ours := clause.Expr{SQL: "? <=> VALUES(?)", Vars: []any{key, key}}
	set := make([]clause.Assignment, 0, len(cols)+1)
	for _, c := range cols {
		col := clause.Column{Name: c}
		set = append(set, clause.Assignment{Column: col, Value: clause.Expr{SQL: "IF(?, VALUES(?), ?)", Vars: []any{ours, col, col}}})
	}
	if version != "" {
		col := clause.Column{Name: version}
		set = append(set, clause.Assignment{Column: col, Value: clause.Expr{SQL: "IF(?, LAST_INSERT_ID(? + 1), ?)", Vars: []any{ours, col, col}}})
	}
	if len(set) == 0 { // nothing to replace but the key
		set = append(set, clause.Assignment{Column: key, Value: key})
	}
	return clause.OnConflict{Columns: []clause.Column{key}, DoUpdates: set}
}

// UpsertValue is IF(the conflicting row has our key, at, col): a
// replaced row's UpdatedAt is the time of the call, as Update stamps it
// (gormstore.UpsertSetter).
func (dialect) UpsertValue(pk, col string, at any) clause.Expression {
	key, c := clause.Column{Name: pk}, clause.Column{Name: col}
	return clause.Expr{SQL: "IF(? <=> VALUES(?), ?, ?)", Vars: []any{key, key, at, c}}
}

// UpsertResult reads INSERT … ON DUPLICATE KEY UPDATE's result: 2 rows
// affected for a replaced row (with the version as the last insert id);
// 1 for an insert, a replaced row that did not change, or a conflict on
// another unique index that changed nothing (with clientFoundRows): the
// store reads those back.
func (dialect) UpsertResult(res sql.Result, versioned bool) (gormstore.UpsertOutcome, int64, error) {
	if res == nil {
		return 0, 0, fmt.Errorf("upsert: no result")
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, 0, err
	}
	if n != 2 {
		return gormstore.UpsertUnknown, 0, nil
	}
	if !versioned {
		return gormstore.UpsertReplaced, 0, nil
	}
	v, err := res.LastInsertId()
	return gormstore.UpsertReplaced, v, err
}
