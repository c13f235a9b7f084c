package postgres

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/portkit/portkit/internal/gormstore/gormstoretest"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/ports/portstest"
)

// wantServerError checks that err has the kind and carries the server's
// SQLSTATE, and that its text quotes none of secrets (values of the
// statement).
func wantServerError(t *testing.T, what string, err error, kind error, code string, secrets ...string) {
	t.Helper()
	if ports.KindOf(err) != kind {
		t.Errorf("%s: %v, want %v", what, err, kind)
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != code {
		t.Errorf("%s: %v, want SQLSTATE %s reachable with errors.As", what, err, code)
	}
	for _, s := range secrets {
		if err != nil && strings.Contains(err.Error(), s) {
			t.Errorf("%s: the error quotes the value %q: %v", what, s, err)
		}
	}
}

// Server-side rejections are classified by their SQLSTATE, and their
// texts quote no value.
func TestServerErrorsAreClassified(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	// No such table: 42P01.
	missing, err := NewStore[portstest.Item](db, WithTable(testenv.UniqueName("pk_pg_missing")))
	if err != nil {
		t.Fatal(err)
	}
	_, err = missing.Get(ctx, int64(1))
	wantServerError(t, "Get from a missing table", err, ports.ErrInvalid, "42P01")
	_, err = missing.Find(ctx, ports.All())
	wantServerError(t, "Find in a missing table", err, ports.ErrInvalid, "42P01")
	wantServerError(t, "Create in a missing table", missing.Create(ctx, &portstest.Item{SKU: "x"}), ports.ErrInvalid, "42P01")

	// A table that lacks a column (42703) or holds a shorter one (22001).
	table := testenv.UniqueName("pk_pg_narrow")
	if err := db.DB().Exec("CREATE TABLE " + quoteIdent(table) + " (id bigserial PRIMARY KEY, name varchar(5))").Error; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropTable(t, table) })
	type wide struct {
		ID    int64
		Name  string `gorm:"size:100"`
		Extra int
	}
	type narrow struct {
		ID   int64
		Name string `gorm:"size:100"`
	}
	w, _ := NewStore[wide](db, WithTable(table))
	_, err = w.Find(ctx, ports.All())
	wantServerError(t, "Find of a column the table lacks", err, ports.ErrInvalid, "42703")
	n, _ := NewStore[narrow](db, WithTable(table))
	wantServerError(t, "Create of 10 characters in varchar(5)", n.Create(ctx, &narrow{Name: "0123456789"}), ports.ErrInvalid, "22001", "0123456789")

	// Statements past the store's own checks.
	raw := func(sql string, args ...any) error {
		return db.core.Wrap(ctx, "exec", db.DB().Exec(sql, args...).Error)
	}
	v := quoteIdent(table + "_v")
	if err := db.DB().Exec("CREATE TABLE " + v + " (id int PRIMARY KEY, t timestamptz, s text, i smallint, n int)").Error; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropTable(t, table+"_v") })
	wantServerError(t, "a text in an integer", raw("INSERT INTO "+v+" (id, n) VALUES (1, 'secret-abc')"), ports.ErrInvalid, "22P02", "secret-abc")
	wantServerError(t, "70000 in a smallint", raw("INSERT INTO "+v+" (id, i) VALUES (2, 70000)"), ports.ErrInvalid, "22003", "70000")
	// pgx refuses a parameter that does not fit the column's type itself.
	if err := raw("INSERT INTO "+v+" (id, i) VALUES (2, ?)", 70123); ports.KindOf(err) != ports.ErrInvalid || strings.Contains(err.Error(), "70123") {
		t.Errorf("70123 as a smallint parameter: %v, want ErrInvalid without the value", err)
	}
	wantServerError(t, "a NUL in text", raw("INSERT INTO "+v+" (id, s) VALUES (3, ?)", "a\x00b"), ports.ErrInvalid, "22021")
	wantServerError(t, "month 13", raw("INSERT INTO "+v+" (id, t) VALUES (4, '2024-13-01 00:00:00+00')"), ports.ErrInvalid, "22008")
	wantServerError(t, "a division by zero", raw("SELECT 1/0"), ports.ErrInvalid, "22012")
	wantServerError(t, "a syntax error", raw("SELEC 1"), ports.ErrInvalid, "42601")

	// A duplicate's value is in the server's Detail, which no text shows.
	s := newItemStore(t, db)
	a := portstest.Item{SKU: "dup-sku-secret"}
	if err := s.Create(ctx, &a); err != nil {
		t.Fatal(err)
	}
	wantServerError(t, "a duplicate unique value", s.Create(ctx, &portstest.Item{SKU: "dup-sku-secret"}), ports.ErrConflict, "23505", "dup-sku-secret")
	// LogParams shows the server's message as it is.
	dbp := openTest(t, Config{LogParams: true})
	np, _ := NewStore[narrow](dbp, WithTable(table))
	_ = np
	err = dbp.core.Wrap(ctx, "exec", dbp.DB().Exec("INSERT INTO "+v+" (id, n) VALUES (5, 'shown-abc')").Error)
	if !strings.Contains(err.Error(), "shown-abc") {
		t.Errorf("with LogParams the server's message is kept: %v", err)
	}
}

