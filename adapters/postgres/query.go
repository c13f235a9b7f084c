package postgres

import (
	"context"
	"database/sql"
	"errors"
	"regexp"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	gpostgres "gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/migrator"
	"gorm.io/gorm/schema"

	"github.com/portkit/portkit/internal/errclass"
	"github.com/portkit/portkit/internal/gormstore"
	"github.com/portkit/portkit/internal/sqlrules"
)

// Collation is the collation of the text columns Migrate creates (the
// port's documented PostgreSQL collation, which the SQL fake emulates
// with fakes.WithDialect(fakes.Postgres)): bytewise, case- and
// accent-sensitive, trailing spaces significant, whatever the
// database's default collation.
const Collation = "C"

// maxParams is the most parameters of one statement in PostgreSQL's
// extended protocol.
const maxParams = 65535

// dialect is the PostgreSQL side of the shared store machinery
// (internal/gormstore): how sort keys, upserts and commits are written
// for PostgreSQL. Queries themselves are translated by gormstore
// (ports.Query → gorm clauses, columns from gorm's schema, values as
// parameters).
type dialect struct {
	logParams bool
	// params holds QueryKeys's encoded parameters (*paramBuf); nil when
	// the DB's connections run another exec mode than pgx's default,
	// and QueryKeys goes through pgx's Conn.Query.
	params *sync.Pool
}

// newDialect returns the dialect of a DB whose connections run mode.
func newDialect(logParams bool, mode pgx.QueryExecMode) dialect {
	d := dialect{logParams: logParams}
	if mode == pgx.QueryExecModeCacheStatement {
		d.params = newParamPool()
	}
	return d
}

var (
	_ gormstore.Dialect        = dialect{}
	_ gormstore.UpsertReturner = dialect{}
	_ gormstore.CommitChecker  = dialect{}
	_ gormstore.DriverQuerier  = dialect{}
)

func (dialect) Classifier() *errclass.Classifier { return &classifier }
func (dialect) Rules() sqlrules.Dialect          { return sqlrules.Postgres }
func (dialect) MaxParams() int                   { return maxParams }
func (d dialect) Redact(err error) error         { return redactValues(err, d.logParams) }

// TableOptions is empty: PostgreSQL sets collations per column (see
// ddlDialector), not per table.
func (dialect) TableOptions() string { return "" }

// Order renders a sort key with the port's NULL order: PostgreSQL sorts
// NULL last ascending and first descending, so a nullable column gets
// NULLS FIRST ascending and NULLS LAST descending (a NOT NULL column is
// left as it is, so that a plain index serves the sort).
func (dialect) Order(col string, desc, nullable bool) clause.OrderByColumn {
	if !nullable {
		return clause.OrderByColumn{Column: clause.Column{Name: col}, Desc: desc}
	}
	q := quoteIdent(col)
	if desc {
		return clause.OrderByColumn{Column: clause.Column{Name: q + " DESC NULLS LAST", Raw: true}}
	}
	return clause.OrderByColumn{Column: clause.Column{Name: q + " NULLS FIRST", Raw: true}}
}

// quoteIdent quotes a column name as gorm's PostgreSQL dialect does.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// Upsert is INSERT … ON CONFLICT (pk) DO UPDATE SET col = EXCLUDED.col,
// the version becoming the stored version + 1. Only a conflict on the
// primary key takes the update branch: a unique value of another row is
// the server's unique_violation (ErrConflict), and changes nothing.
func (dialect) Upsert(pk string, cols []string, version string) clause.OnConflict {
	key := clause.Column{Name: pk}
	set := make([]clause.Assignment, 0, len(cols)+1)
	for _, c := range cols {
		set = append(set, clause.Assignment{Column: clause.Column{Name: c}, Value: clause.Column{Table: "excluded", Name: c}})
	}
	if version != "" {
		set = append(set, clause.Assignment{
			Column: clause.Column{Name: version},
			Value:  clause.Expr{SQL: "? + 1", Vars: []any{clause.Column{Table: clause.CurrentTable, Name: version}}},
		})
	}
	if len(set) == 0 { // nothing to replace but the key
		set = append(set, clause.Assignment{Column: key, Value: clause.Column{Table: "excluded", Name: pk}})
	}
	return clause.OnConflict{Columns: []clause.Column{key}, DoUpdates: set}
}

// UpsertValue is at: a replaced row's UpdatedAt is the time of the
// call, as Update stamps it (gormstore.UpsertSetter; ON CONFLICT on the
// primary key only touches the row with the key).
func (dialect) UpsertValue(_, _ string, at any) clause.Expression {
	return clause.Expr{SQL: "?", Vars: []any{at}}
}

