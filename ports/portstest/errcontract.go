package portstest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/portkit/portkit/ports"
)

// Wide is the SQL model of the error-contract suite's value cases: an
// unsigned integer (over MaxInt64 is ErrInvalid) and a string without a
// size (so a 17 MiB value reaches the server's own limit).
type Wide struct {
	ID   int64 `gorm:"primaryKey;autoIncrement"`
	U64  uint64
	Blob string
}

// WideDoc is the document model of the error-contract suite's value cases:
// a uint64, a map (whose keys follow MongoDB's rules) and a string for an
// over-16-MiB document.
type WideDoc struct {
	ports.Document `bson:",inline"`
	U64            uint64            `bson:"u64"`
	Meta           map[string]string `bson:"meta"`
	Blob           string            `bson:"blob"`
}

// ErrorSetup is what TestErrorContract's constructor returns: the ports of
// one implementation, fresh for each case, and how to produce the failures
// that need a server. Every part is optional; the cases of a missing part
// are skipped with its name.
type ErrorSetup struct {
	SQL    *SQLErrors
	Doc    *DocErrors
	Cache  *CacheErrors
	PubSub *PubSubErrors
	// DriverError reports whether err still wraps the backend's own error
	// (errors.As with the driver's error type, or a predicate): it is
	// checked on every failure the server reports (wrong credentials,
	// missing table, a value the server rejected). nil (a fake) skips the
	// check.
	DriverError func(err error) bool
	// Skip lists known failures (see Skips).
	Skip Skips
}

func (s ErrorSetup) skips() Skips { return s.Skip }

// SQLErrors is the SQL part of an ErrorSetup.
type SQLErrors struct {
	// Store is a store of Items on an empty table; Connector closes it
	// (the AfterClose cases close it).
	Store     ports.SQLStore[Item]
	Tx        ports.Transactor
	Connector ports.Connector
	// Wide, when set, returns a store of Wides on an empty table.
	Wide func(t *testing.T) ports.SQLStore[Wide]
	// BadCredentials, when set, opens with a wrong password (or a user
	// without grants) and returns the error of the open or, when it opened,
	// of a first Get.
	BadCredentials func(ctx context.Context) error
	// MissingTable, when set, returns a store of Items on a table that does
	// not exist (no Migrate).
	MissingTable func(t *testing.T) ports.SQLStore[Item]
	// UnsignedBigint: the backend stores a uint64 up to MaxUint64 (MySQL's
	// bigint unsigned); otherwise one over MaxInt64 must be ErrInvalid.
	UnsignedBigint bool
}

// DocErrors is the document part of an ErrorSetup.
type DocErrors struct {
	Store     ports.DocStore[Doc]
	Connector ports.Connector
	// Wide, when set, returns a store of WideDocs.
	Wide           func(t *testing.T) ports.DocStore[WideDoc]
	BadCredentials func(ctx context.Context) error
}

// CacheErrors is the cache part of an ErrorSetup.
type CacheErrors struct {
	Cache     ports.Cache
	Connector ports.Connector
	// BadCredentials, when set, opens with a wrong password and returns
	// the error of the open or of a first Get.
	BadCredentials func(ctx context.Context) error
	// HugeValues runs the value-over-MaxValueBytes case (it allocates
	// 512 MiB).
	HugeValues bool
}

// PubSubErrors is the messaging part of an ErrorSetup.
type PubSubErrors struct {
	Publisher  ports.Publisher
	Subscriber ports.Subscriber
	Connector  ports.Connector
	// Admin, when set, runs the EnsureSubscription validation cases.
	Admin ports.Admin
	// Provision creates a topic and subscriptions (see ProvisionFunc).
	Provision ProvisionFunc
	// BadCredentials, when set, opens with credentials the backend refuses
	// and returns the error of the open or of a first Publish.
	BadCredentials func(ctx context.Context) error
}

