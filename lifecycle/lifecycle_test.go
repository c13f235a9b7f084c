package lifecycle_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/portkit/portkit/lifecycle"
	"github.com/portkit/portkit/ports"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// conn is a Connector whose Check and Close run the given functions (nil
// means succeed at once).
type conn struct {
	name   string
	check  func(ctx context.Context) error
	close  func(ctx context.Context) error
	checks atomic.Int32
}

func (c *conn) Name() string { return c.name }

func (c *conn) Check(ctx context.Context) error {
	c.checks.Add(1)
	if c.check == nil {
		return nil
	}
	return c.check(ctx)
}

func (c *conn) Close(ctx context.Context) error {
	if c.close == nil {
		return nil
	}
	return c.close(ctx)
}

// sleepCheck answers after d, or fails when ctx ends first.
func sleepCheck(d time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// stubborn returns a function that ignores its context and blocks until
// the test ends; the test's cleanup releases it and waits until it has
// returned, so that goleak sees no straggler.
func stubborn(t *testing.T) (f func(context.Context) error, called <-chan struct{}) {
	t.Helper()
	release := make(chan struct{})
	var running sync.WaitGroup
	calls := make(chan struct{}, 100)
	observed := make(chan struct{}, 100)
	t.Cleanup(func() {
		// Every test calls f at least once; waiting for that call orders
		// its running.Add before running.Wait.
		select {
		case <-observed:
		case <-time.After(5 * time.Second):
			t.Error("stubborn function never called")
		}
		close(release)
		running.Wait()
	})
	return func(context.Context) error {
		running.Add(1)
		defer running.Done()
		calls <- struct{}{}
		observed <- struct{}{}
		<-release
		return nil
	}, calls
}

// within fails the test when f takes longer than bound: the no-hang
// promise of Check and Close.
func within(t *testing.T, bound time.Duration, f func()) {
	t.Helper()
	start := time.Now()
	f()
	if d := time.Since(start); d > bound {
		t.Fatalf("took %v, want under %v", d, bound)
	}
}

func TestCheckRunsInParallel(t *testing.T) {
	t.Parallel()
	g := lifecycle.NewGroup()
	for _, name := range []string{"a", "b", "c"} {
		g.Add(&conn{name: name, check: sleepCheck(200 * time.Millisecond)})
	}
	var r lifecycle.Report
	within(t, 550*time.Millisecond, func() { r = g.Check(context.Background()) })
	if !r.OK() {
		t.Fatalf("report not OK: %+v", r)
	}
	var names []string
	for _, c := range r.Checks {
		names = append(names, c.Name)
		if c.Latency < 200*time.Millisecond {
			t.Errorf("%s: latency %v, want at least the check's 200ms", c.Name, c.Latency)
		}
	}
	if !slices.Equal(names, []string{"a", "b", "c"}) {
		t.Errorf("checks in order %v, want a b c", names)
	}
}

func TestCheckReturnsAtTimeoutWhenCheckIgnoresContext(t *testing.T) {
	t.Parallel()
	block, _ := stubborn(t)
	g := lifecycle.NewGroup()
	g.Add(&conn{name: "ok"})
	g.Add(&conn{name: "stuck", check: block}, lifecycle.WithTimeout(50*time.Millisecond))
	var r lifecycle.Report
	within(t, 2*time.Second, func() { r = g.Check(context.Background()) })
	if r.OK() {
		t.Fatal("report OK with a stuck check")
	}
	if !r.Checks[0].OK {
		t.Errorf("ok check failed: %q", r.Checks[0].Error)
	}
	stuck := r.Checks[1]
	if stuck.OK || !strings.Contains(stuck.Error, "unavailable") || !strings.Contains(stuck.Error, "50ms") {
		t.Errorf("stuck check = %+v, want unavailable after 50ms", stuck)
	}
	if failed := r.Failed(); len(failed) != 1 || failed[0].Name != "stuck" {
		t.Errorf("Failed() = %+v, want only stuck", failed)
	}
}

func TestCheckReturnsWhenCallerContextEnds(t *testing.T) {
	t.Parallel()
	block, _ := stubborn(t)
	g := lifecycle.NewGroup()
	g.Add(&conn{name: "stuck", check: block}) // default timeout: 5s
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var r lifecycle.Report
	within(t, 2*time.Second, func() { r = g.Check(ctx) })
	if c := r.Checks[0]; c.OK || !strings.Contains(c.Error, context.DeadlineExceeded.Error()) {
		t.Errorf("check = %+v, want a failure naming the deadline", c)
	}
}

func TestCheckSharesARunningCheck(t *testing.T) {
	t.Parallel()
	block, called := stubborn(t)
	c := &conn{name: "stuck", check: block}
	g := lifecycle.NewGroup()
	g.Add(c, lifecycle.WithTimeout(30*time.Millisecond))
	for range 3 {
		if g.Check(context.Background()).OK() {
			t.Fatal("stuck check reported OK")
		}
	}
	<-called
	if n := c.checks.Load(); n != 1 {
		t.Errorf("connector checked %d times while its first check ran, want 1", n)
	}
}

func TestCheckStartsAnewOnceTheLastReturned(t *testing.T) {
	t.Parallel()
	var fail atomic.Bool
	fail.Store(true)
	c := &conn{name: "flaky", check: func(context.Context) error {
		if fail.Load() {
			return ports.NewError("flaky", "check", ports.ErrUnavailable, nil)
		}
		return nil
	}}
	g := lifecycle.NewGroup()
	g.Add(c)
	if g.Check(context.Background()).OK() {
		t.Fatal("first check OK, want failure")
	}
	fail.Store(false)
	if r := g.Check(context.Background()); !r.OK() {
		t.Fatalf("second check failed: %+v", r)
	}
	if n := c.checks.Load(); n != 2 {
		t.Errorf("connector checked %d times, want 2", n)
	}
}

func TestCheckGetsContextValuesAndDeadline(t *testing.T) {
	t.Parallel()
	type key struct{}
	var gotValue any
	var hasDeadline bool
	g := lifecycle.NewGroup()
	g.Add(&conn{name: "a", check: func(ctx context.Context) error {
		gotValue = ctx.Value(key{})
		_, hasDeadline = ctx.Deadline()
		return nil
	}}, lifecycle.WithTimeout(time.Second))
	g.Check(context.WithValue(context.Background(), key{}, "v"))
	if gotValue != "v" || !hasDeadline {
		t.Errorf("check saw value %v, deadline %v; want the caller's value and a deadline", gotValue, hasDeadline)
	}
}

func TestCheckRedactsErrorsTargetsAndLogs(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	g := lifecycle.NewGroup(lifecycle.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	g.Add(&conn{name: "redis", check: func(context.Context) error {
		return ports.NewError("redis", "check", ports.ErrUnavailable,
			errors.New("dial redis://app:hunter2@cache:6379/0: connection refused"))
	}}, lifecycle.WithTarget("redis://app:hunter2@cache:6379/0"))
	r := g.Check(context.Background())
	c := r.Checks[0]
	b, _ := json.Marshal(r)
	for what, s := range map[string]string{"error": c.Error, "target": c.Target, "json": string(b), "log": logs.String()} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("%s leaks the password: %s", what, s)
		}
	}
	if want := "redis://app:xxxxx@cache:6379/0"; c.Target != want || !strings.Contains(c.Error, want) {
		t.Errorf("target %q, error %q; want both to show %s", c.Target, c.Error, want)
	}
	if !strings.Contains(logs.String(), "connection refused") {
		t.Errorf("log does not name the failure: %s", logs.String())
	}
}

