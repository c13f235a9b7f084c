package fakes_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/ports"
)

// account is a model with optimistic concurrency.
type account struct {
	ID        int64
	Owner     string  `gorm:"size:40;uniqueIndex"`
	Balance   int64   `gorm:"not null;default:0"`
	Rate      float64 `gorm:"not null;default:0"`
	Note      *string `gorm:"size:40"`
	Version   ports.Version
	CreatedAt time.Time
	UpdatedAt time.Time
}

func accountIDs(as []account) []int64 {
	out := make([]int64, len(as))
	for i, a := range as {
		out[i] = a.ID
	}
	return out
}

func TestSQLVersion(t *testing.T) {
	ctx := t.Context()
	s, _, clock := newSQL[account](t)
	a := account{Owner: "ann", Version: 41}
	must(t, "Create", s.Create(ctx, &a))
	if a.Version != 1 {
		t.Fatalf("Create set Version %d, want 1 whatever the entity held", a.Version)
	}
	stale := a
	a.Balance = 10
	must(t, "Update", s.Update(ctx, &a))
	if a.Version != 2 {
		t.Errorf("Update set Version %d, want 2", a.Version)
	}
	stale.Balance = 99
	wantKind(t, "Update of a stale version", s.Update(ctx, &stale), ports.ErrConflict)
	if stale.Version != 1 || !stale.UpdatedAt.Equal(a.CreatedAt) {
		t.Errorf("a failed Update changed the entity: %+v", stale)
	}
	got, _ := s.Get(ctx, a.ID)
	if got.Balance != 10 || got.Version != 2 {
		t.Errorf("after the stale Update: %+v", *got)
	}
	clock.Advance(time.Minute)
	must(t, "Patch", s.Patch(ctx, a.ID, ports.Inc("Balance", 5)))
	wantKind(t, "Patch IfVersion stale", s.Patch(ctx, a.ID, ports.Set("Balance", int64(0)).IfVersion(2)), ports.ErrConflict)
	must(t, "Patch IfVersion current", s.Patch(ctx, a.ID, ports.Inc("Balance", 1).IfVersion(3)))
	got, _ = s.Get(ctx, a.ID)
	if got.Balance != 16 || got.Version != 4 || !got.UpdatedAt.Equal(clock.Now()) {
		t.Errorf("after two Patches: %+v", *got)
	}
	wantKind(t, "Patch of the version field", s.Patch(ctx, a.ID, ports.Set("Version", ports.Version(9))), ports.ErrInvalid)
	wantKind(t, "DeleteIfVersion stale", s.DeleteIfVersion(ctx, a.ID, 3), ports.ErrConflict)
	must(t, "DeleteIfVersion", s.DeleteIfVersion(ctx, a.ID, 4))
	wantKind(t, "DeleteIfVersion absent", s.DeleteIfVersion(ctx, a.ID, 4), ports.ErrNotFound)
	p, _, _ := newSQL[Person](t)
	wantKind(t, "DeleteIfVersion without a Version field", p.DeleteIfVersion(ctx, int64(1), 1), ports.ErrInvalid)
}