// What PostgreSQL would reject, or the port's portable rules forbid, is
// ErrInvalid before anything is sent, naming the field and not the
// value.
func TestPortableRulesBeforeSending(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	type vals struct {
		ID    int64
		S     string
		P     *string
		B     []byte
		F     float64
		Small int64 `gorm:"size:16"`
		Mid   int64 `gorm:"size:32"`
		U16   uint16
		U64   uint64
		At    time.Time
	}
	s := newTestStore[vals](t, db, "pk_pg_vals")
	nul := "x\x00y"
	bad := map[string]vals{
		"a NUL in a string":       {S: nul},
		"a NUL in a *string":      {P: &nul},
		"invalid UTF-8":           {S: "\xff\xfe"},
		"NaN":                     {F: math.NaN()},
		"+Inf":                    {F: math.Inf(1)},
		"40000 in a size:16 int":  {Small: 40000},
		"-40000 in a size:16 int": {Small: -40000},
		"1<<31 in a size:32 int":  {Mid: 1 << 31},
		"a uint64 over MaxInt64":  {U64: math.MaxInt64 + 1},
		"year 10000":              {At: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for what, v := range bad {
		err := s.Create(ctx, &v)
		if ports.KindOf(err) != ports.ErrInvalid {
			t.Errorf("%s: %v, want ErrInvalid", what, err)
		}
		var pe *pgconn.PgError
		if errors.As(err, &pe) {
			t.Errorf("%s: sent to the server (%v), want it refused before", what, err)
		}
	}
	// What PostgreSQL stores: a NUL in bytea, a uint16 over 32767 (an
	// integer column), MaxInt64 in a uint64, 32767 in a size:16 int.
	good := vals{B: []byte("a\x00b"), U16: math.MaxUint16, U64: math.MaxInt64, Small: math.MaxInt16, Mid: math.MinInt32}
	if err := s.Create(ctx, &good); err != nil {
		t.Fatalf("Create of values PostgreSQL stores: %v", err)
	}
	got, err := s.Get(ctx, good.ID)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.B) != "a\x00b" || got.U16 != math.MaxUint16 || got.U64 != math.MaxInt64 || got.Small != math.MaxInt16 || got.Mid != math.MinInt32 {
		t.Errorf("stored %+v, read back %+v", good, *got)
	}
	// Patch values pass the same rules.
	if err := s.Patch(ctx, good.ID, ports.Set("S", nul)); ports.KindOf(err) != ports.ErrInvalid {
		t.Errorf("Patch of a NUL: %v, want ErrInvalid", err)
	}
}

// Permission errors are ErrPermission, not retryable: a role without the
// grant (SET ROLE to it inside a transaction), a role that may not log
// in, a role that does not exist. A database that does not exist is
// ErrInvalid (the schema is missing). The machine's server trusts local
// connections, so a wrong password cannot be produced here.
func TestPermissionErrors(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	s := newItemStore(t, db)
	if err := s.Create(ctx, &portstest.Item{SKU: "x"}); err != nil {
		t.Fatal(err)
	}
	role := testenv.UniqueName("pk_pg_role")
	if err := db.DB().Exec("CREATE ROLE " + quoteIdent(role) + " NOLOGIN").Error; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = openTest(t, Config{}).DB().Exec("DROP ROLE IF EXISTS " + quoteIdent(role)).Error })
	err := db.WithinTx(ctx, func(ctx context.Context) error {
		if err := db.Conn(ctx).Exec("SET LOCAL ROLE " + quoteIdent(role)).Error; err != nil {
			return err
		}
		_, err := s.Find(ctx, ports.All())
		return err
	})
	wantServerError(t, "Find without the SELECT grant", err, ports.ErrPermission, "42501")

	open := func(user, database string) error {
		u := withParam(testURL(t), "user", user)
		if database != "" {
			u = withParam(u, "dbname", database)
		}
		octx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		d, err := Open(octx, Config{URL: u}, WithLogger(quietLog))
		if err == nil {
			_ = d.Close(ctx)
		}
		return err
	}
	wantServerError(t, "Open as a NOLOGIN role", open(role, ""), ports.ErrPermission, "28000")
	wantServerError(t, "Open as a role that does not exist", open("pk_pg_nobody_"+role[len(role)-6:], ""), ports.ErrPermission, "28000")
	wantServerError(t, "Open of a database that does not exist", open("postgres", "pk_pg_nodb_"+role[len(role)-6:]), ports.ErrInvalid, "3D000")
}

