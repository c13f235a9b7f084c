package messaging_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/portkit/portkit/adapters/mysql"
	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/messaging"
	"github.com/portkit/portkit/ports"
)

func stable(serverID, id string) ports.Message {
	return ports.Message{ID: serverID, Data: []byte("x"), Attributes: map[string]string{messaging.AttrMessageID: id}}
}

func newDedupe(t *testing.T, cache ports.Cache, consumer string) messaging.Middleware {
	t.Helper()
	log, _ := newLogger()
	return must[messaging.Middleware](t)(messaging.Dedupe(messaging.DedupeConfig{
		Cache: cache, Consumer: consumer, Prefix: "pk_mg:dedupe:", Logger: log,
	}))
}

func TestDedupe(t *testing.T) {
	ctx := context.Background()
	cache := fakes.NewCache()
	defer cache.Close(ctx)
	var calls atomic.Int32
	handler := func(context.Context, ports.Message) error { calls.Add(1); return nil }
	h := newDedupe(t, cache, "projector")(handler)

	// A redelivery (same server ID) and a republication (new server ID,
	// same stable ID) are both duplicates.
	for _, m := range []ports.Message{stable("1", "A"), stable("1", "A"), stable("2", "A")} {
		if err := h(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("handled %d times, want 1", calls.Load())
	}
	// Another message, another consumer: handled.
	if err := h(ctx, stable("3", "B")); err != nil {
		t.Fatal(err)
	}
	if err := newDedupe(t, cache, "mailer")(handler)(ctx, stable("1", "A")); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 3 {
		t.Fatalf("handled %d times, want 3", calls.Load())
	}
	// Without a stable ID the server ID is the key.
	noID := ports.Message{ID: "9", Data: []byte("x")}
	_ = h(ctx, noID)
	_ = h(ctx, noID)
	if calls.Load() != 4 {
		t.Fatalf("handled %d times, want 4", calls.Load())
	}
	// With no key at all: handled every time.
	anon := ports.Message{Data: []byte("x")}
	_ = h(ctx, anon)
	_ = h(ctx, anon)
	if calls.Load() != 6 {
		t.Fatalf("handled %d times, want 6", calls.Load())
	}
}

func TestDedupeFailureReleasesTheClaim(t *testing.T) {
	ctx := context.Background()
	cache := fakes.NewCache()
	defer cache.Close(ctx)
	var calls atomic.Int32
	h := newDedupe(t, cache, "p")(func(context.Context, ports.Message) error {
		if calls.Add(1) == 1 {
			return errBoom
		}
		return nil
	})
	if err := h(ctx, stable("1", "A")); !errors.Is(err, errBoom) {
		t.Fatalf("err = %v", err)
	}
	if err := h(ctx, stable("1", "A")); err != nil || calls.Load() != 2 {
		t.Fatalf("redelivery: err = %v, calls %d; want handled again", err, calls.Load())
	}
	if err := h(ctx, stable("1", "A")); err != nil || calls.Load() != 2 {
		t.Fatalf("after success: calls %d, want 2", calls.Load())
	}
}

func TestDedupeConcurrentDeliveries(t *testing.T) {
	ctx := context.Background()
	cache := fakes.NewCache()
	defer cache.Close(ctx)
	entered, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	h := newDedupe(t, cache, "p")(func(context.Context, ports.Message) error {
		calls.Add(1)
		close(entered)
		<-release
		return nil
	})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = h(ctx, stable("1", "A")) }()
	<-entered
	err := h(ctx, stable("1", "A"))
	if !errors.Is(err, messaging.ErrInProgress) || !errors.Is(err, ports.ErrConflict) {
		t.Fatalf("second delivery while the first runs: err = %v, want ErrInProgress", err)
	}
	close(release)
	wg.Wait()
	if err := h(ctx, stable("1", "A")); err != nil || calls.Load() != 1 {
		t.Fatalf("after the first: err = %v, calls %d", err, calls.Load())
	}
}

func TestDedupeCacheDownNacks(t *testing.T) {
	ctx := context.Background()
	cache := fakes.NewCache()
	defer cache.Close(ctx)
	cache.SetUnavailable(true)
	var calls atomic.Int32
	h := newDedupe(t, cache, "p")(func(context.Context, ports.Message) error { calls.Add(1); return nil })
	if err := h(ctx, stable("1", "A")); !errors.Is(err, ports.ErrUnavailable) || calls.Load() != 0 {
		t.Fatalf("err = %v, calls %d; want ErrUnavailable without handling", err, calls.Load())
	}
}

