package difftest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/portkit/portkit/adapters/mysql"
	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/ports/portstest"
)

// Row is a model with every kind of column the port supports: sized and
// unique strings, numbers of several widths, pointers to each, times, a
// version, gorm's stamped times.
type Row struct {
	ID        int64  `gorm:"primaryKey"`
	Code      string `gorm:"size:16;uniqueIndex"`
	Name      string `gorm:"size:16"`
	Qty       int
	Price     float64
	Active    bool
	Small     int8
	U64       uint64
	PInt      *int
	PBool     *bool
	PFloat    *float64
	Note      *string `gorm:"size:16"`
	At        time.Time
	PAt       *time.Time
	Ver       ports.Version
	CreatedAt time.Time
	UpdatedAt time.Time
}

// sqlAllow lists the divergences of the SQL fake that are documented and
// flagged (none yet: every divergence is a bug of the fake or the
// adapter).
var sqlAllow []portstest.Allowance

func TestDiffSQL(t *testing.T) {
	dsn := testenv.Env(t, "mysql", "MYSQL_DSN")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	db, err := mysql.Open(ctx, mysql.Config{DSN: dsn})
	if err != nil {
		testenv.Missing(t, "mysql", err.Error())
	}
	defer func() { _ = db.Close(context.Background()) }()
	t.Run("Item", func(t *testing.T) {
		o := options(sqlOps)
		o.Allow = sqlAllow
		portstest.DiffSQLStore(t, fakeSQL[portstest.Item], realSQL[portstest.Item](db, "pk_pt_items"), o)
	})
	t.Run("Row", func(t *testing.T) {
		o := options(sqlOps)
		o.Allow = sqlAllow
		portstest.DiffSQLStore(t, fakeSQL[Row], realSQL[Row](db, "pk_pt_rows"), o)
	})
}

func fakeSQL[T any]() (portstest.SQLSubject[T], error) {
	db := fakes.NewDB()
	s, err := fakes.NewSQLStore[T](db)
	if err != nil {
		return portstest.SQLSubject[T]{}, err
	}
	return portstest.SQLSubject[T]{Store: s, Tx: db, Close: func() { _ = db.Close(context.Background()) }}, nil
}

// realSQL returns the constructor of a MySQL subject on a table of its
// own, emptied by TRUNCATE between sequences and dropped at the end.
func realSQL[T any](db *mysql.DB, prefix string) func() (portstest.SQLSubject[T], error) {
	return func() (portstest.SQLSubject[T], error) {
		table := testenv.UniqueName(prefix)
		s, err := mysql.NewStore[T](db, mysql.WithTable(table))
		if err != nil {
			return portstest.SQLSubject[T]{}, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.Migrate(ctx); err != nil {
			return portstest.SQLSubject[T]{}, err
		}
		return portstest.SQLSubject[T]{
			Store: s, Tx: db,
			Reset: func(ctx context.Context) error {
				return db.DB().WithContext(ctx).Exec(fmt.Sprintf("TRUNCATE TABLE `%s`", table)).Error
			},
			Close: func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				_ = db.DB().WithContext(ctx).Migrator().DropTable(table)
			},
		}, nil
	}
}
