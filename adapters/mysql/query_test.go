package mysql

import (
	"database/sql"
	"errors"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/portkit/portkit/internal/gormstore"
	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/ports/portstest"
)

// dryDB returns a DB whose gorm builds statements without sending them
// (DryRun): enough to test what needs no server. Its pool points at a
// closed port and is never used. (The translation of queries is tested
// in internal/gormstore.)
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
	g, err := gorm.Open(dialector(pool, "10.11.0-MariaDB"), &gorm.Config{
		DryRun: true, DisableAutomaticPing: true, SkipDefaultTransaction: true,
		Logger: newSlogLogger(quietLog, 0, false),
	})
	if err != nil {
		t.Fatal(err)
	}
	core := gormstore.NewDB(gormstore.Config{Gorm: g, Primary: pool, Dialect: dialect{}})
	return &DB{core: core, gorm: g, primary: pool, log: quietLog, check: time.Second}
}

type (
	twoKeys struct {
		A int64 `gorm:"primaryKey"`
		B int64 `gorm:"primaryKey"`
	}
	softItem struct {
		ID      int64
		Name    string
		Deleted gorm.DeletedAt
	}
	hookItem struct {
		ID   int64
		Name string
	}
)

// AfterFind is a gorm hook; every read must run it.
func (h *hookItem) AfterFind(*gorm.DB) error { h.Name = "hooked " + h.Name; return nil }

func TestNewStoreRejects(t *testing.T) {
	db := dryDB(t)
	for name, f := range map[string]func() error{
		"nil DB":           func() error { _, err := NewStore[portstest.Item](nil); return err },
		"not a struct":     func() error { _, err := NewStore[int](db); return err },
		"composite key":    func() error { _, err := NewStore[twoKeys](db); return err },
		"table expression": func() error { _, err := NewStore[portstest.Item](db, WithTable("items; DROP TABLE x")); return err },
		"quoted table":     func() error { _, err := NewStore[portstest.Item](db, WithTable("it`ems")); return err },
		"zero batch":       func() error { _, err := NewStore[portstest.Item](db, WithBatchSize(0)); return err },
	} {
		if err := f(); !errors.Is(err, ports.ErrInvalid) {
			t.Errorf("NewStore with %s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := NewStore[portstest.Item](db, WithTable("test.items_1")); err != nil {
		t.Errorf("NewStore with a qualified table: %v", err)
	}
}
