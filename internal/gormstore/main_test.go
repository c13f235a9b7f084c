package gormstore

import (
	"database/sql"
	"errors"
	"testing"

	mysqldrv "github.com/go-sql-driver/mysql"
	gmysql "gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"

	"github.com/portkit/portkit/internal/errclass"
	"github.com/portkit/portkit/internal/sqlrules"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testDialect is a MySQL-like dialect for the tests of this package,
// which need no server (adapters/mysql tests the real one).
type testDialect struct{}

var testClassifier = errclass.Classifier{
	Backend: "test",
	ServerReply: func(err error) bool {
		var me *mysqldrv.MySQLError
		return errors.As(err, &me)
	},
}

func (testDialect) Classifier() *errclass.Classifier { return &testClassifier }
func (testDialect) Rules() sqlrules.Dialect          { return sqlrules.MySQL }
func (testDialect) Redact(err error) error           { return err }
func (testDialect) TableOptions() string             { return "" }
func (testDialect) MaxParams() int                   { return 65535 }
func (testDialect) Order(col string, desc, _ bool) clause.OrderByColumn {
	return clause.OrderByColumn{Column: clause.Column{Name: col}, Desc: desc}
}
func (testDialect) Upsert(pk string, cols []string, version string) clause.OnConflict {
	return clause.OnConflict{Columns: []clause.Column{{Name: pk}}, DoUpdates: clause.AssignmentColumns(cols)}
}
func (testDialect) UpsertResult(sql.Result, bool) (UpsertOutcome, int64, error) {
	return UpsertUnknown, 0, nil
}

// dryDB returns a DB whose gorm builds statements without sending them
// (DryRun): enough to test translation with no server. Its pool points at
// a closed port and is never used.
func dryDB(t testing.TB) *DB {
	t.Helper()
	dc := mysqldrv.NewConfig()
	dc.Net, dc.Addr = "tcp", "127.0.0.1:1"
	conn, err := mysqldrv.NewConnector(dc)
	if err != nil {
		t.Fatal(err)
	}
	pool := sql.OpenDB(conn)
	t.Cleanup(func() { _ = pool.Close() })
	g, err := gorm.Open(gmysql.New(gmysql.Config{Conn: pool, SkipInitializeWithVersion: true, ServerVersion: "10.11.0-MariaDB"}), &gorm.Config{
		DryRun: true, DisableAutomaticPing: true, SkipDefaultTransaction: true,
		Logger: logger.Discard,
	})
	if err != nil {
		t.Fatal(err)
	}
	return NewDB(Config{Gorm: g, Primary: pool, Dialect: testDialect{}})
}