func TestWithRedactor(t *testing.T) {
	t.Parallel()
	g := lifecycle.NewGroup(lifecycle.WithRedactor(func(s string) string {
		return strings.ReplaceAll(lifecycle.Redact(s), "s3cret-token", "[token]")
	}))
	g.Add(&conn{name: "api", check: func(context.Context) error {
		return errors.New("bad bearer s3cret-token")
	}})
	if got := g.Check(context.Background()).Checks[0].Error; got != "bad bearer [token]" {
		t.Errorf("error = %q, want the custom redaction", got)
	}
}

func TestCheckTurnsAPanicIntoAFailure(t *testing.T) {
	t.Parallel()
	g := lifecycle.NewGroup()
	g.Add(&conn{name: "p", check: func(context.Context) error { panic("boom") }})
	if c := g.Check(context.Background()).Checks[0]; c.OK || !strings.Contains(c.Error, "boom") {
		t.Errorf("check = %+v, want a failure naming the panic", c)
	}
}

func TestCheckAfterCloseReportsClosedWithoutCalling(t *testing.T) {
	t.Parallel()
	c := &conn{name: "a"}
	g := lifecycle.NewGroup()
	g.Add(c)
	if err := g.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := g.Check(context.Background())
	if r.OK() || !strings.Contains(r.Checks[0].Error, ports.ErrClosed.Error()) {
		t.Errorf("report after Close = %+v, want closed", r)
	}
	if n := c.checks.Load(); n != 0 {
		t.Errorf("connector checked %d times after Close", n)
	}
	g.Add(&conn{name: "late"})
	if n := g.Len(); n != 1 {
		t.Errorf("Len after Add on a closed group = %d, want 1", n)
	}
}

