package mysql

import (
	"testing"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/portkit/portkit/internal/faults"
	"github.com/portkit/portkit/internal/gormstore/gormstoretest"
	"github.com/portkit/portkit/ports/portstest"
)

// openViaProxy opens the test database through a fault proxy of its own,
// and a store on a fresh table; direct is a store of the same table
// reached without the proxy, to see what the server holds.
func openViaProxy(t *testing.T) (db *DB, s, direct *Store[portstest.Item], p *faults.Proxy) {
	t.Helper()
	dc, err := mysqldrv.ParseDSN(testDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	p = faults.NewProxy(t, dc.Addr)
	dc.Addr = p.Addr()
	db = openTest(t, Config{DSN: dc.FormatDSN()})
	direct = newItemStore(t, openTest(t, Config{}))
	s, err = NewStore[portstest.Item](db, WithTable(direct.Table()))
	if err != nil {
		t.Fatal(err)
	}
	return db, s, direct, p
}

func TestCommitStalledIsBoundedByContext(t *testing.T) {
	gormstoretest.CommitStalledIsBoundedByContext(t, kitEnv())
}

func TestCommitAckLostIsOutcomeUnknown(t *testing.T) {
	gormstoretest.CommitAckLostIsOutcomeUnknown(t, kitEnv())
}

func TestWithinTxDeadlineInsideFn(t *testing.T) { gormstoretest.WithinTxDeadlineInsideFn(t, kitEnv()) }

func TestWithinTxUncomparableError(t *testing.T) {
	gormstoretest.WithinTxUncomparableError(t, kitEnv())
}

func TestCloseDuringTransaction(t *testing.T) { gormstoretest.CloseDuringTransaction(t, kitEnv()) }

func TestCloseTimesOutOnARunningTransaction(t *testing.T) {
	gormstoretest.CloseTimesOutOnARunningTransaction(t, kitEnv())
}

func TestInTx(t *testing.T) { gormstoretest.InTx(t, kitEnv()) }

func TestDeadlockIsConflict(t *testing.T) { gormstoretest.DeadlockIsConflict(t, kitEnv()) }
