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
func (d dialect) Redact(err error) error         { return redact(err, d.logParams) }

// Order renders a sort key as it is: MySQL sorts NULL first ascending and
// last descending, the port's order.
func (dialect) Order(col string, desc, _ bool) clause.OrderByColumn {
	return clause.OrderByColumn{Column: clause.Column{Name: col}, Desc: desc}
}

// UpsertVersion is "version = LAST_INSERT_ID(version + 1)" on the update
// branch of INSERT … ON DUPLICATE KEY UPDATE: the new version comes back
// as the statement's last insert id (the key is given, so no id is
// generated).
func (dialect) UpsertVersion(col string) clause.Expression {
	return clause.Expr{SQL: "LAST_INSERT_ID(? + 1)", Vars: []any{clause.Column{Name: col}}}
}

// UpsertResult reads INSERT … ON DUPLICATE KEY UPDATE's result: 1 row
// affected for an insert, 2 for a replace (with clientFoundRows, 1 also
// for a replace that changed nothing, which a versioned row never is).
func (dialect) UpsertResult(res sql.Result, versioned bool) (inserted bool, version int64, err error) {
	if res == nil {
		return false, 0, fmt.Errorf("upsert: no result")
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, 0, err
	}
	if n != 2 {
		return true, 1, nil
	}
	if !versioned {
		return false, 0, nil
	}
	v, err := res.LastInsertId()
	return false, v, err
}