func TestEmptyGroup(t *testing.T) {
	t.Parallel()
	g := lifecycle.NewGroup()
	if r := g.Check(context.Background()); !r.OK() || len(r.Checks) != 0 {
		t.Errorf("empty group report = %+v", r)
	}
	if err := g.Close(context.Background()); err != nil {
		t.Errorf("Close of empty group: %v", err)
	}
}

// recorder returns connectors that append their name to a shared list on
// Close.
type recorder struct {
	mu    sync.Mutex
	order []string
}

func (r *recorder) conn(name string, err error) *conn {
	return &conn{name: name, close: func(context.Context) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.order = append(r.order, name)
		return err
	}}
}

func TestCloseInReverseOrder(t *testing.T) {
	t.Parallel()
	var rec recorder
	g := lifecycle.NewGroup()
	for _, name := range []string{"mysql", "redis", "pubsub"} {
		g.Add(rec.conn(name, nil))
	}
	if err := g.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if want := []string{"pubsub", "redis", "mysql"}; !slices.Equal(rec.order, want) {
		t.Errorf("closed in order %v, want %v", rec.order, want)
	}
}

func TestCloseJoinsErrors(t *testing.T) {
	t.Parallel()
	errA := errors.New("a failed: mysql://root:pw123@db:3306/x")
	errC := ports.NewError("c", "close", ports.ErrUnavailable, nil)
	var rec recorder
	g := lifecycle.NewGroup()
	g.Add(rec.conn("a", errA))
	g.Add(rec.conn("b", nil))
	g.Add(rec.conn("c", errC))
	err := g.Close(context.Background())
	if !errors.Is(err, errA) || !errors.Is(err, errC) || !errors.Is(err, ports.ErrUnavailable) {
		t.Fatalf("Close error %v does not wrap both failures", err)
	}
	if strings.Contains(err.Error(), "pw123") {
		t.Errorf("Close error leaks a password: %v", err)
	}
	if len(rec.order) != 3 {
		t.Errorf("closed %v, want all three despite the errors", rec.order)
	}
}