// TestErrorContract runs the error-contract suite: every case of
// [ErrorContractCases] as a parallel subtest of a subtest named
// "ErrorContract", on a fresh setup from newSetup. Each case provokes one
// failure and asserts that the error matches exactly one of ports.Kinds(),
// the one the classification table of package ports names, that the
// context's error stays reachable (errors.Is) when a context ended, and,
// with ErrorSetup.DriverError, that the backend's own error stays reachable
// when the server reported the failure.
//
// The cases, per part (a case whose part or setup hook is nil is skipped):
//   - every port: a cancelled context (ErrUnavailable and
//     context.Canceled) and an expired deadline (ErrUnavailable and
//     context.DeadlineExceeded) on every method; a nil context
//     (ErrInvalid, no panic) on every method; after Close, every method
//     with bad arguments too, and a second Close (ErrClosed, before
//     anything else); wrong credentials (ErrPermission);
//   - SQL: a missing table (ErrInvalid) on every method; a duplicate key
//     (ErrConflict) and an absent key (ErrNotFound); every portable value
//     rule (ErrInvalid): a string one character over its size, invalid
//     UTF-8, NaN, ±Inf, years 0 and 10000, a 17 MiB string, In with 70 000
//     values, a uint64 over MaxInt64 (Wide), a 17 MiB string in a column
//     without a size (Wide, with PacketLimit); a WithinTx whose deadline
//     passes inside fn (ErrUnavailable and context.DeadlineExceeded); fn
//     returning an error of an uncomparable type (returned as is, no
//     panic);
//   - documents: invalid UTF-8, NaN, ±Inf, a map key with '$' or '.', a
//     uint64 over MaxInt64 and an over-16-MiB document (Wide), a malformed
//     ID on Insert (ErrInvalid) and on Get (ErrNotFound);
//   - cache: an empty key, a negative TTL, a value over MaxValueBytes
//     (HugeValues);
//   - messaging: an unknown topic (Publish) and subscription (Subscribe):
//     ErrNotFound; every ValidateMessage rule (ErrInvalid, nothing sent);
//     Subscribe with a done context: ErrUnavailable, even for an unknown
//     subscription; EnsureSubscription with a config that fails Validate
//     (ErrInvalid).
func TestErrorContract(t *testing.T, newSetup func(t *testing.T) ErrorSetup) {
	t.Helper()
	runCases(t, "ErrorContract", errorCases(), newSetup)
}

// ErrorContractCases returns the names of the cases TestErrorContract
// runs, in order.
func ErrorContractCases() []string { return names(errorCases()) }

// wantOnly checks that err matches exactly one sentinel, want; ctxErr, when
// set, must be reachable too; server, when set, checks that the driver's
// error is reachable with the setup's DriverError.
func wantOnly(t *testing.T, what string, err, want error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: got nil, want %s", what, sentinelName(want))
		return
	}
	var matched []string
	for _, k := range ports.Kinds() {
		if errors.Is(err, k) {
			matched = append(matched, sentinelName(k))
		}
	}
	switch {
	case len(matched) == 0:
		t.Errorf("%s: got %v, which matches no sentinel of ports.Kinds(); want %s", what, err, sentinelName(want))
	case len(matched) > 1:
		t.Errorf("%s: got %v, which matches %s; want exactly one sentinel, %s", what, err, strings.Join(matched, " and "), sentinelName(want))
	case !errors.Is(err, want):
		t.Errorf("%s: got %v (%s), want %s", what, err, matched[0], sentinelName(want))
	}
	if strings.Contains(err.Error(), "\x00") {
		t.Errorf("%s: the error text holds a NUL byte", what)
	}
}

// wantServer is wantOnly for a failure the server reports: the driver's
// error must stay reachable.
func wantServer(t *testing.T, s ErrorSetup, what string, err, want error) {
	t.Helper()
	wantOnly(t, what, err, want)
	if err != nil && s.DriverError != nil && !s.DriverError(err) {
		t.Errorf("%s: the backend's own error is not reachable with errors.As in %v", what, err)
	}
}

// noPanic runs fn and turns a panic into a failure.
func noPanic(t *testing.T, what string, fn func() error) (err error) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Errorf("%s panicked: %v", what, p)
			err = errors.New("panicked")
		}
	}()
	return fn()
}

// call is one method call of a port, made with the given context.
type call struct {
	name string
	fn   func(ctx context.Context) error
}

// ctxCases runs every call with a cancelled context, an expired deadline
// and a nil context.
func ctxCases(t *testing.T, calls []call) {
	t.Helper()
	for _, c := range calls {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var err error
		if prompt(t, c.name+" with a cancelled context", promptBound, func() { err = noPanic(t, c.name, func() error { return c.fn(ctx) }) }) {
			wantOnly(t, c.name+" with a cancelled context", err, ports.ErrUnavailable)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s with a cancelled context: %v does not wrap context.Canceled", c.name, err)
			}
		}
		dctx, dcancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		if prompt(t, c.name+" with an expired deadline", promptBound, func() { err = noPanic(t, c.name, func() error { return c.fn(dctx) }) }) {
			wantOnly(t, c.name+" with an expired deadline", err, ports.ErrUnavailable)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s with an expired deadline: %v does not wrap context.DeadlineExceeded", c.name, err)
			}
		}
		dcancel()
		if prompt(t, c.name+" with a nil context", promptBound, func() { err = noPanic(t, c.name, func() error { return c.fn(nil) }) }) {
			wantOnly(t, c.name+" with a nil context", err, ports.ErrInvalid)
		}
	}
}

