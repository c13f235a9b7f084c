package fakes_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/ports"
)

// waitBound bounds waits for goroutines in these tests; they are promises
// that something happens, not timing measurements.
const waitBound = 10 * time.Second

func TestCacheExpiryFollowsClock(t *testing.T) {
	ctx := t.Context()
	clock := fakes.NewManualClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	c := fakes.NewCache(fakes.WithClock(clock))
	defer c.Close(ctx)

	if err := c.Set(ctx, "k", []byte("v"), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "n", []byte("1"), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	clock.Advance(9 * time.Second)
	if _, err := c.Get(ctx, "k"); err != nil {
		t.Fatalf("Get 1s before expiry: %v", err)
	}
	if n, err := c.Incr(ctx, "n", 1); err != nil || n != 2 {
		t.Fatalf("Incr before expiry = %d, %v, want 2", n, err)
	}
	clock.Advance(time.Second + time.Millisecond) // Redis: live at the expiry instant, gone 1ms past it
	if _, err := c.Get(ctx, "k"); !errors.Is(err, ports.ErrNotFound) {
		t.Fatalf("Get 1ms past the expiry instant: err %v, want ErrNotFound", err)
	}
	// Incr kept the TTL, so the counter expired too and restarts at 0.
	if n, err := c.Incr(ctx, "n", 1); err != nil || n != 1 {
		t.Fatalf("Incr after expiry = %d, %v, want 1", n, err)
	}
	// Moving the clock back does not resurrect a dropped entry but does
	// make a live one younger.
	if err := c.Set(ctx, "k2", []byte("v"), time.Second); err != nil {
		t.Fatal(err)
	}
	clock.Advance(-time.Hour)
	clock.Advance(time.Hour + 500*time.Millisecond)
	if _, err := c.Get(ctx, "k2"); err != nil {
		t.Fatalf("Get before expiry after moving the clock back and forth: %v", err)
	}
}

func TestCacheIncrRedisForms(t *testing.T) {
	ctx := t.Context()
	c := fakes.NewCache()
	defer c.Close(ctx)
	for _, v := range []string{"+5", "007", "-0", "1 ", "0x10"} {
		_ = c.Set(ctx, "k", []byte(v), 0)
		if _, err := c.Incr(ctx, "k", 1); !errors.Is(err, ports.ErrInvalid) {
			t.Errorf("Incr of %q: err %v, want ErrInvalid (Redis accepts only canonical integers)", v, err)
		}
	}
	_ = c.Set(ctx, "k", []byte("-7"), 0)
	if n, err := c.Incr(ctx, "k", 10); err != nil || n != 3 {
		t.Errorf("Incr of -7 by 10 = %d, %v, want 3", n, err)
	}
}

// faulty is what every fake offers for fault injection.
type faulty interface {
	ports.Connector
	SetUnavailable(bool)
	FailNext(int, error)
	Calls() int64
}

// fakeCase is one fake with a representative call.
type fakeCase struct {
	name string
	new  func(t *testing.T) (faulty, func(ctx context.Context) error)
}

func fakeCases() []fakeCase {
	return []fakeCase{
		{"Cache", func(t *testing.T) (faulty, func(context.Context) error) {
			c := fakes.NewCache()
			return c, func(ctx context.Context) error { return c.Set(ctx, "k", []byte("v"), 0) }
		}},
		{"DB", func(t *testing.T) (faulty, func(context.Context) error) {
			db := fakes.NewDB()
			return db, func(ctx context.Context) error {
				return db.WithinTx(ctx, func(context.Context) error { return nil })
			}
		}},
		{"SQLStore", func(t *testing.T) (faulty, func(context.Context) error) {
			s, err := fakes.NewSQLStore[Order](fakes.NewDB())
			if err != nil {
				t.Fatal(err)
			}
			return s, func(ctx context.Context) error { _, err := s.Count(ctx, ports.All()); return err }
		}},
		{"DocStore", func(t *testing.T) (faulty, func(context.Context) error) {
			s, err := fakes.NewDocStore[Audit](fakes.NewDB())
			if err != nil {
				t.Fatal(err)
			}
			return s, func(ctx context.Context) error { return s.Insert(ctx, &Audit{Action: "a"}) }
		}},
		{"PubSub", func(t *testing.T) (faulty, func(context.Context) error) {
			ps := fakes.NewPubSub()
			if err := ps.CreateTopic(t.Context(), "topic"); err != nil {
				t.Fatal(err)
			}
			return ps, func(ctx context.Context) error {
				_, err := ps.Publish(ctx, "topic", ports.Message{Data: []byte("x")})
				return err
			}
		}},
	}
}

func TestSetUnavailable(t *testing.T) {
	for _, fc := range fakeCases() {
		t.Run(fc.name, func(t *testing.T) {
			ctx := t.Context()
			f, call := fc.new(t)
			f.SetUnavailable(true)
			if err := f.Check(ctx); !errors.Is(err, ports.ErrUnavailable) {
				t.Errorf("Check while unavailable: %v, want ErrUnavailable", err)
			}
			if err := call(ctx); !errors.Is(err, ports.ErrUnavailable) {
				t.Errorf("call while unavailable: %v, want ErrUnavailable", err)
			}
			f.SetUnavailable(false)
			if err := f.Check(ctx); err != nil {
				t.Errorf("Check after SetUnavailable(false): %v", err)
			}
			if err := call(ctx); err != nil {
				t.Errorf("call after SetUnavailable(false): %v", err)
			}
			if err := f.Close(ctx); err != nil {
				t.Errorf("Close while faults are configured: %v", err)
			}
		})
	}
}

func TestFailNextCountsExactly(t *testing.T) {
	errDisk := errors.New("disk on fire")
	for _, fc := range fakeCases() {
		t.Run(fc.name, func(t *testing.T) {
			ctx := t.Context()
			f, call := fc.new(t)
			defer f.Close(ctx)
			before := f.Calls()
			f.FailNext(3, errDisk)
			for i := range 3 {
				err := call(ctx)
				if !errors.Is(err, errDisk) || !errors.Is(err, ports.ErrUnavailable) {
					t.Fatalf("call %d after FailNext(3): %v, want the injected error wrapped in ErrUnavailable", i+1, err)
				}
			}
			if err := call(ctx); err != nil {
				t.Fatalf("call 4 after FailNext(3): %v, want nil", err)
			}
			if got := f.Calls() - before; got != 4 {
				t.Errorf("Calls grew by %d over 4 calls", got)
			}
			// A sentinel becomes the error's kind.
			f.FailNext(1, ports.ErrConflict)
			if err := f.Check(ctx); !errors.Is(err, ports.ErrConflict) || errors.Is(err, ports.ErrUnavailable) {
				t.Errorf("Check after FailNext(1, ErrConflict): %v, want ErrConflict only", err)
			}
			if err := f.Check(ctx); err != nil {
				t.Errorf("second Check after FailNext(1, ...): %v", err)
			}
			// FailNext(0) cancels.
			f.FailNext(5, nil)
			f.FailNext(0, nil)
			if err := call(ctx); err != nil {
				t.Errorf("call after FailNext(0): %v", err)
			}
		})
	}
}

func TestFailNextConcurrentCountsExactly(t *testing.T) {
	ctx := t.Context()
	c := fakes.NewCache()
	defer c.Close(ctx)
	c.FailNext(100, nil)
	var failed atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				if _, err := c.Incr(ctx, "k"+strconv.Itoa(g*50+i), 1); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n != 100 {
		t.Errorf("%d of 400 concurrent calls failed after FailNext(100), want exactly 100", n)
	}
}

func TestClosedAndCancelled(t *testing.T) {
	for _, fc := range fakeCases() {
		t.Run(fc.name, func(t *testing.T) {
			f, call := fc.new(t)
			cancelled, cancel := context.WithCancel(t.Context())
			cancel()
			if err := call(cancelled); !errors.Is(err, context.Canceled) {
				t.Errorf("call with a cancelled context: %v, want it to wrap context.Canceled", err)
			}
			if err := f.Check(cancelled); !errors.Is(err, context.Canceled) {
				t.Errorf("Check with a cancelled context: %v, want it to wrap context.Canceled", err)
			}
			if err := f.Close(t.Context()); err != nil {
				t.Fatal(err)
			}
			if err := call(t.Context()); !errors.Is(err, ports.ErrClosed) {
				t.Errorf("call after Close: %v, want ErrClosed", err)
			}
			if err := f.Close(t.Context()); !errors.Is(err, ports.ErrClosed) {
				t.Errorf("second Close: %v, want ErrClosed", err)
			}
		})
	}
}

func TestNewSQLStoreRejectsBadModels(t *testing.T) {
	db := fakes.NewDB()
	defer db.Close(t.Context())
	if _, err := fakes.NewSQLStore[int](db); !errors.Is(err, ports.ErrInvalid) {
		t.Errorf("NewSQLStore[int]: %v, want ErrInvalid", err)
	}
	type noKey struct{ Name string }
	if _, err := fakes.NewSQLStore[noKey](db); !errors.Is(err, ports.ErrInvalid) {
		t.Errorf("NewSQLStore of a struct without key: %v, want ErrInvalid", err)
	}
	type tagged struct {
		Code string `gorm:"primaryKey"`
		ID   int
	}
	s, err := fakes.NewSQLStore[tagged](db)
	if err != nil {
		t.Fatalf("NewSQLStore with a tagged string key: %v", err)
	}
	ctx := t.Context()
	if err := s.Create(ctx, &tagged{Code: "x", ID: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, &tagged{Code: "x", ID: 2}); !errors.Is(err, ports.ErrConflict) {
		t.Errorf("Create of a duplicate tagged key: %v, want ErrConflict", err)
	}
	if got, err := s.Get(ctx, "x"); err != nil || got.ID != 1 {
		t.Errorf("Get by the tagged key = %+v, %v", got, err)
	}
	if _, err := s.Get(ctx, 1); !errors.Is(err, ports.ErrInvalid) {
		t.Errorf("Get with an int for a string key: %v, want ErrInvalid", err)
	}
	// The same name with another type is refused.
	type other struct{ ID int }
	if _, err := fakes.NewSQLStore[other](db, fakes.WithTable(s.Table())); !errors.Is(err, ports.ErrInvalid) {
		t.Errorf("NewSQLStore of another type on an existing table: %v, want ErrInvalid", err)
	}
}

func TestSQLStoreGormTimes(t *testing.T) {
	type row struct {
		ID        uint
		Name      string
		CreatedAt time.Time
		UpdatedAt time.Time
	}
	ctx := t.Context()
	clock := fakes.NewManualClock(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC))
	db := fakes.NewDB(fakes.WithClock(clock))
	defer db.Close(ctx)
	s, err := fakes.NewSQLStore[row](db)
	if err != nil {
		t.Fatal(err)
	}
	r := row{Name: "a"}
	if err := s.Create(ctx, &r); err != nil {
		t.Fatal(err)
	}
	t0 := clock.Now()
	if r.ID != 1 || !r.CreatedAt.Equal(t0) || !r.UpdatedAt.Equal(t0) {
		t.Fatalf("Create set %+v, want ID 1 and both times %v", r, t0)
	}
	clock.Advance(time.Hour)
	r.CreatedAt = time.Time{}
	if err := s.Update(ctx, &r); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, uint(1))
	if err != nil {
		t.Fatal(err)
	}
	if !got.CreatedAt.Equal(t0) || !got.UpdatedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("after Update: CreatedAt %v UpdatedAt %v, want %v and %v", got.CreatedAt, got.UpdatedAt, t0, t0.Add(time.Hour))
	}
}