func TestCloseStaysWithinContext(t *testing.T) {
	t.Parallel()
	block, _ := stubborn(t)
	var rec recorder
	firstCalled := make(chan error, 1)
	g := lifecycle.NewGroup()
	g.Add(&conn{name: "first", close: func(ctx context.Context) error {
		firstCalled <- ctx.Err()
		return nil
	}})
	g.Add(&conn{name: "stuck", close: block})
	g.Add(rec.conn("last", nil))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var err error
	within(t, 2*time.Second, func() { err = g.Close(ctx) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close error %v, want one wrapping the deadline", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "stuck did not finish") || !strings.Contains(msg, "first did not finish") {
		t.Errorf("Close error %q does not name the connectors that did not finish", msg)
	}
	if strings.Contains(msg, "last") {
		t.Errorf("Close error %q names a connector that closed", msg)
	}
	// The connector after the stuck one is still asked to close, with the
	// ended context.
	if ctxErr := <-firstCalled; ctxErr == nil {
		t.Error("first was closed with a live context after the deadline")
	}
}

func TestSecondCloseReturnsErrClosed(t *testing.T) {
	t.Parallel()
	var rec recorder
	g := lifecycle.NewGroup()
	g.Add(rec.conn("a", nil))
	if err := g.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := g.Close(context.Background()); !errors.Is(err, ports.ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
	if len(rec.order) != 1 {
		t.Errorf("connector closed %d times, want 1", len(rec.order))
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	g := lifecycle.NewGroup()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			g.Add(&conn{name: "c", check: sleepCheck(time.Millisecond)})
			g.Check(context.Background())
			if i == 7 {
				_ = g.Close(context.Background())
			}
		})
	}
	wg.Wait()
	if err := g.Close(context.Background()); !errors.Is(err, ports.ErrClosed) {
		t.Errorf("Close after the concurrent one = %v, want ErrClosed", err)
	}
}

func TestRunClosesAfterRun(t *testing.T) {
	t.Parallel()
	var rec recorder
	g := lifecycle.NewGroup()
	g.Add(rec.conn("a", nil))
	errRun := errors.New("server failed")
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // as after SIGTERM: Close must still get time
	err := g.Run(ctx, time.Second, func(ctx context.Context) error {
		if len(rec.order) != 0 {
			t.Error("closed before run returned")
		}
		return errRun
	})
	if !errors.Is(err, errRun) {
		t.Errorf("Run = %v, want run's error", err)
	}
	if !slices.Equal(rec.order, []string{"a"}) {
		t.Errorf("closed %v, want a", rec.order)
	}
}

func TestReportJSON(t *testing.T) {
	t.Parallel()
	r := lifecycle.Report{Checks: []lifecycle.CheckResult{
		{Name: "mysql", Target: "db:3306", OK: true, Latency: 1500 * time.Microsecond},
		{Name: "redis", OK: false, Error: "redis: check: unavailable", Latency: 5 * time.Second},
	}}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"ok":false,"checks":[` +
		`{"name":"mysql","target":"db:3306","ok":true,"error":"","latency_ms":1.5},` +
		`{"name":"redis","ok":false,"error":"redis: check: unavailable","latency_ms":5000}]}`
	if string(b) != want {
		t.Errorf("JSON\n got %s\nwant %s", b, want)
	}
	var back lifecycle.Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Checks, r.Checks) {
		t.Errorf("round trip = %+v, want %+v", back, r)
	}
	if b, _ := json.Marshal(lifecycle.Report{}); string(b) != `{"ok":true,"checks":[]}` {
		t.Errorf("empty report JSON = %s", b)
	}
}

func TestCheckWithEndedContextCallsNothing(t *testing.T) {
	t.Parallel()
	c := &conn{name: "a"}
	g := lifecycle.NewGroup()
	g.Add(c)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if r := g.Check(ctx); r.OK() || !strings.Contains(r.Checks[0].Error, context.Canceled.Error()) {
		t.Errorf("report = %+v, want a failure naming the cancellation", r)
	}
	if n := c.checks.Load(); n != 0 {
		t.Errorf("connector checked %d times with an ended context", n)
	}
}

func TestCheckPassesTheEarlierDeadline(t *testing.T) {
	t.Parallel()
	got := make(chan time.Duration, 1)
	g := lifecycle.NewGroup()
	g.Add(&conn{name: "a", check: func(ctx context.Context) error {
		d, _ := ctx.Deadline()
		got <- time.Until(d)
		return nil
	}}, lifecycle.WithTimeout(time.Hour))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	g.Check(ctx)
	if left := <-got; left > time.Minute {
		t.Errorf("check's deadline is %v away, want the caller's minute at most", left)
	}
}