// closedCases closes conn, then runs every call, which must return
// ErrClosed, and a second Close.
func closedCases(t *testing.T, conn ports.Connector, calls []call) {
	t.Helper()
	if conn == nil {
		t.Skip("no Connector")
	}
	closeConn(t, conn)
	ctx := caseCtx(t)
	for _, c := range calls {
		err := noPanic(t, c.name, func() error { return c.fn(ctx) })
		wantOnly(t, c.name+" after Close", err, ports.ErrClosed)
		err = noPanic(t, c.name, func() error { return c.fn(nil) })
		wantOnly(t, c.name+" after Close with a nil context (ErrClosed comes first)", err, ports.ErrClosed)
	}
	wantOnly(t, "Check after Close", conn.Check(ctx), ports.ErrClosed)
	wantOnly(t, "second Close", conn.Close(ctx), ports.ErrClosed)
}

// badCredentials runs the wrong-credentials case with open.
func badCredentials(t *testing.T, s ErrorSetup, open func(ctx context.Context) error) {
	t.Helper()
	if open == nil {
		t.Skip("no BadCredentials in the setup")
	}
	ctx := caseCtx(t)
	var err error
	if prompt(t, "open with wrong credentials", 30*time.Second, func() { err = open(ctx) }) {
		wantServer(t, s, "open with wrong credentials", err, ports.ErrPermission)
	}
}

func sqlCalls(st ports.SQLStore[Item], tx ports.Transactor, bad bool) []call {
	id := any(int64(1))
	it := &Item{ID: 1, SKU: "x", CreatedAt: sqlT0}
	q := ports.All()
	if bad { // arguments that are themselves invalid: ErrClosed still comes first
		id, it, q = nil, nil, ports.Where("Nope", ports.Eq, 1)
	}
	calls := []call{
		{"Create", func(ctx context.Context) error { return st.Create(ctx, it) }},
		{"CreateMany", func(ctx context.Context) error { return st.CreateMany(ctx, []*Item{it}) }},
		{"Get", func(ctx context.Context) error { _, err := st.Get(ctx, id); return err }},
		{"Find", func(ctx context.Context) error { _, err := st.Find(ctx, q); return err }},
		{"Stream", func(ctx context.Context) error { return streamErr(st.Stream(ctx, q)) }},
		{"FindPage", func(ctx context.Context) error { _, err := st.FindPage(ctx, q.Limit(2), ""); return err }},
		{"Count", func(ctx context.Context) error { _, err := st.Count(ctx, q); return err }},
		{"Update", func(ctx context.Context) error { return st.Update(ctx, it) }},
		{"Patch", func(ctx context.Context) error { return st.Patch(ctx, id, ports.Set("Name", "x")) }},
		{"Upsert", func(ctx context.Context) error { return st.Upsert(ctx, it) }},
		{"Delete", func(ctx context.Context) error { return st.Delete(ctx, id) }},
		{"DeleteWhere", func(ctx context.Context) error {
			_, err := st.DeleteWhere(ctx, ports.Where("Qty", ports.Eq, 1))
			return err
		}},
	}
	if tx != nil {
		calls = append(calls, call{"WithinTx", func(ctx context.Context) error {
			return tx.WithinTx(ctx, func(context.Context) error { return nil })
		}})
	}
	return calls
}

// streamErr drains a stream and returns its error.
func streamErr[T any](seq func(yield func(T, error) bool)) error {
	var out error
	for _, err := range seq {
		if err != nil {
			out = err
			break
		}
	}
	return out
}

func docCalls(st ports.DocStore[Doc], bad bool) []call {
	id := newObjectIDHex()
	d := &Doc{Title: "x"}
	q := ports.All()
	if bad {
		id, d, q = "", nil, ports.Where("Nope", ports.Eq, 1)
	}
	return []call{
		{"Insert", func(ctx context.Context) error { return st.Insert(ctx, d) }},
		{"InsertMany", func(ctx context.Context) error { return st.InsertMany(ctx, []*Doc{d}) }},
		{"Get", func(ctx context.Context) error { _, err := st.Get(ctx, id); return err }},
		{"Find", func(ctx context.Context) error { _, err := st.Find(ctx, q); return err }},
		{"Stream", func(ctx context.Context) error { return streamErr(st.Stream(ctx, q)) }},
		{"FindPage", func(ctx context.Context) error { _, err := st.FindPage(ctx, q.Limit(2), ""); return err }},
		{"Count", func(ctx context.Context) error { _, err := st.Count(ctx, q); return err }},
		{"Update", func(ctx context.Context) error { return st.Update(ctx, d) }},
		{"Patch", func(ctx context.Context) error { return st.Patch(ctx, id, ports.Set("Title", "x")) }},
		{"Upsert", func(ctx context.Context) error { return st.Upsert(ctx, d) }},
		{"Delete", func(ctx context.Context) error { return st.Delete(ctx, id) }},
		{"DeleteWhere", func(ctx context.Context) error {
			_, err := st.DeleteWhere(ctx, ports.Where("Rank", ports.Eq, 1))
			return err
		}},
	}
}