func TestSQLPatch(t *testing.T) {
	ctx := t.Context()
	s, _, clock := newSQL[account](t)
	a := account{Owner: "ann", Balance: 100, Note: strp("n")}
	b := account{Owner: "bob"}
	must(t, "Create a", s.Create(ctx, &a))
	must(t, "Create b", s.Create(ctx, &b))
	clock.Advance(time.Hour)
	must(t, "Patch", s.Patch(ctx, a.ID, ports.Set("Note", nil).Inc("Balance", -30).Inc("Rate", 0.5)))
	got, _ := s.Get(ctx, a.ID)
	want := a
	want.Balance, want.Rate, want.Note, want.Version, want.UpdatedAt = 70, 0.5, nil, 2, clock.Now()
	if fmt.Sprint(*got) != fmt.Sprint(want) {
		t.Errorf("after Patch: %+v\nwant %+v (only the named fields, UpdatedAt and Version change)", *got, want)
	}
	// Increments add up under concurrency.
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if err := s.Patch(ctx, b.ID, ports.Inc("Balance", 2)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got, _ = s.Get(ctx, b.ID)
	if got.Balance != 100 || got.Version != 51 {
		t.Errorf("after 50 concurrent Inc(2): Balance %d Version %d, want 100 and 51", got.Balance, got.Version)
	}
	wantKind(t, "Patch of an absent key", s.Patch(ctx, int64(99), ports.Set("Owner", "x")), ports.ErrNotFound)
	wantKind(t, "Patch to a taken unique value", s.Patch(ctx, b.ID, ports.Set("Owner", "ANN")), ports.ErrConflict)
	for _, c := range []struct {
		name string
		p    ports.Patch
	}{
		{"empty", ports.Patch{}},
		{"the primary key", ports.Set("ID", int64(5))},
		{"an unknown field", ports.Set("Nope", 1)},
		{"a wrong type", ports.Set("Balance", "ten")},
		{"Inc of a string", ports.Inc("Owner", 1)},
		{"nil for a non-pointer", ports.Set("Owner", nil)},
		{"a field twice", ports.Set("Balance", 1).Inc("Balance", 1)},
		{"an overflow", ports.Inc("Balance", int64(1)<<62).Inc("Rate", 1)},
	} {
		if c.name == "an overflow" {
			must(t, "Patch near the top", s.Patch(ctx, b.ID, ports.Set("Balance", int64(1)<<62)))
		}
		wantKind(t, "Patch with "+c.name, s.Patch(ctx, b.ID, c.p), ports.ErrInvalid)
	}
	ro, _, _ := newSQL[Tagged](t)
	must(t, "Create", ro.Create(ctx, &Tagged{}))
	wantKind(t, "Patch of a read-only field", ro.Patch(ctx, int64(1), ports.Set("RO", "x")), ports.ErrInvalid)
	wantKind(t, "Patch of a field without a column", ro.Patch(ctx, int64(1), ports.Set("Ignored", "x")), ports.ErrInvalid)
	// Inc of a pointer field is refused (the port's rule: a NULL has no
	// portable increment).
	n, _, _ := newSQL[nullable](t)
	must(t, "Create", n.Create(ctx, &nullable{}))
	wantKind(t, "Inc of a pointer field", n.Patch(ctx, int64(1), ports.Inc("PInt", 1)), ports.ErrInvalid)
}

func strp(s string) *string { return &s }

func TestSQLUpsert(t *testing.T) {
	ctx := t.Context()
	s, _, clock := newSQL[account](t)
	wantKind(t, "Upsert without a key", s.Upsert(ctx, &account{Owner: "x"}), ports.ErrInvalid)
	a := account{ID: 7, Owner: "ann", Balance: 1}
	must(t, "Upsert (insert)", s.Upsert(ctx, &a))
	created := clock.Now()
	if a.Version != 1 || !a.CreatedAt.Equal(created) || a.Balance != 1 {
		t.Errorf("after an inserting Upsert: %+v", a)
	}
	clock.Advance(time.Hour)
	r := account{ID: 7, Owner: "ann", Balance: 2} // zero version: unconditional
	must(t, "Upsert (replace)", s.Upsert(ctx, &r))
	got, _ := s.Get(ctx, int64(7))
	if got.Balance != 2 || got.Version != 2 || !got.CreatedAt.Equal(created) || !got.UpdatedAt.Equal(clock.Now()) || r.Version != 2 {
		t.Errorf("after a replacing Upsert: %+v (entity %+v)", *got, r)
	}
	stale := account{ID: 7, Owner: "ann", Balance: 3, Version: 1}
	wantKind(t, "Upsert of a stale version", s.Upsert(ctx, &stale), ports.ErrConflict)
	absent := account{ID: 8, Owner: "bob", Version: 3}
	wantKind(t, "Upsert with a version of an absent row", s.Upsert(ctx, &absent), ports.ErrNotFound)
	dup := account{ID: 9, Owner: "ANN"}
	wantKind(t, "Upsert of a taken unique value", s.Upsert(ctx, &dup), ports.ErrConflict)
	cur := account{ID: 7, Owner: "ann", Balance: 4, Version: 2}
	must(t, "Upsert of the current version", s.Upsert(ctx, &cur))
	if got, _ := s.Get(ctx, int64(7)); got.Balance != 4 || got.Version != 3 {
		t.Errorf("after Upsert of the current version: %+v", *got)
	}
	// A soft-deleted row is replaced by the insert.
	sd, _, _ := newSQL[softRow](t)
	must(t, "Create", sd.Create(ctx, &softRow{Name: "a"}))
	must(t, "Delete", sd.Delete(ctx, int64(1)))
	must(t, "Upsert over a soft-deleted row", sd.Upsert(ctx, &softRow{ID: 1, Name: "b"}))
	if got, err := sd.Get(ctx, int64(1)); err != nil || got.Name != "b" {
		t.Errorf("Get after Upsert over a soft-deleted row = %+v, %v", got, err)
	}
}

func TestSQLDeleteWhere(t *testing.T) {
	ctx := t.Context()
	s, _, _ := newSQL[account](t)
	for i, o := range []string{"a", "b", "c", "d"} {
		must(t, "Create", s.Create(ctx, &account{Owner: o, Balance: int64(i)}))
	}
	n, err := s.DeleteWhere(ctx, ports.Where("Balance", ports.Gte, int64(2)))
	if err != nil || n != 2 {
		t.Errorf("DeleteWhere = %d, %v; want 2", n, err)
	}
	n, err = s.DeleteWhere(ctx, ports.Where("Balance", ports.Gte, int64(2)))
	if err != nil || n != 0 {
		t.Errorf("second DeleteWhere = %d, %v; want 0", n, err)
	}
	for _, q := range []ports.Query{ports.All(), ports.Where("Balance", ports.Eq, int64(0)).OrderBy("Owner"), ports.Where("Balance", ports.Eq, int64(0)).Limit(1), ports.Where("Nope", ports.Eq, 1)} {
		_, err := s.DeleteWhere(ctx, q)
		wantKind(t, "DeleteWhere "+q.String(), err, ports.ErrInvalid)
	}
	if all, _ := s.Find(ctx, ports.All()); !slices.Equal(accountIDs(all), []int64{1, 2}) {
		t.Errorf("left after DeleteWhere: %v", accountIDs(all))
	}
}

func TestSQLStream(t *testing.T) {
	ctx := t.Context()
	s, db, _ := newSQL[account](t)
	for _, o := range []string{"d", "b", "a", "c"} {
		must(t, "Create", s.Create(ctx, &account{Owner: o}))
	}
	var got []string
	for a, err := range s.Stream(ctx, ports.All().OrderBy("Owner").Limit(3)) {
		must(t, "Stream", err)
		got = append(got, a.Owner)
	}
	if !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("Stream = %v", got)
	}
	// Breaking out stops it.
	n := 0
	for range s.Stream(ctx, ports.All()) {
		n++
		break
	}
	if n != 1 {
		t.Errorf("broke after %d rows", n)
	}
	// An invalid query and a cancelled context are yielded once, last.
	errs := 0
	for _, err := range s.Stream(ctx, ports.Where("Nope", ports.Eq, 1)) {
		wantKind(t, "Stream of an invalid query", err, ports.ErrInvalid)
		errs++
	}
	if errs != 1 {
		t.Errorf("%d pairs for an invalid query, want 1", errs)
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var rows, errPairs int
	for _, err := range s.Stream(cctx, ports.All()) {
		if err != nil {
			errPairs++
			if !errors.Is(err, context.Canceled) || !errors.Is(err, ports.ErrUnavailable) {
				t.Errorf("Stream after cancel: %v", err)
			}
			continue
		}
		rows++
		cancel()
	}
	if rows != 1 || errPairs != 1 {
		t.Errorf("cancelled after the first row: %d rows, %d errors; want 1 and 1", rows, errPairs)
	}
	// Inside a transaction it reads the transaction's writes.
	err := db.WithinTx(ctx, func(ctx context.Context) error {
		if err := s.Create(ctx, &account{Owner: "e"}); err != nil {
			return err
		}
		var owners []string
		for a, err := range s.Stream(ctx, ports.Where("Owner", ports.Gte, "d")) {
			if err != nil {
				return err
			}
			owners = append(owners, a.Owner)
		}
		if !slices.Equal(owners, []string{"d", "e"}) {
			t.Errorf("Stream inside the transaction = %v", owners)
		}
		return errors.New("roll back")
	})
	if err == nil {
		t.Fatal("WithinTx did not return fn's error")
	}
}

type pageRow struct {
	ID   int64
	Name string `gorm:"size:20"`
	Rank *int
}

func pageIDs(rs []pageRow) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "%d ", r.ID)
	}
	return b.String()
}

