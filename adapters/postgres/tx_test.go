package postgres

import (
	"context"
	"errors"
	"net"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/portkit/portkit/internal/faults"
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

// A COMMIT whose connection stalls is bounded by the caller's context:
// WithinTx returns at its deadline, ErrUnavailable wrapping
// ErrOutcomeUnknown and the deadline .
func TestCommitStalledIsBoundedByContext(t *testing.T) {
	db, s, direct, p := openViaProxy(t)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- db.WithinTx(ctx, func(ctx context.Context) error {
			if err := s.Create(ctx, &portstest.Item{SKU: "stalled"}); err != nil {
				return err
			}
			p.Blackhole() // COMMIT goes into the hole
			return nil
		})
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("WithinTx still blocked 15s after its 500ms deadline")
	}
	if !errors.Is(err, ports.ErrUnavailable) || !errors.Is(err, ports.ErrOutcomeUnknown) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WithinTx with a stalled COMMIT: %v, want ErrUnavailable wrapping ErrOutcomeUnknown and DeadlineExceeded", err)
	}
	if ports.KindOf(err) != ports.ErrUnavailable {
		t.Errorf("kind %v", ports.KindOf(err))
	}
	p.Restore()
	// The COMMIT never reached the server: nothing was committed, and the
	// pool still works.
	if n := count(t, direct); n != 0 {
		t.Errorf("%d rows after a COMMIT that never arrived, want 0", n)
	}
	if err := s.Create(context.Background(), &portstest.Item{SKU: "after"}); err != nil {
		t.Errorf("Create after the stall: %v", err)
	}
}

// A COMMIT that reached the server and whose answer is lost: WithinTx
// returns at the deadline with ErrOutcomeUnknown, and the row is
// indeed committed.
func TestCommitAckLostIsOutcomeUnknown(t *testing.T) {
	db, s, direct, p := openViaProxy(t)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := db.WithinTx(ctx, func(ctx context.Context) error {
		if err := s.Create(ctx, &portstest.Item{SKU: "committed"}); err != nil {
			return err
		}
		p.Latency(time.Minute) // the server's answers are held back
		return nil
	})
	if elapsed := time.Since(start); elapsed > 15*time.Second {
		t.Errorf("WithinTx returned %v after its 500ms deadline", elapsed)
	}
	if !errors.Is(err, ports.ErrOutcomeUnknown) || !errors.Is(err, ports.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WithinTx with a lost COMMIT answer: %v, want ErrUnavailable wrapping ErrOutcomeUnknown and DeadlineExceeded", err)
	}
	p.Restore()
	// The server committed: the row shows up.
	deadline := time.Now().Add(10 * time.Second)
	for count(t, direct) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the committed row never showed up")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The deadline passing inside fn: ErrUnavailable wrapping
// DeadlineExceeded (it was ErrInvalid, "transaction has already been
// committed or rolled back"), and nothing committed.
func TestWithinTxDeadlineInsideFn(t *testing.T) {
	db := openTest(t, Config{})
	s := newItemStore(t, db)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := db.WithinTx(ctx, func(ctx context.Context) error {
		if err := s.Create(ctx, &portstest.Item{SKU: "late"}); err != nil {
			return err
		}
		<-ctx.Done()
		return nil
	})
	if !errors.Is(err, ports.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) || ports.KindOf(err) != ports.ErrUnavailable {
		t.Fatalf("WithinTx whose deadline passed inside fn: %v, want ErrUnavailable and DeadlineExceeded", err)
	}
	if errors.Is(err, ports.ErrOutcomeUnknown) {
		t.Errorf("COMMIT was never sent, yet the error says the outcome is unknown: %v", err)
	}
	if n := count(t, s); n != 0 {
		t.Errorf("%d rows committed, want 0", n)
	}
	// A statement in fn after the deadline fails the same way.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	err = db.WithinTx(ctx2, func(ctx context.Context) error {
		<-ctx.Done()
		return s.Create(ctx, &portstest.Item{SKU: "later"})
	})
	if !errors.Is(err, ports.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a store call after the deadline inside fn: %v, want ErrUnavailable and DeadlineExceeded", err)
	}
}

// uncomparable is an error type == cannot compare.
type uncomparable []string

func (e uncomparable) Error() string { return "uncomparable" }