func cacheCalls(c ports.Cache, bad bool) []call {
	k := "portstest:errors:" + randomHex(4)
	ttl := time.Minute
	if bad {
		k, ttl = "", -time.Second
	}
	return []call{
		{"Get", func(ctx context.Context) error { _, err := c.Get(ctx, k); return err }},
		{"GetMany", func(ctx context.Context) error { _, err := c.GetMany(ctx, k); return err }},
		{"Set", func(ctx context.Context) error { return c.Set(ctx, k, []byte("v"), ttl) }},
		{"SetNX", func(ctx context.Context) error { _, err := c.SetNX(ctx, k, []byte("v"), ttl); return err }},
		{"Delete", func(ctx context.Context) error { return c.Delete(ctx, k) }},
		{"Incr", func(ctx context.Context) error { _, err := c.Incr(ctx, k, 1); return err }},
	}
}

func pubsubCalls(p *PubSubErrors, topic, sub string, bad bool) []call {
	m := ports.Message{Data: []byte("x")}
	if bad {
		m = ports.Message{}
	}
	calls := []call{
		{"Publish", func(ctx context.Context) error { _, err := p.Publisher.Publish(ctx, topic, m); return err }},
		{"Subscribe", func(ctx context.Context) error {
			return p.Subscriber.Subscribe(ctx, sub, func(context.Context, ports.Message) error { return nil })
		}},
	}
	if bad {
		calls = append(calls, call{"Publish of no message", func(ctx context.Context) error { _, err := p.Publisher.Publish(ctx, topic); return err }})
	}
	if p.Admin != nil {
		cfg := ports.SubscriptionConfig{Topic: topic}
		if bad {
			cfg = ports.SubscriptionConfig{}
		}
		calls = append(calls,
			call{"EnsureTopic", func(ctx context.Context) error { return p.Admin.EnsureTopic(ctx, topic) }},
			call{"EnsureSubscription", func(ctx context.Context) error { return p.Admin.EnsureSubscription(ctx, sub, cfg) }})
	}
	return calls
}

func connCalls(c ports.Connector) []call {
	if c == nil {
		return nil
	}
	return []call{{"Check", c.Check}}
}

// uncomparable is an error type that == cannot compare (a slice).
type uncomparable []string

func (u uncomparable) Error() string { return "uncomparable: " + strings.Join(u, ",") }

