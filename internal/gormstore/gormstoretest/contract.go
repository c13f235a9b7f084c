package gormstoretest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/ports/portstest"
)

// The entry rules: after Close every method is ErrClosed before its
// arguments are looked at; a nil ctx is ErrInvalid (never a panic); a done
// ctx is ErrUnavailable wrapping its error; a ctx that ends during a call
// is ErrUnavailable with the context's error reachable (it was a bare
// "context canceled").
func EntryRules(t *testing.T, e Env) {
	db := e.Open(t)
	s := e.Items(t, db)
	calls := func(ctx context.Context, bad bool) map[string]func() error {
		var id any = int64(1)
		var it *portstest.Item = &portstest.Item{SKU: "e"}
		q := ports.All()
		if bad {
			id, it, q = nil, nil, ports.Where("Nope", ports.Eq, 1)
		}
		return map[string]func() error{
			"Create":          func() error { return s.Create(ctx, it) },
			"CreateMany":      func() error { return s.CreateMany(ctx, []*portstest.Item{it}) },
			"Get":             func() error { _, err := s.Get(ctx, id); return err },
			"Find":            func() error { _, err := s.Find(ctx, q); return err },
			"Count":           func() error { _, err := s.Count(ctx, q); return err },
			"FindPage":        func() error { _, err := s.FindPage(ctx, q.Limit(1), "x"); return err },
			"Update":          func() error { return s.Update(ctx, it) },
			"Patch":           func() error { return s.Patch(ctx, id, ports.Patch{}) },
			"Upsert":          func() error { return s.Upsert(ctx, it) },
			"Delete":          func() error { return s.Delete(ctx, id) },
			"DeleteIfVersion": func() error { return s.DeleteIfVersion(ctx, id, 1) },
			"DeleteWhere":     func() error { _, err := s.DeleteWhere(ctx, q); return err },
			"Migrate":         func() error { return s.Migrate(ctx) },
			"Check":           func() error { return db.Check(ctx) },
			"WithinTx": func() error {
				var fn func(context.Context) error
				if !bad {
					fn = func(context.Context) error { return nil }
				}
				return db.WithinTx(ctx, fn)
			},
			"Stream": func() error {
				var last error
				for _, err := range s.Stream(ctx, q) {
					last = err
				}
				return last
			},
		}
	}
	for name, call := range calls(nil, false) { //nolint:staticcheck // nil ctx on purpose
		if err := call(); ports.KindOf(err) != ports.ErrInvalid {
			t.Errorf("%s with a nil ctx: %v, want ErrInvalid", name, err)
		}
	}
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for name, call := range calls(done, false) {
		if err := call(); ports.KindOf(err) != ports.ErrUnavailable || !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a done ctx: %v, want ErrUnavailable wrapping context.Canceled", name, err)
		}
	}
	// A context that ends while the statement runs.
	slow, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	err := db.Conn(slow).Exec(e.SleepSQL).Error
	if err = e.Wrap(slow, db, "exec", err); ports.KindOf(err) != ports.ErrUnavailable || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a statement past its deadline: %v, want ErrUnavailable wrapping DeadlineExceeded", err)
	}
	if err := db.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, ctx := range []context.Context{context.Background(), nil, done} {
		for name, call := range calls(ctx, true) {
			if err := call(); ports.KindOf(err) != ports.ErrClosed {
				t.Errorf("%s after Close (ctx %v, bad arguments): %v, want ErrClosed", name, ctx, err)
			}
		}
	}
	if err := db.Close(context.Background()); ports.KindOf(err) != ports.ErrClosed {
		t.Errorf("second Close: %v, want ErrClosed", err)
	}
}
