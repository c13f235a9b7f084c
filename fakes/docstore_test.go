package fakes_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/ports"
)

// note is the model of the document fake's own tests.
type note struct {
	ports.Document `bson:",inline"`
	Title          string `bson:"title"`
	Email          string `bson:"email,omitempty"`
	Rank           int    `bson:"rank"`

	hooks *[]string `bson:"-"`
}

func (n *note) Creating() error {
	if n.hooks != nil {
		*n.hooks = append(*n.hooks, "creating")
	}
	if n.Title == "refuse" {
		return errors.New("the model refuses")
	}
	return n.Document.Creating()
}

// title is another model of the same collection.
type title struct {
	ports.Document `bson:",inline"`
	Title          string `bson:"title"`
}

func newNotes(t *testing.T, db *fakes.DB, opts ...fakes.StoreOption) *fakes.DocStore[note, *note] {
	t.Helper()
	s, err := fakes.NewDocStore[note](db, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDocStoreConstructor(t *testing.T) {
	db := fakes.NewDB()
	closeOnCleanup(t, db)
	if _, err := fakes.NewDocStore[note](nil); !errors.Is(err, ports.ErrInvalid) {
		t.Errorf("nil DB: %v, want ErrInvalid", err)
	}
	for _, name := range []string{"", "a$b", "system.x", "nul\x00"} {
		if _, err := fakes.NewDocStore[note](db, fakes.WithTable(name)); !errors.Is(err, ports.ErrInvalid) {
			t.Errorf("collection %q: %v, want ErrInvalid", name, err)
		}
	}
	for _, ix := range []fakes.Index{{}, {Fields: []string{"Nope"}}, {Fields: []string{"Title"}, TTL: time.Hour}} {
		if _, err := fakes.NewDocStore[note](db, fakes.WithIndexes(ix)); !errors.Is(err, ports.ErrInvalid) {
			t.Errorf("index %v: %v, want ErrInvalid", ix, err)
		}
	}
	s := newNotes(t, db, fakes.WithIndexes(fakes.Index{Fields: []string{"Title"}, Unique: true}))
	if s.Collection() != "notes" || s.Name() != "fake-doc" || s.DB() != db {
		t.Errorf("collection %q name %q", s.Collection(), s.Name())
	}
	// Indexes belong to the collection: the same index again is fine,
	// another one under its keys is a conflict.
	if _, err := fakes.NewDocStore[note](db, fakes.WithIndexes(fakes.Index{Fields: []string{"Title"}, Unique: true})); err != nil {
		t.Errorf("the same index declared twice: %v", err)
	}
	if _, err := fakes.NewDocStore[note](db, fakes.WithIndexes(fakes.Index{Fields: []string{"Title"}})); !errors.Is(err, ports.ErrConflict) {
		t.Errorf("the index's keys with other options: %v, want ErrConflict", err)
	}
	// A unique index over duplicates already stored is refused.
	plain := newNotes(t, db, fakes.WithTable("plain"))
	for range 2 {
		if err := plain.Insert(t.Context(), &note{Title: "same"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := fakes.NewDocStore[note](db, fakes.WithTable("plain"), fakes.WithIndexes(fakes.Index{Fields: []string{"Title"}, Unique: true})); !errors.Is(err, ports.ErrConflict) {
		t.Errorf("a unique index over duplicates: %v, want ErrConflict", err)
	}
}

// Different models share a collection, and its unique indexes, as in
// MongoDB.
func TestDocStoreSharedCollection(t *testing.T) {
	ctx := t.Context()
	db := fakes.NewDB()
	closeOnCleanup(t, db)
	notes := newNotes(t, db, fakes.WithIndexes(fakes.Index{Fields: []string{"Title"}, Unique: true}))
	titles, err := fakes.NewDocStore[title](db, fakes.WithTable("notes"))
	if err != nil {
		t.Fatal(err)
	}
	n := &note{Title: "t", Rank: 3}
	if err := notes.Insert(ctx, n); err != nil {
		t.Fatal(err)
	}
	got, err := titles.Get(ctx, n.ID)
	if err != nil || got.Title != "t" {
		t.Fatalf("the other model reads %+v, %v", got, err)
	}
	if err := titles.Insert(ctx, &title{Title: "t"}); !errors.Is(err, ports.ErrConflict) {
		t.Errorf("a duplicate through the other model: %v, want ErrConflict (the index is the collection's)", err)
	}
	got.Title = "u"
	if err := titles.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	back, err := notes.Get(ctx, n.ID)
	if err != nil || back.Title != "u" || back.Rank != 3 {
		t.Errorf("after the other model's Update: %+v, %v; want rank 3 kept", back, err)
	}
}

// Documents in a transaction: private until commit, gone on rollback;
// a write outside that collides with a unique value the transaction wrote
// waits for it.
func TestDocStoreTransactions(t *testing.T) {
	ctx := t.Context()
	db := fakes.NewDB()
	closeOnCleanup(t, db)
	notes := newNotes(t, db, fakes.WithIndexes(fakes.Index{Fields: []string{"Title"}, Unique: true}))
	boom := errors.New("boom")
	err := db.WithinTx(ctx, func(ctx context.Context) error {
		if !db.InTx(ctx) {
			t.Error("InTx is false inside WithinTx")
		}
		if err := notes.Insert(ctx, &note{Title: "rolled back"}); err != nil {
			return err
		}
		n := 0
		for _, err := range notes.Stream(ctx, ports.All()) {
			if err != nil {
				return err
			}
			n++
		}
		if n != 1 {
			t.Errorf("Stream inside the transaction saw %d documents, want its own 1", n)
		}
		if c, _ := notes.Count(context.WithoutCancel(t.Context()), ports.All()); c != 0 {
			t.Errorf("outside the transaction Count = %d, want 0", c)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("WithinTx = %v", err)
	}
	if c, _ := notes.Count(ctx, ports.All()); c != 0 {
		t.Errorf("after rollback Count = %d, want 0", c)
	}

	inTx := make(chan struct{})
	commit := make(chan struct{})
	outside := make(chan error, 1)
	go func() {
		_ = db.WithinTx(ctx, func(ctx context.Context) error {
			if err := notes.Insert(ctx, &note{Title: "taken"}); err != nil {
				return err
			}
			close(inTx)
			<-commit
			return nil
		})
	}()
	<-inTx
	go func() { outside <- notes.Insert(ctx, &note{Title: "taken"}) }()
	close(commit)
	if err := <-outside; !errors.Is(err, ports.ErrConflict) {
		t.Errorf("a duplicate written outside the transaction that wrote it: %v, want ErrConflict after its commit", err)
	}
}

// Offset and limit never overflow (issue 11: the fakes panicked).
func TestDocStoreWindow(t *testing.T) {
	ctx := t.Context()
	db := fakes.NewDB()
	closeOnCleanup(t, db)
	notes := newNotes(t, db)
	for i := range 3 {
		if err := notes.Insert(ctx, &note{Title: "n", Rank: i}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := notes.Find(ctx, ports.All().Offset(1).Limit(math.MaxInt))
	if err != nil || len(got) != 2 {
		t.Errorf("Offset(1).Limit(MaxInt) = %d, %v; want 2", len(got), err)
	}
	got, err = notes.Find(ctx, ports.All().Offset(math.MaxInt).Limit(math.MaxInt))
	if err != nil || len(got) != 0 {
		t.Errorf("Offset(MaxInt) = %d, %v; want 0", len(got), err)
	}
}

// mgm's hooks run on the fake as on the adapter, on a copy: a refusing
// hook leaves the document as it was.
func TestDocStoreHooks(t *testing.T) {
	ctx := t.Context()
	db := fakes.NewDB()
	closeOnCleanup(t, db)
	notes := newNotes(t, db)
	var hooks []string
	n := &note{Title: "ok", hooks: &hooks}
	if err := notes.Insert(ctx, n); err != nil || len(hooks) != 1 {
		t.Fatalf("Insert = %v, hooks %v; want the creating hook run", err, hooks)
	}
	r := &note{Title: "refuse", hooks: &hooks}
	if err := notes.Insert(ctx, r); !errors.Is(err, ports.ErrInvalid) || r.ID != "" || !r.CreatedAt.IsZero() {
		t.Errorf("a refusing hook: %v, %+v; want ErrInvalid and the document untouched", err, r)
	}
}

// Faults and Close apply to the document store.
func TestDocStoreFaultsAndClose(t *testing.T) {
	ctx := t.Context()
	db := fakes.NewDB()
	notes := newNotes(t, db)
	notes.FailNext(1, ports.ErrConflict)
	if err := notes.Insert(ctx, &note{Title: "x"}); !errors.Is(err, ports.ErrConflict) {
		t.Errorf("FailNext(ErrConflict): %v", err)
	}
	db.SetUnavailable(true)
	if _, err := notes.Find(ctx, ports.All()); !errors.Is(err, ports.ErrUnavailable) {
		t.Errorf("unavailable DB: %v", err)
	}
	db.SetUnavailable(false)
	if err := db.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := notes.Get(ctx, "0123456789abcdef01234567"); !errors.Is(err, ports.ErrClosed) {
		t.Errorf("after the DB's Close: %v, want ErrClosed", err)
	}
}