func TestDedupeConfig(t *testing.T) {
	cache := fakes.NewCache()
	defer cache.Close(context.Background())
	for name, cfg := range map[string]messaging.DedupeConfig{
		"no cache":     {Consumer: "c"},
		"no consumer":  {Cache: cache},
		"negative TTL": {Cache: cache, Consumer: "c", TTL: -1},
	} {
		if _, err := messaging.Dedupe(cfg); !errors.Is(err, ports.ErrInvalid) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

// Effect is what the handlers under DedupeTx write.
type Effect struct {
	ID  int64
	Ref string
}

func TestDedupeTx(t *testing.T) {
	db := fakes.NewDB()
	defer db.Close(context.Background())
	processed := must[*fakes.SQLStore[messaging.Processed]](t)(fakes.NewSQLStore[messaging.Processed](db))
	effects := must[*fakes.SQLStore[Effect]](t)(fakes.NewSQLStore[Effect](db))
	testDedupeTx(t, db, processed, effects)
}

// TestDedupeTxOnMySQL runs the same case on the MySQL adapter (MYSQL_DSN),
// where the duplicate key fails one statement inside the transaction.
func TestDedupeTxOnMySQL(t *testing.T) {
	dsn := testenv.Env(t, "mysql", "MYSQL_DSN")
	ctx := context.Background()
	db, err := mysql.Open(ctx, mysql.Config{DSN: dsn}, mysql.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		testenv.Missing(t, "mysql", err.Error())
	}
	defer db.Close(ctx)
	prefix := testenv.UniqueName("pk_mg")
	processed := must[*mysql.Store[messaging.Processed]](t)(mysql.NewStore[messaging.Processed](db, mysql.WithTable(prefix+"_processed")))
	effects := must[*mysql.Store[Effect]](t)(mysql.NewStore[Effect](db, mysql.WithTable(prefix+"_effects")))
	for _, s := range []interface{ Migrate(context.Context) error }{processed, effects} {
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	defer func() { _ = db.DB().Migrator().DropTable(prefix+"_processed", prefix+"_effects") }()
	testDedupeTx(t, db, processed, effects)
}

func testDedupeTx(t *testing.T, db ports.Transactor, processed ports.SQLStore[messaging.Processed], effects ports.SQLStore[Effect]) {
	ctx := context.Background()
	mw := must[messaging.Middleware](t)(messaging.DedupeTx(messaging.DedupeTxConfig{Tx: db, Store: processed, Consumer: "projector"}))
	fail := false
	h := mw(func(ctx context.Context, m ports.Message) error {
		if !db.InTx(ctx) {
			t.Error("the handler runs outside the transaction")
		}
		if err := effects.Create(ctx, &Effect{Ref: messaging.MessageKey(m)}); err != nil {
			return err
		}
		if fail {
			return errBoom
		}
		return nil
	})
	count := func() (int64, int64) {
		e, err := effects.Count(ctx, ports.All())
		if err != nil {
			t.Fatal(err)
		}
		p, err := processed.Count(ctx, ports.All())
		if err != nil {
			t.Fatal(err)
		}
		return e, p
	}

	for _, m := range []ports.Message{stable("1", "A"), stable("1", "A"), stable("2", "A")} {
		if err := h(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if e, p := count(); e != 1 || p != 1 {
		t.Fatalf("effects %d, records %d; want 1 and 1", e, p)
	}
	if _, err := processed.Get(ctx, "projector/A"); err != nil {
		t.Fatalf("record: %v", err)
	}

	// A failing handler leaves neither its effect nor the record.
	fail = true
	if err := h(ctx, stable("3", "B")); !errors.Is(err, errBoom) {
		t.Fatalf("err = %v", err)
	}
	if e, p := count(); e != 1 || p != 1 {
		t.Fatalf("after a failure: effects %d, records %d; want 1 and 1", e, p)
	}
	fail = false
	if err := h(ctx, stable("3", "B")); err != nil {
		t.Fatal(err)
	}
	if e, p := count(); e != 2 || p != 2 {
		t.Fatalf("after the redelivery: effects %d, records %d; want 2 and 2", e, p)
	}
	// Two deliveries at once: the second waits for the first's record
	// (a row lock on MySQL, the transaction slot on the fake), then sees it.
	release := make(chan struct{})
	blocking := mw(func(ctx context.Context, m ports.Message) error {
		<-release
		return effects.Create(ctx, &Effect{Ref: messaging.MessageKey(m)})
	})
	results := make(chan error, 2)
	for range 2 {
		go func() { results <- blocking(ctx, stable("4", "C")) }()
	}
	close(release)
	for range 2 {
		if err := <-results; err != nil {
			t.Fatalf("concurrent delivery: %v", err)
		}
	}
	if e, p := count(); e != 3 || p != 3 {
		t.Fatalf("after two concurrent deliveries: effects %d, records %d; want 3 and 3", e, p)
	}
}

// conflictingStore's Create reports ErrConflict without a row: a deadlock.
type conflictingStore struct {
	ports.SQLStore[messaging.Processed]
}

func (conflictingStore) Create(context.Context, *messaging.Processed) error {
	return ports.NewError("x", "create", ports.ErrConflict, errors.New("deadlock found"))
}

func TestDedupeTxDeadlockIsNotADuplicate(t *testing.T) {
	ctx := context.Background()
	db := fakes.NewDB()
	defer db.Close(ctx)
	processed := must[*fakes.SQLStore[messaging.Processed]](t)(fakes.NewSQLStore[messaging.Processed](db))
	mw := must[messaging.Middleware](t)(messaging.DedupeTx(messaging.DedupeTxConfig{
		Tx: db, Store: conflictingStore{processed}, Consumer: "p"}))
	err := mw(func(context.Context, ports.Message) error { return nil })(ctx, stable("1", "A"))
	if err == nil || !errors.Is(err, ports.ErrConflict) {
		t.Fatalf("err = %v, want a nack", err)
	}
}

func TestDedupeTxConfig(t *testing.T) {
	db := fakes.NewDB()
	defer db.Close(context.Background())
	processed := must[*fakes.SQLStore[messaging.Processed]](t)(fakes.NewSQLStore[messaging.Processed](db))
	for name, cfg := range map[string]messaging.DedupeTxConfig{
		"no tx":         {Store: processed, Consumer: "c"},
		"no store":      {Tx: db, Consumer: "c"},
		"no consumer":   {Tx: db, Store: processed},
		"long consumer": {Tx: db, Store: processed, Consumer: string(make([]byte, 201))},
	} {
		if _, err := messaging.DedupeTx(cfg); !errors.Is(err, ports.ErrInvalid) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	if _, err := messaging.PruneProcessed(context.Background(), processed, 0); !errors.Is(err, ports.ErrInvalid) {
		t.Errorf("PruneProcessed(0): err = %v", err)
	}
}