func errorCases() []testCase[ErrorSetup] {
	needSQL := func(t *testing.T, s ErrorSetup) *SQLErrors {
		t.Helper()
		if s.SQL == nil {
			t.Skip("ErrorSetup.SQL is nil")
		}
		return s.SQL
	}
	needDoc := func(t *testing.T, s ErrorSetup) *DocErrors {
		t.Helper()
		if s.Doc == nil {
			t.Skip("ErrorSetup.Doc is nil")
		}
		return s.Doc
	}
	needCache := func(t *testing.T, s ErrorSetup) *CacheErrors {
		t.Helper()
		if s.Cache == nil {
			t.Skip("ErrorSetup.Cache is nil")
		}
		return s.Cache
	}
	needPS := func(t *testing.T, s ErrorSetup) *PubSubErrors {
		t.Helper()
		if s.PubSub == nil {
			t.Skip("ErrorSetup.PubSub is nil")
		}
		return s.PubSub
	}
	sqlValue := func(name string, mutate func(it *Item)) testCase[ErrorSetup] {
		return testCase[ErrorSetup]{"SQLValue" + name, func(t *testing.T, s ErrorSetup) {
			x := needSQL(t, s)
			ctx := caseCtx(t)
			it := newItem("v")
			mutate(&it)
			before := it
			err := noPanic(t, "Create", func() error { return x.Store.Create(ctx, &it) })
			wantOnly(t, "Create of an Item with "+name, err, ports.ErrInvalid)
			if d := itemDiff(it, before); d != "" || it.CreatedAt != before.CreatedAt {
				t.Errorf("a failed Create changed its entity: %s", d)
			}
			ok := newItem("ok")
			wantNoErr(t, "Create", x.Store.Create(ctx, &ok))
			mutate(&ok)
			if strings.HasPrefix(name, "Year") {
				// The rules apply to the columns a write sends, and Update
				// never writes CreatedAt (Item's only time): it succeeds,
				// and the stored CreatedAt stays.
				wantNoErr(t, "Update with "+name+" in CreatedAt, which Update does not write", x.Store.Update(ctx, &ok))
			} else {
				wantOnly(t, "Update to an Item with "+name, x.Store.Update(ctx, &ok), ports.ErrInvalid)
			}
			bad := before
			bad.SKU = "v-many"
			wantOnly(t, "CreateMany with an Item with "+name, x.Store.CreateMany(ctx, []*Item{ptr(newItem("w")), &bad}), ports.ErrInvalid)
			if n := countOf(t, ctx, x.Store, "Count", ports.All()); n != 1 {
				t.Errorf("after the rejected writes Count = %d, want 1", n)
			}
		}}
	}
	docValue := func(name string, mutate func(d *Doc)) testCase[ErrorSetup] {
		return testCase[ErrorSetup]{"DocValue" + name, func(t *testing.T, s ErrorSetup) {
			x := needDoc(t, s)
			ctx := caseCtx(t)
			d := newDoc("v")
			mutate(&d)
			before := d
			err := noPanic(t, "Insert", func() error { return x.Store.Insert(ctx, &d) })
			wantOnly(t, "Insert of a Doc with "+name, err, ports.ErrInvalid)
			if diff := docDiff(d, before); diff != "" {
				t.Errorf("a failed Insert changed its document: %s", diff)
			}
			if n := countOf(t, ctx, x.Store, "Count", ports.All()); n != 0 {
				t.Errorf("after the rejected Insert Count = %d, want 0", n)
			}
		}}
	}
	huge := strings.Repeat("x", 17<<20)
	return []testCase[ErrorSetup]{
		// SQL
		{"SQLContext", func(t *testing.T, s ErrorSetup) {
			x := needSQL(t, s)
			ctxCases(t, append(sqlCalls(x.Store, x.Tx, false), connCalls(x.Connector)...))
		}},
		{"SQLAfterClose", func(t *testing.T, s ErrorSetup) {
			x := needSQL(t, s)
			closedCases(t, x.Connector, append(sqlCalls(x.Store, x.Tx, false), sqlCalls(x.Store, x.Tx, true)...))
		}},
		{"SQLWrongCredentials", func(t *testing.T, s ErrorSetup) { badCredentials(t, s, needSQL(t, s).BadCredentials) }},
		{"SQLMissingTable", func(t *testing.T, s ErrorSetup) {
			x := needSQL(t, s)
			if x.MissingTable == nil {
				t.Skip("no MissingTable in the setup")
			}
			st := x.MissingTable(t)
			ctx := caseCtx(t)
			for _, c := range sqlCalls(st, nil, false) {
				wantServer(t, s, c.name+" on a missing table", noPanic(t, c.name, func() error { return c.fn(ctx) }), ports.ErrInvalid)
			}
		}},
		{"SQLConflictAndNotFound", func(t *testing.T, s ErrorSetup) {
			x := needSQL(t, s)
			ctx := caseCtx(t)
			a := newItem("a")
			wantNoErr(t, "Create", x.Store.Create(ctx, &a))
			dup := newItem("b")
			dup.ID = a.ID
			wantOnly(t, "Create with a duplicate primary key", x.Store.Create(ctx, &dup), ports.ErrConflict)
			_, err := x.Store.Get(ctx, a.ID+1000)
			wantOnly(t, "Get of an absent key", err, ports.ErrNotFound)
			wantOnly(t, "Delete of an absent key", x.Store.Delete(ctx, a.ID+1000), ports.ErrNotFound)
			wantOnly(t, "Find of an unknown field", func() error { _, err := x.Store.Find(ctx, ports.Where("Nope", ports.Eq, 1)); return err }(), ports.ErrInvalid)
		}},
		sqlValue("TooLong", func(it *Item) { it.Name = strings.Repeat("é", 129) }),
		sqlValue("InvalidUTF8", func(it *Item) { it.Name = "a\xff\xfe" }),
		sqlValue("InvalidUTF8Pointer", func(it *Item) { it.Note = strPtr("\xc3") }),
		sqlValue("NaN", func(it *Item) { it.Price = math.NaN() }),
		sqlValue("PlusInf", func(it *Item) { it.Price = math.Inf(1) }),
		sqlValue("MinusInf", func(it *Item) { it.Price = math.Inf(-1) }),
		sqlValue("Year0", func(it *Item) { it.CreatedAt = time.Date(0, 6, 1, 0, 0, 0, 0, time.UTC) }),
		sqlValue("Year10000", func(it *Item) { it.CreatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }),
		sqlValue("Huge", func(it *Item) { it.Note = &huge }),
		{"SQLInTooMany", func(t *testing.T, s ErrorSetup) {
			x := needSQL(t, s)
			ctx := caseCtx(t)
			vals := make([]int, 70000)
			for i := range vals {
				vals[i] = i
			}
			_, err := x.Store.Find(ctx, ports.Where("Qty", ports.In, vals))
			wantOnly(t, "Find with In of 70 000 values", err, ports.ErrInvalid)
			_, err = x.Store.Count(ctx, ports.Where("Qty", ports.In, vals))
			wantOnly(t, "Count with In of 70 000 values", err, ports.ErrInvalid)
		}},
		{"SQLWideValues", func(t *testing.T, s ErrorSetup) {
			x := needSQL(t, s)
			if x.Wide == nil {
				t.Skip("no Wide in the setup")
			}
			st := x.Wide(t)
			ctx := caseCtx(t)
			w := Wide{U64: 1<<63 + 1}
			if x.UnsignedBigint {
				wantNoErr(t, "Create of a uint64 over MaxInt64 (bigint unsigned)", st.Create(ctx, &w))
			} else {
				wantOnly(t, "Create of a uint64 over MaxInt64", st.Create(ctx, &w), ports.ErrInvalid)
			}
			// A column without a size holds at most 16 MiB, a portable
			// rule (MySQL's max_allowed_packet): refused before sending.
			w = Wide{Blob: strings.Repeat("y", 17<<20)}
			wantOnly(t, "Create of a 17 MiB string into a column without a size", st.Create(ctx, &w), ports.ErrInvalid)
			ok := Wide{U64: math.MaxInt64}
			wantNoErr(t, "Create of MaxInt64", st.Create(ctx, &ok))
		}},
		{"SQLTxDeadline", func(t *testing.T, s ErrorSetup) {
			x := needSQL(t, s)
			if x.Tx == nil {
				t.Skip("no Tx")
			}
			ctx, cancel := context.WithTimeout(caseCtx(t), 300*time.Millisecond)
			defer cancel()
			var err error
			prompt(t, "WithinTx whose deadline passes inside fn", 10*time.Second, func() {
				err = x.Tx.WithinTx(ctx, func(ctx context.Context) error {
					it := newItem("tx")
					if err := x.Store.Create(ctx, &it); err != nil {
						return err
					}
					<-ctx.Done()
					return nil
				})
			})
			wantOnly(t, "WithinTx whose deadline passed inside fn", err, ports.ErrUnavailable)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("WithinTx whose deadline passed inside fn: %v does not wrap context.DeadlineExceeded", err)
			}
		}},
		{"SQLTxUncomparableError", func(t *testing.T, s ErrorSetup) {
			x := needSQL(t, s)
			if x.Tx == nil {
				t.Skip("no Tx")
			}
			ctx := caseCtx(t)
			want := uncomparable{"a", "b"}
			err := noPanic(t, "WithinTx", func() error {
				return x.Tx.WithinTx(ctx, func(context.Context) error { return want })
			})
			var got uncomparable
			if !errors.As(err, &got) || len(got) != 2 {
				t.Errorf("WithinTx with fn returning an uncomparable error: got %v, want that error", err)
			}
		}},
		// Documents
		{"DocContext", func(t *testing.T, s ErrorSetup) {
			x := needDoc(t, s)
			ctxCases(t, append(docCalls(x.Store, false), connCalls(x.Connector)...))
		}},
		{"DocAfterClose", func(t *testing.T, s ErrorSetup) {
			x := needDoc(t, s)
			closedCases(t, x.Connector, append(docCalls(x.Store, false), docCalls(x.Store, true)...))
		}},
		{"DocWrongCredentials", func(t *testing.T, s ErrorSetup) { badCredentials(t, s, needDoc(t, s).BadCredentials) }},
		docValue("InvalidUTF8", func(d *Doc) { d.Title = "a\xff" }),
		docValue("InvalidUTF8Nested", func(d *Doc) { d.Author.Name = "\xfe" }),
		docValue("InvalidUTF8Slice", func(d *Doc) { d.Tags = []string{"ok", "\xff"} }),
		docValue("NaN", func(d *Doc) { d.Score = math.NaN() }),
		docValue("Inf", func(d *Doc) { d.Score = math.Inf(-1) }),
		docValue("UpperCaseID", func(d *Doc) { d.ID = strings.ToUpper(newObjectIDHex()) }),
		docValue("MalformedID", func(d *Doc) { d.ID = "nope" }),
		{"DocGetMalformedID", func(t *testing.T, s ErrorSetup) {
			x := needDoc(t, s)
			ctx := caseCtx(t)
			for _, id := range malformedIDs {
				_, err := x.Store.Get(ctx, id)
				wantOnly(t, fmt.Sprintf("Get(%q)", id), err, ports.ErrNotFound)
				wantOnly(t, fmt.Sprintf("Delete(%q)", id), x.Store.Delete(ctx, id), ports.ErrNotFound)
			}
		}},
		{"DocWideValues", func(t *testing.T, s ErrorSetup) {
			x := needDoc(t, s)
			if x.Wide == nil {
				t.Skip("no Wide in the setup")
			}
			st := x.Wide(t)
			ctx := caseCtx(t)
			for _, c := range []struct {
				what string
				d    WideDoc
			}{
				{"a uint64 over MaxInt64", WideDoc{U64: 1<<63 + 1}},
				{"a map key starting with $", WideDoc{Meta: map[string]string{"$where": "1"}}},
				{"a map key with a dot", WideDoc{Meta: map[string]string{"a.b": "1"}}},
				{"an empty map key", WideDoc{Meta: map[string]string{"": "1"}}},
				{"an over-16-MiB document", WideDoc{Blob: strings.Repeat("z", 16<<20+1)}},
			} {
				d := c.d
				wantOnly(t, "Insert of "+c.what, noPanic(t, "Insert", func() error { return st.Insert(ctx, &d) }), ports.ErrInvalid)
				if d.ID != "" {
					t.Errorf("a failed Insert of %s set the ID %q", c.what, d.ID)
				}
			}
			if n := countOf(t, ctx, st, "Count", ports.All()); n != 0 {
				t.Errorf("after the rejected Inserts Count = %d, want 0", n)
			}
		}},
		// Cache
		{"CacheContext", func(t *testing.T, s ErrorSetup) {
			x := needCache(t, s)
			ctxCases(t, append(cacheCalls(x.Cache, false), connCalls(x.Connector)...))
		}},
		{"CacheAfterClose", func(t *testing.T, s ErrorSetup) {
			x := needCache(t, s)
			closedCases(t, x.Connector, append(cacheCalls(x.Cache, false), cacheCalls(x.Cache, true)...))
		}},
		{"CacheWrongCredentials", func(t *testing.T, s ErrorSetup) { badCredentials(t, s, needCache(t, s).BadCredentials) }},
		{"CacheBadArguments", func(t *testing.T, s ErrorSetup) {
			x := needCache(t, s)
			ctx := caseCtx(t)
			for _, c := range cacheCalls(x.Cache, true) {
				wantOnly(t, c.name+" with an empty key (and a negative TTL)", c.fn(ctx), ports.ErrInvalid)
			}
			k := "portstest:errors:" + randomHex(4)
			wantOnly(t, "Set with a negative TTL", x.Cache.Set(ctx, k, []byte("v"), -time.Millisecond), ports.ErrInvalid)
			wantOnly(t, "GetMany with an empty key among others", func() error { _, err := x.Cache.GetMany(ctx, k, ""); return err }(), ports.ErrInvalid)
			wantOnly(t, "Delete with an empty key among others", x.Cache.Delete(ctx, k, ""), ports.ErrInvalid)
		}},
		{"CacheHugeValue", func(t *testing.T, s ErrorSetup) {
			x := needCache(t, s)
			if !x.HugeValues {
				t.Skip("needs CacheErrors.HugeValues (allocates 512 MiB)")
			}
			ctx := caseCtx(t)
			k := "portstest:errors:" + randomHex(4)
			v := make([]byte, ports.MaxValueBytes+1)
			wantOnly(t, "Set of a value over MaxValueBytes", x.Cache.Set(ctx, k, v, 0), ports.ErrInvalid)
			_, err := x.Cache.SetNX(ctx, k, v, 0)
			wantOnly(t, "SetNX of a value over MaxValueBytes", err, ports.ErrInvalid)
			_, err = x.Cache.Get(ctx, k)
			wantOnly(t, "Get after the rejected writes", err, ports.ErrNotFound)
		}},
		// Pub/Sub
		{"PubSubContext", func(t *testing.T, s ErrorSetup) {
			x := needPS(t, s)
			topic, sub := provisionErrors(t, x)
			ctxCases(t, append(pubsubCalls(x, topic, sub, false), connCalls(x.Connector)...))
		}},
		{"PubSubAfterClose", func(t *testing.T, s ErrorSetup) {
			x := needPS(t, s)
			topic, sub := provisionErrors(t, x)
			closedCases(t, x.Connector, append(pubsubCalls(x, topic, sub, false), pubsubCalls(x, topic, sub, true)...))
		}},
		{"PubSubWrongCredentials", func(t *testing.T, s ErrorSetup) { badCredentials(t, s, needPS(t, s).BadCredentials) }},
		{"PubSubNotFound", func(t *testing.T, s ErrorSetup) {
			x := needPS(t, s)
			ctx := caseCtx(t)
			p := uniquePrefix()
			_, err := x.Publisher.Publish(ctx, p+"-missing", ports.Message{Data: []byte("x")})
			wantServer(t, s, "Publish to an unknown topic", err, ports.ErrNotFound)
			var serr error
			if prompt(t, "Subscribe to an unknown subscription", 30*time.Second, func() {
				serr = x.Subscriber.Subscribe(ctx, p+"-missing", func(context.Context, ports.Message) error { return nil })
			}) {
				wantServer(t, s, "Subscribe to an unknown subscription", serr, ports.ErrNotFound)
			}
		}},
		{"PubSubSubscribeDoneContext", func(t *testing.T, s ErrorSetup) {
			x := needPS(t, s)
			_, sub := provisionErrors(t, x)
			for _, name := range []string{sub, uniquePrefix() + "-missing"} {
				var err error
				if prompt(t, "Subscribe with a cancelled context", promptBound, func() {
					err = x.Subscriber.Subscribe(cancelledCtx(), name, func(context.Context, ports.Message) error { return nil })
				}) {
					wantOnly(t, "Subscribe("+name+") with a cancelled context", err, ports.ErrUnavailable)
				}
			}
		}},
		{"PubSubInvalidMessages", func(t *testing.T, s ErrorSetup) {
			x := needPS(t, s)
			topic, sub := provisionErrors(t, x)
			ctx := caseCtx(t)
			r := newRand(1)
			seen := map[string]bool{}
			for range 200 {
				m := badMessage(r, "bad")
				rule := ruleOf(ports.ValidateMessage(m))
				if seen[rule] {
					continue
				}
				seen[rule] = true
				good := ports.Message{Data: []byte("good")}
				_, err := x.Publisher.Publish(ctx, topic, good, m)
				wantOnly(t, "Publish of a message breaking the rule: "+rule, err, ports.ErrInvalid)
			}
			big := ports.Message{Data: make([]byte, ports.MaxMessageBytes+1)}
			_, err := x.Publisher.Publish(ctx, topic, big)
			wantOnly(t, "Publish of a message over MaxMessageBytes", err, ports.ErrInvalid)
			// Nothing of those calls was delivered.
			got := 0
			sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			_ = x.Subscriber.Subscribe(sctx, sub, func(context.Context, ports.Message) error { got++; return nil })
			if got != 0 {
				t.Errorf("%d messages of Publish calls that were ErrInvalid were delivered, want none", got)
			}
		}},
		{"PubSubAdminValidate", func(t *testing.T, s ErrorSetup) {
			x := needPS(t, s)
			if x.Admin == nil {
				t.Skip("no Admin in the setup")
			}
			ctx := caseCtx(t)
			topic, _ := provisionErrors(t, x)
			p := uniquePrefix()
			for i, cfg := range invalidSubscriptionConfigs(topic) {
				wantOnly(t, fmt.Sprintf("EnsureSubscription with invalid config %d (%+v)", i, cfg),
					x.Admin.EnsureSubscription(ctx, fmt.Sprintf("%s-%d", p, i), cfg), ports.ErrInvalid)
			}
			wantOnly(t, "EnsureSubscription to an unknown topic", x.Admin.EnsureSubscription(ctx, p+"-x", ports.SubscriptionConfig{Topic: p + "-missing"}), ports.ErrNotFound)
		}},
	}
}

