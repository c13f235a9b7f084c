package postgres

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/portkit/portkit/internal/faults"
	"github.com/portkit/portkit/internal/gormstore/gormstoretest"
	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/ports/portstest"
)

// openViaProxy opens the test database through a fault proxy of its own,
// and a store on a fresh table; direct is a store of the same table
// reached without the proxy, to see what the server holds.
func openViaProxy(t *testing.T) (db *DB, s, direct *Store[portstest.Item], p *faults.Proxy) {
	t.Helper()
	cc, err := Config{URL: testURL(t)}.connConfig()
	if err != nil {
		t.Fatal(err)
	}
	p = faults.NewProxy(t, net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port))))
	host, port, _ := net.SplitHostPort(p.Addr())
	db = openTest(t, Config{URL: withParam(withParam(testURL(t), "host", host), "port", port)})
	direct = newItemStore(t, openTest(t, Config{}))
	s, err = NewStore[portstest.Item](db, WithTable(direct.Table()))
	if err != nil {
		t.Fatal(err)
	}
	// Before the table is dropped (cleanups run last first): sever what
	// went through the proxy, so that the server ends a session a
	// blackhole left idle in its transaction, holding the table's lock,
	// instead of DROP TABLE waiting for it.
	t.Cleanup(p.Cut)
	return db, s, direct, p
}

// count returns how many rows s's table holds.
func count(t *testing.T, s *Store[portstest.Item]) int64 {
	t.Helper()
	n, err := s.Count(context.Background(), ports.All())
	if err != nil {
		t.Fatalf("Count: %v", err)
	}
	return n
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

// fn that ignores a failed statement and returns nil: PostgreSQL has
// aborted the transaction, and its COMMIT would answer ROLLBACK without
// an error. WithinTx says so (ErrInvalid), instead of reporting a commit
// that did not happen; the statements after the failure are ErrInvalid
// too (25P02).
func TestAbortedTransactionIsNotReportedCommitted(t *testing.T) {
	db := openTest(t, Config{})
	s := newItemStore(t, db)
	ctx := context.Background()
	first := portstest.Item{SKU: "first"}
	if err := s.Create(ctx, &first); err != nil {
		t.Fatal(err)
	}
	err := db.WithinTx(ctx, func(ctx context.Context) error {
		if err := s.Create(ctx, &portstest.Item{SKU: "kept?"}); err != nil {
			return err
		}
		dup := portstest.Item{ID: first.ID, SKU: "dup"}
		if err := s.Create(ctx, &dup); ports.KindOf(err) != ports.ErrConflict {
			t.Errorf("duplicate key in a transaction: %v, want ErrConflict", err)
		}
		err := s.Create(ctx, &portstest.Item{SKU: "after the failure"})
		var pe *pgconn.PgError
		if ports.KindOf(err) != ports.ErrInvalid || !errors.As(err, &pe) || pe.Code != "25P02" {
			t.Errorf("a statement after a failed one: %v, want ErrInvalid with 25P02", err)
		}
		return nil // the failures are ignored
	})
	if ports.KindOf(err) != ports.ErrInvalid || !errors.Is(err, errAbortedTx) {
		t.Fatalf("WithinTx of an aborted transaction whose fn returned nil: %v, want ErrInvalid (not committed)", err)
	}
	if n := count(t, s); n != 1 {
		t.Errorf("%d rows, want 1: nothing of the aborted transaction is committed", n)
	}
	// The connection went back to the pool in a clean state.
	if err := db.WithinTx(ctx, func(ctx context.Context) error {
		return s.Create(ctx, &portstest.Item{SKU: "next"})
	}); err != nil {
		t.Errorf("the next transaction: %v", err)
	}
}

// A statement that may fail, run in a nested WithinTx: its failure rolls
// back the savepoint only, and the outer transaction commits.
func TestNestedWithinTxRecoversFromAFailedStatement(t *testing.T) {
	db := openTest(t, Config{})
	s := newItemStore(t, db)
	ctx := context.Background()
	first := portstest.Item{SKU: "first"}
	if err := s.Create(ctx, &first); err != nil {
		t.Fatal(err)
	}
	err := db.WithinTx(ctx, func(ctx context.Context) error {
		if err := s.Create(ctx, &portstest.Item{SKU: "outer 1"}); err != nil {
			return err
		}
		inner := db.WithinTx(ctx, func(ctx context.Context) error {
			return s.Create(ctx, &portstest.Item{ID: first.ID, SKU: "dup"})
		})
		if ports.KindOf(inner) != ports.ErrConflict {
			t.Errorf("nested duplicate: %v, want ErrConflict", inner)
		}
		return s.Create(ctx, &portstest.Item{SKU: "outer 2"})
	})
	if err != nil {
		t.Fatalf("WithinTx: %v", err)
	}
	if n := count(t, s); n != 3 {
		t.Errorf("%d rows, want 3", n)
	}
}

// A serialization failure (REPEATABLE READ, a concurrent update) is
// ErrConflict, the whole transaction to retry.
func TestSerializationFailureIsConflict(t *testing.T) {
	db := openTest(t, Config{})
	s := newItemStore(t, db)
	ctx := context.Background()
	it := portstest.Item{SKU: "x"}
	if err := s.Create(ctx, &it); err != nil {
		t.Fatal(err)
	}
	err := db.WithinTx(ctx, func(ctx context.Context) error {
		if err := db.Conn(ctx).Exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ").Error; err != nil {
			return err
		}
		if _, err := s.Get(ctx, it.ID); err != nil { // the snapshot is taken
			return err
		}
		// Another transaction updates the row and commits.
		if err := s.Patch(context.Background(), it.ID, ports.Inc("Qty", 1)); err != nil {
			return err
		}
		return s.Patch(ctx, it.ID, ports.Inc("Qty", 1))
	})
	var pe *pgconn.PgError
	if ports.KindOf(err) != ports.ErrConflict || !errors.As(err, &pe) || pe.Code != "40001" {
		t.Errorf("a concurrent update under REPEATABLE READ: %v, want ErrConflict with 40001", err)
	}
}
