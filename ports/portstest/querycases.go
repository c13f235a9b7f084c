package portstest

import (
	"context"
	"errors"
	"testing"

	"github.com/portkit/portkit/ports"
)

// finder is the part of ports.SQLStore and ports.DocStore that the shared
// query cases use.
type finder[T any] interface {
	Find(ctx context.Context, q ports.Query) ([]T, error)
	Count(ctx context.Context, q ports.Query) (int64, error)
}

// queryKit builds the cases the SQLStore and DocStore suites share: query
// cases on the seed records and invalid-query cases, on an environment E
// holding a store of T.
type queryKit[T, E any] struct {
	noun    string                                       // plural record noun in messages: "items", "documents"
	store   func(e E) finder[T]                          // the case's store
	seed    func(t *testing.T, ctx context.Context, e E) // stores the five seed records
	seedOne func(t *testing.T, ctx context.Context, e E) // stores one valid record
	// check checks that Find(q) returned the records named want.
	check func(t *testing.T, q ports.Query, got []T, want []string)
}

// query is a case: q on the seed records finds want (as kit.check
// judges), and Count(q) is len(want) when q has no limit or offset.
func (k queryKit[T, E]) query(name string, q ports.Query, want ...string) testCase[E] {
	return testCase[E]{name, func(t *testing.T, e E) {
		ctx := caseCtx(t)
		k.seed(t, ctx, e)
		got, err := k.store(e).Find(ctx, q)
		wantNoErr(t, "Find("+q.String()+")", err)
		k.check(t, q, got, want)
		if q.LimitN() == 0 && q.OffsetN() == 0 {
			if n := countOf(t, ctx, k.store(e), "Count("+q.String()+")", q); n != int64(len(want)) {
				t.Errorf("Count(%s) = %d, want %d", q, n, len(want))
			}
		}
	}}
}

// invalid is a case where Find and Count of q must be ErrInvalid.
func (k queryKit[T, E]) invalid(name string, q ports.Query) testCase[E] {
	return testCase[E]{name, func(t *testing.T, e E) {
		ctx := caseCtx(t)
		k.seedOne(t, ctx, e)
		got, err := k.store(e).Find(ctx, q)
		if !errors.Is(err, ports.ErrInvalid) {
			t.Errorf("Find(%s): got %d %s, err %v (%s), want ErrInvalid", q, len(got), k.noun, err, sentinelName(err))
		}
		n, err := k.store(e).Count(ctx, q)
		if !errors.Is(err, ports.ErrInvalid) {
			t.Errorf("Count(%s): got %d, err %v (%s), want ErrInvalid", q, n, err, sentinelName(err))
		}
	}}
}

// findEmpty is the FindEmpty case: Find on an empty store (where names it
// in messages, e.g. "an empty table"), and Find of nothing (a query that
// matches no seed record), return no record and no error.
func (k queryKit[T, E]) findEmpty(where string, nothing ports.Query) testCase[E] {
	return testCase[E]{"FindEmpty", func(t *testing.T, e E) {
		ctx := caseCtx(t)
		got, err := k.store(e).Find(ctx, ports.All())
		if err != nil || len(got) != 0 {
			t.Errorf("Find on %s = %d %s, err %v (%s), want none and no error", where, len(got), k.noun, err, sentinelName(err))
		}
		k.seed(t, ctx, e)
		got, err = k.store(e).Find(ctx, nothing)
		if err != nil || len(got) != 0 {
			t.Errorf("Find matching nothing = %d %s, err %v (%s), want none and no error (not ErrNotFound)", len(got), k.noun, err, sentinelName(err))
		}
	}}
}

// countIgnoresLimit is the CountIgnoresLimit case: Count of q, which has
// an order, a limit and an offset, on the seed records is want, and
// Count(All) is 5.
func (k queryKit[T, E]) countIgnoresLimit(q ports.Query, want int64) testCase[E] {
	return testCase[E]{"CountIgnoresLimit", func(t *testing.T, e E) {
		ctx := caseCtx(t)
		k.seed(t, ctx, e)
		if n := countOf(t, ctx, k.store(e), "Count", q); n != want {
			t.Errorf("Count(%s) = %d, want %d (Count ignores order, limit and offset)", q, n, want)
		}
		if n := countOf(t, ctx, k.store(e), "Count", ports.All()); n != 5 {
			t.Errorf("Count(All) = %d, want 5", n)
		}
	}}
}

// countOf returns s.Count(q) or fails t.
func countOf[T any](t *testing.T, ctx context.Context, s finder[T], what string, q ports.Query) int64 {
	t.Helper()
	n, err := s.Count(ctx, q)
	wantNoErr(t, what, err)
	return n
}

// wantRecord checks the result of a Get (call, e.g. `Get(42)`, as it reads
// in messages) against want; noun is the record noun ("item").
func wantRecord[T any](t *testing.T, what, call, noun string, got *T, err error, want T, diff func(got, want T) string) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: %s: got err %v (%s), want the %s", what, call, err, sentinelName(err), noun)
		return
	}
	if got == nil {
		t.Errorf("%s: %s returned a nil %s and no error", what, call, noun)
		return
	}
	if d := diff(*got, want); d != "" {
		t.Errorf("%s: %s differs from what was stored: %s", what, call, d)
	}
}

// wantAbsent checks that a Get (call as it reads in messages) is
// ErrNotFound.
func wantAbsent[T any](t *testing.T, what, call string, got *T, err error) {
	t.Helper()
	if !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("%s: %s = %+v, err %v (%s), want ErrNotFound", what, call, got, err, sentinelName(err))
	}
}

// needTx skips the case unless the store claims transactions (caps names
// the capability in the skip message, e.g. "SQLCaps").
func needTx(t *testing.T, claimed bool, caps string) {
	t.Helper()
	if !claimed {
		t.Skip("needs " + caps + ".Transactions")
	}
}

// checkSetup fails t when a store setup (named setup, e.g. "SQLSetup") has
// no store, or claims transactions with no Transactor.
func checkSetup(t *testing.T, setup string, noStore, claimsTx, noTx bool) {
	t.Helper()
	if noStore {
		t.Fatal(setup + ".Store is nil")
	}
	if claimsTx && noTx {
		t.Fatal(setup + ".Caps.Transactions is set but Tx is nil")
	}
}
