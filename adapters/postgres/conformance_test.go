package postgres

import (
	"testing"

	"github.com/portkit/portkit/ports"

	"github.com/portkit/portkit/ports/portstest"
)

func TestConformanceSQLStore(t *testing.T) {
	testURL(t)
	portstest.TestSQLStore(t, func(t *testing.T) portstest.SQLSetup {
		db := openTest(t, Config{})
		s := newItemStore(t, db)
		return portstest.SQLSetup{
			Store:     s,
			Tx:        db,
			Connector: db,
			Caps:      portstest.SQLCaps{Transactions: true, UniqueIndexes: true},
			Versioned: func(t *testing.T) ports.SQLStore[portstest.VItem] { return newVItemStore(t, db) },
		}
	})
}

// The same suite with Get through gorm's callbacks instead of its
// prepared plan, and pgx's simple protocol (no prepared statements, as
// behind PgBouncer in transaction mode).
func TestConformanceSQLStoreGormPaths(t *testing.T) {
	url := testURL(t)
	portstest.TestSQLStore(t, func(t *testing.T) portstest.SQLSetup {
		db := openTest(t, Config{URL: withParam(url, "default_query_exec_mode", "simple_protocol")})
		s := newItemStore(t, db, WithQueryCallbacks())
		return portstest.SQLSetup{
			Store:     s,
			Tx:        db,
			Connector: db,
			Caps:      portstest.SQLCaps{Transactions: true, UniqueIndexes: true},
			Versioned: func(t *testing.T) ports.SQLStore[portstest.VItem] { return newVItemStore(t, db) },
		}
	})
}

func TestConformanceConnector(t *testing.T) {
	testURL(t)
	portstest.TestConnector(t, func(t *testing.T) portstest.ConnectorSetup {
		return portstest.ConnectorSetup{Connector: openTest(t, Config{}), Name: "postgres"}
	})
}