func TestSQLStoreCopiesInAndOut(t *testing.T) {
	type row struct {
		ID   int
		Tags []string `gorm:"serializer:json"`
		Note *string
	}
	ctx := t.Context()
	db := fakes.NewDB()
	defer db.Close(ctx)
	s, err := fakes.NewSQLStore[row](db)
	if err != nil {
		t.Fatal(err)
	}
	note := "n"
	r := row{Tags: []string{"a"}, Note: &note}
	if err := s.Create(ctx, &r); err != nil {
		t.Fatal(err)
	}
	r.Tags[0], note = "X", "X"
	got, _ := s.Get(ctx, r.ID)
	got.Tags[0], *got.Note = "Y", "Y"
	found, _ := s.Find(ctx, ports.All())
	found[0].Tags[0], *found[0].Note = "Z", "Z"
	got, _ = s.Get(ctx, r.ID)
	if got.Tags[0] != "a" || *got.Note != "n" {
		t.Errorf("stored row changed through caller's slices or pointers: %+v %q", got.Tags, *got.Note)
	}
}

func TestRollbackUndoesAcrossStores(t *testing.T) {
	ctx := t.Context()
	db := fakes.NewDB()
	defer db.Close(ctx)
	orders, err := fakes.NewSQLStore[Order](db)
	if err != nil {
		t.Fatal(err)
	}
	audits, err := fakes.NewDocStore[Audit](db)
	if err != nil {
		t.Fatal(err)
	}
	kept := Order{Ref: "keep", Total: 1}
	if err := orders.Create(ctx, &kept); err != nil {
		t.Fatal(err)
	}
	keptAudit := Audit{Action: "keep"}
	if err := audits.Insert(ctx, &keptAudit); err != nil {
		t.Fatal(err)
	}
	errBoom := errors.New("boom")
	err = db.WithinTx(ctx, func(ctx context.Context) error {
		if err := orders.Create(ctx, &Order{Ref: "new"}); err != nil {
			return err
		}
		changed := kept
		changed.Total = 99
		if err := orders.Update(ctx, &changed); err != nil {
			return err
		}
		if err := audits.Delete(ctx, keptAudit.ID); err != nil {
			return err
		}
		if err := audits.Insert(ctx, &Audit{Action: "new"}); err != nil {
			return err
		}
		// Savepoint: the inner failure undoes only the inner work.
		_ = db.WithinTx(ctx, func(ctx context.Context) error {
			_ = orders.Delete(ctx, kept.ID)
			return errBoom
		})
		if _, err := orders.Get(ctx, kept.ID); err != nil {
			return fmt.Errorf("after a savepoint rollback: %w", err)
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("WithinTx: %v, want boom", err)
	}
	all, _ := orders.Find(ctx, ports.All())
	if len(all) != 1 || all[0].Total != 1 {
		t.Errorf("orders after rollback = %+v, want only the kept order, unchanged", all)
	}
	docs, _ := audits.Find(ctx, ports.All())
	if len(docs) != 1 || docs[0].ID != keptAudit.ID {
		t.Errorf("audits after rollback = %+v, want only the kept audit", docs)
	}
	// The unique value the rolled-back transaction used is free again.
	if err := orders.Create(ctx, &Order{Ref: "new"}); err != nil {
		t.Errorf("Create with the Ref of a rolled-back row: %v", err)
	}
}

func TestConcurrentTransactionsAreSerialized(t *testing.T) {
	ctx := t.Context()
	db := fakes.NewDB()
	defer db.Close(ctx)
	orders, err := fakes.NewSQLStore[Order](db)
	if err != nil {
		t.Fatal(err)
	}
	counter := Order{Ref: "counter"}
	if err := orders.Create(ctx, &counter); err != nil {
		t.Fatal(err)
	}
	var inside, overlaps atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := db.WithinTx(ctx, func(ctx context.Context) error {
				if inside.Add(1) > 1 {
					overlaps.Add(1)
				}
				defer inside.Add(-1)
				o, err := orders.Get(ctx, counter.ID)
				if err != nil {
					return err
				}
				o.Total++ // a read-modify-write that only serialization keeps exact
				return orders.Update(ctx, o)
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := overlaps.Load(); n != 0 {
		t.Errorf("%d transactions ran while another was running", n)
	}
	got, _ := orders.Get(ctx, counter.ID)
	if got.Total != 16 {
		t.Errorf("counter after 16 serialized increments = %d, want 16", got.Total)
	}
}

func TestIsolationOutsideTransaction(t *testing.T) {
	ctx := t.Context()
	db := fakes.NewDB(fakes.WithLockWait(waitBound))
	defer db.Close(ctx)
	orders, err := fakes.NewSQLStore[Order](db)
	if err != nil {
		t.Fatal(err)
	}
	row := Order{Ref: "r", Total: 1}
	if err := orders.Create(ctx, &row); err != nil {
		t.Fatal(err)
	}
	inTx := make(chan struct{})
	release := make(chan struct{})
	txDone := make(chan error, 1)
	go func() {
		txDone <- db.WithinTx(ctx, func(ctx context.Context) error {
			changed := row
			changed.Total = 2
			if err := orders.Update(ctx, &changed); err != nil {
				return err
			}
			if err := orders.Create(ctx, &Order{Ref: "pending"}); err != nil {
				return err
			}
			close(inTx)
			<-release
			return nil
		})
	}()
	<-inTx
	// Reads outside see only committed data and do not block.
	got, err := orders.Get(ctx, row.ID)
	if err != nil || got.Total != 1 {
		t.Errorf("Get outside the transaction = %+v, %v, want the committed Total 1", got, err)
	}
	if n, _ := orders.Count(ctx, ports.All()); n != 1 {
		t.Errorf("Count outside the transaction = %d, want 1", n)
	}
	// A write to a row the transaction holds waits for it: with a deadline
	// that ends first, it fails.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	other := row
	other.Total = 3
	if err := orders.Update(short, &other); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ports.ErrUnavailable) {
		t.Errorf("Update of a locked row with a short deadline: %v, want ErrUnavailable wrapping DeadlineExceeded", err)
	}
	// So does an insert of a unique value the transaction wrote.
	short2, cancel2 := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel2()
	if err := orders.Create(short2, &Order{Ref: "pending"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Create of a locked unique value with a short deadline: %v, want DeadlineExceeded", err)
	}
	// A write to another row goes through.
	if err := orders.Create(ctx, &Order{Ref: "free"}); err != nil {
		t.Errorf("Create of an unrelated row during the transaction: %v", err)
	}
	// A waiting writer proceeds once the transaction commits, and then sees
	// the committed unique value.
	waited := make(chan error, 1)
	go func() { waited <- orders.Create(ctx, &Order{Ref: "pending"}) }()
	close(release)
	if err := <-txDone; err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-waited:
		if !errors.Is(err, ports.ErrConflict) {
			t.Errorf("Create of the transaction's unique value after it committed: %v, want ErrConflict", err)
		}
	case <-time.After(waitBound):
		t.Fatal("a writer waiting for a lock was not released by the commit")
	}
	got, _ = orders.Get(ctx, row.ID)
	if got.Total != 2 {
		t.Errorf("Total after commit = %d, want 2", got.Total)
	}
}

func TestTransactionContextAfterEnd(t *testing.T) {
	ctx := t.Context()
	db := fakes.NewDB()
	defer db.Close(ctx)
	orders, err := fakes.NewSQLStore[Order](db)
	if err != nil {
		t.Fatal(err)
	}
	var leaked context.Context
	_ = db.WithinTx(ctx, func(ctx context.Context) error { leaked = ctx; return nil })
	if err := orders.Create(leaked, &Order{Ref: "late"}); !errors.Is(err, ports.ErrInvalid) {
		t.Errorf("Create with the context of an ended transaction: %v, want ErrInvalid", err)
	}
}

func TestDocStoreIDs(t *testing.T) {
	ctx := t.Context()
	start := time.Date(2025, 2, 3, 4, 5, 6, 789_123_456, time.FixedZone("X", 3600))
	clock := fakes.NewManualClock(start)
	db := fakes.NewDB(fakes.WithClock(clock))
	defer db.Close(ctx)
	s, err := fakes.NewDocStore[Audit](db)
	if err != nil {
		t.Fatal(err)
	}
	a := Audit{Action: "a"}
	if err := s.Insert(ctx, &a); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%08x", start.Unix()); a.ID[:8] != want {
		t.Errorf("ID %s does not start with the clock's seconds %s", a.ID, want)
	}
	if want := start.UTC().Truncate(time.Millisecond); a.CreatedAt != want {
		t.Errorf("CreatedAt %v, want %v (UTC, ms)", a.CreatedAt, want)
	}
	upper := Audit{Action: "u"}
	upper.ID = "ABCDEF0123456789ABCDEF01"
	// As on MongoDB (issue 12): upper-case hex is not an ObjectID's form.
	if err := s.Insert(ctx, &upper); !errors.Is(err, ports.ErrInvalid) || upper.ID != "ABCDEF0123456789ABCDEF01" {
		t.Errorf("Insert with an upper-case ID: %v, ID %q; want ErrInvalid and the ID untouched", err, upper.ID)
	}
	if _, err := s.Get(ctx, "ABCDEF0123456789ABCDEF01"); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("Get by an upper-case ID: %v, want ErrNotFound", err)
	}
	bad := Audit{Action: "b"}
	bad.ID = "xyz"
	if err := s.Insert(ctx, &bad); !errors.Is(err, ports.ErrInvalid) {
		t.Errorf("Insert with a malformed ID: %v, want ErrInvalid", err)
	}
}

func BenchmarkCacheGet(b *testing.B) {
	ctx := context.Background()
	c := fakes.NewCache()
	defer c.Close(ctx)
	if err := c.Set(ctx, "user:42", make([]byte, 64), 0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Get(ctx, "user:42"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCacheGetTTL(b *testing.B) {
	ctx := context.Background()
	c := fakes.NewCache()
	defer c.Close(ctx)
	if err := c.Set(ctx, "user:42", make([]byte, 64), time.Hour); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Get(ctx, "user:42"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCacheGetParallel(b *testing.B) {
	ctx := context.Background()
	c := fakes.NewCache()
	defer c.Close(ctx)
	for i := range 1024 {
		_ = c.Set(ctx, "k"+strconv.Itoa(i), make([]byte, 64), 0)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := c.Get(ctx, "k"+strconv.Itoa(i&1023)); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