// invalidSubscriptionConfigs break one bound of SubscriptionConfig each.
func invalidSubscriptionConfigs(topic string) []ports.SubscriptionConfig {
	return []ports.SubscriptionConfig{
		{},
		{Topic: topic, AckDeadline: 9 * time.Second},
		{Topic: topic, AckDeadline: 601 * time.Second},
		{Topic: topic, AckDeadline: 10500 * time.Millisecond},
		{Topic: topic, MaxDeliveryAttempts: 4, DeadLetterTopic: topic},
		{Topic: topic, MaxDeliveryAttempts: 101, DeadLetterTopic: topic},
		{Topic: topic, MaxDeliveryAttempts: 5},
		{Topic: topic, DeadLetterTopic: topic},
	}
}

// provisionErrors creates a topic with one subscription for a case.
func provisionErrors(t *testing.T, x *PubSubErrors) (topic, sub string) {
	t.Helper()
	p := uniquePrefix()
	topic, sub = p+"-topic", p+"-sub"
	prov := x.Provision
	if prov == nil && x.Admin != nil {
		prov = AdminProvision(x.Admin)
	}
	if prov == nil {
		t.Fatal("PubSubErrors needs Provision or Admin")
	}
	wantNoErr(t, "Provision", prov(caseCtx(t), topic, map[string]ports.SubscriptionConfig{sub: {Topic: topic}}))
	return topic, sub
}