func TestSQLFindPage(t *testing.T) {
	ctx := t.Context()
	s, _, _ := newSQL[pageRow](t)
	// Ties, NULLs and collation-equal names.
	rows := []pageRow{{Name: "b", Rank: intp(2)}, {Name: "A", Rank: nil}, {Name: "a", Rank: intp(1)}, {Name: "c", Rank: intp(2)},
		{Name: "á", Rank: nil}, {Name: "B", Rank: intp(1)}, {Name: "d", Rank: intp(3)}}
	for i := range rows {
		must(t, "Create", s.Create(ctx, &rows[i]))
	}
	for _, q := range []ports.Query{
		ports.All().Limit(2),
		ports.All().OrderBy("Name").Limit(2),
		ports.All().OrderBy("-Name").Limit(3),
		ports.All().OrderBy("Rank", "-Name").Limit(2),
		ports.All().OrderBy("-Rank").Limit(1),
		ports.Where("Rank", ports.Ne, 3).OrderBy("-ID").Limit(2),
	} {
		want, err := s.Find(ctx, q.Limit(0))
		must(t, "Find", err)
		var got []pageRow
		cursor, pages := "", 0
		for {
			p, err := s.FindPage(ctx, q, cursor)
			must(t, "FindPage", err)
			got = append(got, p.Items...)
			pages++
			if p.Next == "" {
				break
			}
			if pages > len(rows) {
				t.Fatalf("%v: no end after %d pages", q, pages)
			}
			cursor = p.Next
		}
		if pageIDs(got) != pageIDs(want) {
			t.Errorf("%v: pages %v, Find %v", q, pageIDs(got), pageIDs(want))
		}
	}
	// Rows written meanwhile shift nothing.
	q := ports.All().OrderBy("Name").Limit(3)
	p1, err := s.FindPage(ctx, q, "")
	must(t, "page 1", err)
	must(t, "Create before the cursor", s.Create(ctx, &pageRow{Name: "0"}))
	p2, err := s.FindPage(ctx, q, p1.Next)
	must(t, "page 2", err)
	if len(p2.Items) == 0 || p2.Items[0].Name != "b" {
		t.Errorf("page 2 after an insert before the cursor starts with %+v, want b", p2.Items)
	}
	// Bad calls.
	_, err = s.FindPage(ctx, ports.All(), "")
	wantKind(t, "FindPage without a limit", err, ports.ErrInvalid)
	_, err = s.FindPage(ctx, ports.All().Limit(2).Offset(1), "")
	wantKind(t, "FindPage with an offset", err, ports.ErrInvalid)
	_, err = s.FindPage(ctx, q, "forged"+p1.Next)
	wantKind(t, "FindPage with a forged cursor", err, ports.ErrInvalid)
	_, err = s.FindPage(ctx, ports.All().OrderBy("-Name").Limit(3), p1.Next)
	wantKind(t, "FindPage with the cursor of another query", err, ports.ErrInvalid)
}