// fn returning an error of an uncomparable type: WithinTx returns it as it
// is (it panicked "comparing uncomparable type").
func TestWithinTxUncomparableError(t *testing.T) {
	db := openTest(t, Config{})
	s := newItemStore(t, db)
	err := db.WithinTx(context.Background(), func(ctx context.Context) error {
		if err := s.Create(ctx, &portstest.Item{SKU: "x"}); err != nil {
			return err
		}
		return uncomparable{"a", "b"}
	})
	var ue uncomparable
	if !errors.As(err, &ue) || !reflect.DeepEqual(ue, uncomparable{"a", "b"}) {
		t.Fatalf("WithinTx returned %v, want fn's error", err)
	}
	if n := count(t, s); n != 0 {
		t.Errorf("%d rows after fn failed, want 0", n)
	}
	// Nested, through a savepoint.
	err = db.WithinTx(context.Background(), func(ctx context.Context) error {
		inner := db.WithinTx(ctx, func(ctx context.Context) error {
			if err := s.Create(ctx, &portstest.Item{SKU: "inner"}); err != nil {
				return err
			}
			return uncomparable{"c"}
		})
		if !errors.As(inner, &ue) {
			t.Errorf("nested WithinTx returned %v, want fn's error", inner)
		}
		return s.Create(ctx, &portstest.Item{SKU: "outer"})
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Find(context.Background(), ports.All()); err != nil || len(got) != 1 || got[0].SKU != "outer" {
		t.Errorf("after a nested rollback: %+v, %v, want only the outer row", got, err)
	}
}

// Close while a transaction runs: Close waits for it, the transaction
// cannot commit (WithinTx rolls back and returns ErrClosed) .
func TestCloseDuringTransaction(t *testing.T) {
	db := openTest(t, Config{})
	s := newItemStore(t, db)
	direct, err := NewStore[portstest.Item](openTest(t, Config{}), WithTable(s.Table()))
	if err != nil {
		t.Fatal(err)
	}
	inside := make(chan struct{})
	txDone := make(chan error, 1)
	go func() {
		txDone <- db.WithinTx(context.Background(), func(ctx context.Context) error {
			if err := s.Create(ctx, &portstest.Item{SKU: "open"}); err != nil {
				return err
			}
			close(inside)
			for !db.core.Closed() { // until Close has begun
				time.Sleep(time.Millisecond)
			}
			if err := s.Create(ctx, &portstest.Item{SKU: "after close"}); !errors.Is(err, ports.ErrClosed) {
				t.Errorf("a store call in the transaction after Close: %v, want ErrClosed", err)
			}
			return nil
		})
	}()
	<-inside
	closeDone := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		closeDone <- db.Close(ctx)
	}()
	if err := <-txDone; !errors.Is(err, ports.ErrClosed) || ports.KindOf(err) != ports.ErrClosed {
		t.Errorf("WithinTx after Close: %v, want ErrClosed", err)
	}
	if err := <-closeDone; err != nil {
		t.Errorf("Close: %v", err)
	}
	if n := count(t, direct); n != 0 {
		t.Errorf("%d rows committed by a transaction that ran into Close, want 0", n)
	}
}

// Close whose context ends while a transaction runs returns
// ErrUnavailable; the transaction then cannot commit.
func TestCloseTimesOutOnARunningTransaction(t *testing.T) {
	db := openTest(t, Config{})
	s := newItemStore(t, db)
	release := make(chan struct{})
	inside := make(chan struct{})
	txDone := make(chan error, 1)
	go func() {
		txDone <- db.WithinTx(context.Background(), func(ctx context.Context) error {
			close(inside)
			<-release
			return nil
		})
	}()
	<-inside
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := db.Close(ctx); !errors.Is(err, ports.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close while a transaction runs past its ctx: %v, want ErrUnavailable and DeadlineExceeded", err)
	}
	close(release)
	if err := <-txDone; !errors.Is(err, ports.ErrClosed) {
		t.Errorf("WithinTx after Close: %v, want ErrClosed", err)
	}
	if err := db.Close(context.Background()); !errors.Is(err, ports.ErrClosed) {
		t.Errorf("second Close: %v, want ErrClosed", err)
	}
	_ = s
}

// InTx tells a transaction's context from another.
func TestInTx(t *testing.T) {
	db := openTest(t, Config{})
	other := openTest(t, Config{})
	ctx := context.Background()
	//lint:ignore SA1012 a nil ctx must not panic
	if db.InTx(ctx) || db.InTx(nil) {
		t.Error("InTx outside a transaction")
	}
	var inner context.Context
	err := db.WithinTx(ctx, func(ctx context.Context) error {
		if !db.InTx(ctx) {
			t.Error("InTx inside WithinTx is false")
		}
		if other.InTx(ctx) {
			t.Error("another DB's InTx is true")
		}
		inner = ctx
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if db.InTx(inner) {
		t.Error("InTx of a finished transaction's context is true")
	}
	// A store call with the context of a finished transaction fails; it
	// does not run outside any transaction.
	s := newItemStore(t, db)
	if err := s.Create(inner, &portstest.Item{SKU: "stale"}); ports.KindOf(err) != ports.ErrInvalid {
		t.Errorf("Create with a finished transaction's context: %v, want ErrInvalid", err)
	}
	if n := count(t, s); n != 0 {
		t.Errorf("%d rows written with a finished transaction's context, want 0", n)
	}
}

// Deadlocks are ErrConflict (retry the whole transaction).
func TestDeadlockIsConflict(t *testing.T) {
	db := openTest(t, Config{})
	s := newItemStore(t, db)
	ctx := context.Background()
	a, b := portstest.Item{SKU: "a"}, portstest.Item{SKU: "b"}
	if err := s.CreateMany(ctx, []*portstest.Item{&a, &b}); err != nil {
		t.Fatal(err)
	}
	locked := make(chan struct{}, 2)
	step := make(chan struct{})
	errs := make(chan error, 2)
	run := func(first, second portstest.Item) {
		errs <- db.WithinTx(ctx, func(ctx context.Context) error {
			if err := s.Patch(ctx, first.ID, ports.Inc("Qty", 1)); err != nil {
				return err
			}
			locked <- struct{}{}
			<-step
			return s.Patch(ctx, second.ID, ports.Inc("Qty", 1))
		})
	}
	go run(a, b)
	go run(b, a)
	<-locked
	<-locked
	close(step)
	e1, e2 := <-errs, <-errs
	if (e1 == nil) == (e2 == nil) {
		t.Fatalf("two crossing transactions: %v and %v, want one deadlock victim", e1, e2)
	}
	victim := e1
	if victim == nil {
		victim = e2
	}
	if ports.KindOf(victim) != ports.ErrConflict {
		t.Errorf("deadlock victim: %v, want ErrConflict", victim)
	}
	var pe *pgconn.PgError
	if !errors.As(victim, &pe) || pe.Code != "40P01" {
		t.Errorf("deadlock victim: %v, want the server's 40P01 reachable", victim)
	}
}

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