// UpsertReturning is true: the upsert's RETURNING hands back the stored
// version and CreatedAt in the same round trip.
func (dialect) UpsertReturning() bool { return true }

// UpsertKept returns col as a replaced row kept it, NULL for an inserted
// row (xmax is 0 on a row the INSERT … ON CONFLICT inserted).
func (dialect) UpsertKept(col string) string {
	return "CASE WHEN xmax = 0 THEN NULL ELSE " + quoteIdent(col) + " END AS " + quoteIdent(col)
}

// UpsertResult is not called (UpsertReturning); were it, the result
// would not tell an insert from a replaced row.
func (dialect) UpsertResult(sql.Result, bool) (gormstore.UpsertOutcome, int64, error) {
	return gormstore.UpsertUnknown, 0, nil
}

// errAbortedTx is the cause of WithinTx's error when fn returned nil
// from a transaction that a failed statement had aborted.
var errAbortedTx = errors.New("a statement of the transaction failed, so PostgreSQL aborted it: nothing was committed " +
	"(return the statement's error from fn, or run the statement in a nested WithinTx, whose savepoint it rolls back)")

// CheckCommit refuses to COMMIT a transaction that a failed statement
// aborted (pgx's transaction status 'E'): PostgreSQL would answer
// ROLLBACK, without an error, and the caller would believe its writes
// committed.
func (dialect) CheckCommit(conn *sql.Conn) error {
	var status byte
	if err := conn.Raw(func(dc any) error {
		if c, ok := dc.(*stdlib.Conn); ok {
			status = c.Conn().PgConn().TxStatus()
		}
		return nil
	}); err != nil {
		return err
	}
	if status == 'E' {
		return errAbortedTx
	}
	return nil
}

// ddlDialector is gorm's PostgreSQL dialector for Migrate: text columns
// are created with COLLATE "C" (the port's collation), floats as binary
// floats, and the
// migrator's statements run without pgx's statement cache, since the
// schema they read changes under them (a cached "SELECT * … LIMIT 1"
// fails once a column is added).
type ddlDialector struct {
	gpostgres.Dialector
}

// textType matches the column types that take a collation.
var textType = regexp.MustCompile(`(?i)^\s*(text|varchar|character varying|char|character|bpchar)\b`)

// DataTypeOf is gorm's type, with COLLATE "C" for a text column, a
// binary float for a float field without a precision (gorm's dialect
// makes it an unbounded numeric, which would store -0.0 as 0 and
// compare slower): double precision for a float64, real for a float32,
// and CHECK (col >= 0) for an unsigned integer.
func (d ddlDialector) DataTypeOf(f *schema.Field) string {
	if f.DataType == schema.Float && f.Precision == 0 {
		if f.Size == 32 {
			return "real"
		}
		return "double precision"
	}
	t := d.Dialector.DataTypeOf(f)
	if textType.MatchString(t) && !strings.Contains(strings.ToUpper(t), "COLLATE") {
		t += ` COLLATE "` + Collation + `"`
	}
	if f.DataType == schema.Uint && !f.PrimaryKey && !f.AutoIncrement && f.DBName != "" {
		// PostgreSQL has no unsigned integers: the column refuses what
		// an unsigned field cannot hold (an Inc below zero, which would
		// store a row no read could scan), SQLSTATE 23514, ErrInvalid,
		// as MySQL's unsigned column does (found by the differential
		// checker).
		t += " CHECK (" + quoteIdent(f.DBName) + " >= 0)"
	}
	return t
}

// Migrator is gorm's PostgreSQL migrator over this dialector.
func (d ddlDialector) Migrator(db *gorm.DB) gorm.Migrator {
	return gpostgres.Migrator{Migrator: migrator.Migrator{Config: migrator.Config{
		DB: db, Dialector: d, CreateIndexAfterCreateTable: true,
	}}}
}

// uncachedPool runs every statement in pgx's "exec" mode: a statement
// prepared and described for this call only, never cached.
type uncachedPool struct{ db *sql.DB }

var _ gorm.ConnPool = uncachedPool{}

func uncached(args []any) []any {
	return append([]any{pgx.QueryExecModeExec}, args...)
}

func (p uncachedPool) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return p.db.PrepareContext(ctx, query)
}

func (p uncachedPool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return p.db.ExecContext(ctx, query, uncached(args)...)
}

func (p uncachedPool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return p.db.QueryContext(ctx, query, uncached(args)...)
}

func (p uncachedPool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return p.db.QueryRowContext(ctx, query, uncached(args)...)
}