// A lock wait past lock_timeout is ErrUnavailable (retry later).
func TestLockTimeoutIsUnavailable(t *testing.T) {
	db := openTest(t, Config{})
	s := newItemStore(t, db)
	ctx := context.Background()
	it := portstest.Item{SKU: "locked"}
	if err := s.Create(ctx, &it); err != nil {
		t.Fatal(err)
	}
	locked := make(chan struct{})
	release := make(chan struct{})
	holder := make(chan error, 1)
	go func() {
		holder <- db.WithinTx(ctx, func(ctx context.Context) error {
			if err := s.Patch(ctx, it.ID, ports.Inc("Qty", 1)); err != nil {
				return err
			}
			close(locked)
			<-release
			return nil
		})
	}()
	<-locked
	err := db.WithinTx(ctx, func(ctx context.Context) error {
		if err := db.Conn(ctx).Exec("SET LOCAL lock_timeout = '50ms'").Error; err != nil {
			return err
		}
		return s.Patch(ctx, it.ID, ports.Inc("Qty", 1))
	})
	close(release)
	if err := <-holder; err != nil {
		t.Fatal(err)
	}
	wantServerError(t, "a lock wait past lock_timeout", err, ports.ErrUnavailable, "55P03")
	// A statement past statement_timeout: 57014, ErrUnavailable.
	err = db.WithinTx(ctx, func(ctx context.Context) error {
		if err := db.Conn(ctx).Exec("SET LOCAL statement_timeout = '50ms'").Error; err != nil {
			return err
		}
		return db.Conn(ctx).Exec("SELECT pg_sleep(5)").Error
	})
	wantServerError(t, "a statement past statement_timeout", db.core.Wrap(ctx, "exec", err), ports.ErrUnavailable, "57014")
}

// A connection the server terminates under a transaction is
// ErrUnavailable (57P01, or the lost connection).
func TestTerminatedConnectionIsUnavailable(t *testing.T) {
	db := openTest(t, Config{})
	admin := openTest(t, Config{})
	s := newItemStore(t, db)
	ctx := context.Background()
	err := db.WithinTx(ctx, func(ctx context.Context) error {
		var pid int
		if err := db.Conn(ctx).Raw("SELECT pg_backend_pid()").Scan(&pid).Error; err != nil {
			return err
		}
		if err := admin.DB().Exec("SELECT pg_terminate_backend(?)", pid).Error; err != nil {
			return err
		}
		return s.Create(ctx, &portstest.Item{SKU: "x"})
	})
	if ports.KindOf(err) != ports.ErrUnavailable {
		t.Errorf("a statement on a terminated connection: %v, want ErrUnavailable", err)
	}
	// The pool recovers.
	if err := s.Create(ctx, &portstest.Item{SKU: "y"}); err != nil {
		t.Errorf("Create after the termination: %v", err)
	}
}

func TestEntryRules(t *testing.T) { gormstoretest.EntryRules(t, kitEnv()) }
