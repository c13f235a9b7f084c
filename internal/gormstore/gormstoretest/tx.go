package gormstoretest

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/ports/portstest"
)

// count returns how many rows s's table holds.
func count(t *testing.T, s Store[portstest.Item]) int64 {
	t.Helper()
	n, err := s.Count(context.Background(), ports.All())
	if err != nil {
		t.Fatalf("Count: %v", err)
	}
	return n
}

// A COMMIT whose connection stalls is bounded by the caller's context:
// WithinTx returns at its deadline, ErrUnavailable wrapping
// ErrOutcomeUnknown and the deadline (MySQL's stayed blocked for 95 s,
// until the TCP connection died).
func CommitStalledIsBoundedByContext(t *testing.T, e Env) {
	db, s, direct, p := e.ViaProxy(t)
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
// returns at the deadline with ErrOutcomeUnknown (MySQL's said
// ErrUnavailable 12 s later, without saying the row might be committed),
// and the row is
// indeed committed.
func CommitAckLostIsOutcomeUnknown(t *testing.T, e Env) {
	db, s, direct, p := e.ViaProxy(t)
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
func WithinTxDeadlineInsideFn(t *testing.T, e Env) {
	db := e.Open(t)
	s := e.Items(t, db)
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
func WithinTxUncomparableError(t *testing.T, e Env) {
	db := e.Open(t)
	s := e.Items(t, db)
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
// cannot commit (WithinTx rolls back and returns ErrClosed; MySQL had
// committed it).
func CloseDuringTransaction(t *testing.T, e Env) {
	db := e.Open(t)
	s := e.Items(t, db)
	direct := e.ItemsOn(t, e.Open(t), s.Table())
	inside := make(chan struct{})
	txDone := make(chan error, 1)
	go func() {
		txDone <- db.WithinTx(context.Background(), func(ctx context.Context) error {
			if err := s.Create(ctx, &portstest.Item{SKU: "open"}); err != nil {
				return err
			}
			close(inside)
			for !e.Closed(db) { // until Close has begun
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
func CloseTimesOutOnARunningTransaction(t *testing.T, e Env) {
	db := e.Open(t)
	s := e.Items(t, db)
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
func InTx(t *testing.T, e Env) {
	db := e.Open(t)
	other := e.Open(t)
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
	s := e.Items(t, db)
	if err := s.Create(inner, &portstest.Item{SKU: "stale"}); ports.KindOf(err) != ports.ErrInvalid {
		t.Errorf("Create with a finished transaction's context: %v, want ErrInvalid", err)
	}
	if n := count(t, s); n != 0 {
		t.Errorf("%d rows written with a finished transaction's context, want 0", n)
	}
}

// Deadlocks are ErrConflict (retry the whole transaction).
func DeadlockIsConflict(t *testing.T, e Env) {
	db := e.Open(t)
	s := e.Items(t, db)
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
	if !e.IsDeadlock(victim) {
		t.Errorf("deadlock victim: %v, want %s reachable", victim, e.DeadlockCause)
	}
}