// Every write of the new methods is transactional: private until commit,
// undone by a rollback or a savepoint's.
func TestSQLNewWritesInTransactions(t *testing.T) {
	ctx := t.Context()
	s, db, _ := newSQL[account](t)
	for _, o := range []string{"a", "b", "c"} {
		must(t, "Create", s.Create(ctx, &account{Owner: o, Balance: 1}))
	}
	errUndo := errors.New("undo")
	inTx := make(chan struct{})
	release := make(chan struct{})
	txErr := make(chan error, 1)
	go func() {
		txErr <- db.WithinTx(ctx, func(ctx context.Context) error {
			if !db.InTx(ctx) {
				t.Error("InTx inside WithinTx = false")
			}
			if err := s.Patch(ctx, int64(1), ports.Inc("Balance", 10)); err != nil {
				return err
			}
			if err := s.Upsert(ctx, &account{ID: 9, Owner: "z"}); err != nil {
				return err
			}
			if n, err := s.DeleteWhere(ctx, ports.Where("Owner", ports.Eq, "b")); n != 1 || err != nil {
				return fmt.Errorf("DeleteWhere in tx = %d, %v", n, err)
			}
			_ = db.WithinTx(ctx, func(ctx context.Context) error { // savepoint
				_ = s.Patch(ctx, int64(3), ports.Inc("Balance", 100))
				return errUndo
			})
			if got, _ := s.Get(ctx, int64(3)); got.Balance != 1 {
				t.Errorf("the savepoint's Patch survived its rollback: %d", got.Balance)
			}
			close(inTx)
			<-release
			return errUndo
		})
	}()
	<-inTx
	if db.InTx(ctx) {
		t.Error("InTx outside = true")
	}
	if n, _ := s.Count(ctx, ports.All()); n != 3 {
		t.Errorf("Count outside the transaction = %d, want 3", n)
	}
	// A Patch outside waits for the row the transaction holds.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	err := s.Patch(short, int64(1), ports.Inc("Balance", 1))
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ports.ErrUnavailable) {
		t.Errorf("Patch of a locked row: %v, want ErrUnavailable wrapping DeadlineExceeded", err)
	}
	close(release)
	if err := <-txErr; !errors.Is(err, errUndo) {
		t.Fatalf("WithinTx = %v", err)
	}
	all, _ := s.Find(ctx, ports.All())
	if !slices.Equal(accountIDs(all), []int64{1, 2, 3}) || all[0].Balance != 1 {
		t.Errorf("after the rollback: %+v", all)
	}
}

// A nil context is ErrInvalid everywhere (never a panic), after Close
// ErrClosed comes first.
func TestSQLNilContext(t *testing.T) {
	s, db, _ := newSQL[account](t)
	var nilCtx context.Context
	calls := map[string]func(ctx context.Context) error{
		"Create":          func(ctx context.Context) error { return s.Create(ctx, &account{Owner: "x"}) },
		"CreateMany":      func(ctx context.Context) error { return s.CreateMany(ctx, []*account{{Owner: "y"}}) },
		"Get":             func(ctx context.Context) error { _, err := s.Get(ctx, int64(1)); return err },
		"Find":            func(ctx context.Context) error { _, err := s.Find(ctx, ports.All()); return err },
		"FindPage":        func(ctx context.Context) error { _, err := s.FindPage(ctx, ports.All().Limit(1), ""); return err },
		"Count":           func(ctx context.Context) error { _, err := s.Count(ctx, ports.All()); return err },
		"Update":          func(ctx context.Context) error { return s.Update(ctx, &account{ID: 1}) },
		"Patch":           func(ctx context.Context) error { return s.Patch(ctx, int64(1), ports.Inc("Balance", 1)) },
		"Upsert":          func(ctx context.Context) error { return s.Upsert(ctx, &account{ID: 1}) },
		"Delete":          func(ctx context.Context) error { return s.Delete(ctx, int64(1)) },
		"DeleteIfVersion": func(ctx context.Context) error { return s.DeleteIfVersion(ctx, int64(1), 1) },
		"DeleteWhere": func(ctx context.Context) error {
			_, err := s.DeleteWhere(ctx, ports.Where("ID", ports.Eq, 1))
			return err
		},
		"Check": func(ctx context.Context) error { return s.Check(ctx) },
		"Stream": func(ctx context.Context) error {
			for _, err := range s.Stream(ctx, ports.All()) {
				return err
			}
			return nil
		},
		"DB.Check":    func(ctx context.Context) error { return db.Check(ctx) },
		"DB.WithinTx": func(ctx context.Context) error { return db.WithinTx(ctx, func(context.Context) error { return nil }) },
	}
	for name, call := range calls {
		wantKind(t, name+" with a nil context", call(nilCtx), ports.ErrInvalid)
	}
	if db.InTx(nilCtx) {
		t.Error("InTx(nil) = true")
	}
	must(t, "Close", db.Close(t.Context()))
	for name, call := range calls {
		wantKind(t, name+" with a nil context after Close", call(nilCtx), ports.ErrClosed)
	}
}

// Close while a transaction runs: the transaction cannot commit (its
// WithinTx returns ErrClosed, rolled back), and Close waits for it until
// its ctx ends.
func TestSQLCloseDuringTransaction(t *testing.T) {
	ctx := t.Context()
	s, db, _ := newSQL[account](t)
	inTx := make(chan struct{})
	release := make(chan struct{})
	txErr := make(chan error, 1)
	go func() {
		txErr <- db.WithinTx(ctx, func(ctx context.Context) error {
			if err := s.Create(ctx, &account{Owner: "a"}); err != nil {
				return err
			}
			close(inTx)
			<-release
			if err := s.Create(ctx, &account{Owner: "b"}); !errors.Is(err, ports.ErrClosed) {
				t.Errorf("Create in the transaction after Close: %v, want ErrClosed", err)
			}
			return nil
		})
	}()
	<-inTx
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := db.Close(short); !errors.Is(err, ports.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close with a running transaction and a short deadline: %v, want ErrUnavailable wrapping DeadlineExceeded", err)
	}
	select {
	case err := <-txErr:
		t.Fatalf("the transaction ended before it was released: %v", err)
	default:
	}
	close(release)
	if err := <-txErr; !errors.Is(err, ports.ErrClosed) {
		t.Errorf("WithinTx whose fn returned nil after Close: %v, want ErrClosed (rolled back)", err)
	}
	if err := db.Close(ctx); !errors.Is(err, ports.ErrClosed) {
		t.Errorf("second Close: %v, want ErrClosed", err)
	}
	// A Close that waits returns when the transaction ends.
	db2 := fakes.NewDB()
	s2, err := fakes.NewSQLStore[account](db2)
	must(t, "NewSQLStore", err)
	started := make(chan struct{})
	finish := make(chan struct{})
	tx2 := make(chan error, 1)
	go func() {
		tx2 <- db2.WithinTx(ctx, func(ctx context.Context) error {
			_ = s2.Create(ctx, &account{Owner: "a"})
			close(started)
			<-finish
			return nil
		})
	}()
	<-started
	closed := make(chan error, 1)
	go func() { closed <- db2.Close(ctx) }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned while the transaction ran: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(finish)
	if err := <-closed; err != nil {
		t.Errorf("Close after the transaction ended: %v", err)
	}
	if err := <-tx2; !errors.Is(err, ports.ErrClosed) {
		t.Errorf("WithinTx: %v, want ErrClosed", err)
	}
}
