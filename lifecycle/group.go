package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/ports"
)

// Group is an ordered set of [ports.Connector]s checked together and closed
// together. Its zero value is not usable: create one with [NewGroup]. A
// Group is safe for concurrent use.
type Group struct {
	logger *slog.Logger
	redact func(string) string
	tel    obs.Settings
	checks *obs.Checks // the checks' span and metrics

	mu      sync.Mutex
	entries []*entry
	closed  bool
}

// Option configures a [Group].
type Option func(*Group)

// WithLogger makes the group log failed checks and closes to l, with every
// error text redacted. By default a Group does not log.
func WithLogger(l *slog.Logger) Option {
	return func(g *Group) {
		if l != nil {
			g.logger = l
		}
	}
}

// WithRedactor replaces [Redact] as the function every error text and
// target goes through before the group reports or logs it. A redactor
// that knows the service's own secrets can call Redact and then remove
// them.
func WithRedactor(redact func(string) string) Option {
	return func(g *Group) {
		if redact != nil {
			g.redact = redact
		}
	}
}

// NewGroup returns an empty Group.
func NewGroup(opts ...Option) *Group {
	g := &Group{
		logger: slog.New(slog.DiscardHandler),
		redact: Redact,
	}
	for _, o := range opts {
		o(g)
	}
	g.checks = obs.NewChecks(g.tel)
	return g
}

// AddOption configures one connector of a [Group].
type AddOption func(*entry)

// WithTimeout bounds each check of the connector to d instead of
// [ports.DefaultCheckTimeout]. A d of 0 or less keeps the default.
func WithTimeout(d time.Duration) AddOption {
	return func(e *entry) {
		if d > 0 {
			e.timeout = d
		}
	}
}

// WithTarget sets the text the group's reports show as the connector's
// target, such as "redis://cache:6379/0". The caller redacts it (see
// [Redact]); the group runs it through its redactor once more.
func WithTarget(target string) AddOption {
	return func(e *entry) { e.target = target }
}

// entry is one connector of a Group.
type entry struct {
	conn    ports.Connector
	name    string
	target  string
	timeout time.Duration

	mu       sync.Mutex
	inflight *call // the check still running, shared by concurrent Checks
}

// call is one run of a connector's Check, which every Group.Check that
// starts while it runs waits for instead of starting another: a check that
// ignores its context costs at most one goroutine per connector, however
// often the readiness probe asks.
type call struct {
	done chan struct{}
	err  error // set before done is closed
}

// Add appends c to the group. Checks report connectors in the order they
// were added; Close closes them in the reverse order. Adding to a closed
// group does nothing: the caller keeps ownership of c and closes it.
func (g *Group) Add(c ports.Connector, opts ...AddOption) {
	e := &entry{conn: c, name: c.Name(), timeout: ports.DefaultCheckTimeout}
	for _, o := range opts {
		o(e)
	}
	e.target = g.redact(e.target)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		g.logger.Warn("lifecycle: connector added to a closed group is not managed", "name", e.name)
		return
	}
	g.entries = append(g.entries, e)
}

// Len returns the number of connectors in the group.
func (g *Group) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.entries)
}

func (g *Group) snapshot() ([]*entry, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]*entry(nil), g.entries...), g.closed
}

// Check runs the Check of every connector in parallel and returns a
// [Report] in the order the connectors were added.
//
// Each check is bounded by its connector's timeout and by ctx. Check
// returns at that deadline even when a connector ignores its context: the
// straggler is reported as failed with an error wrapping
// [ports.ErrUnavailable], and keeps running in the background until it
// returns; a later Check of the same connector waits for that run instead
// of starting another.
//
// A connector's Check gets ctx's values and the earlier of ctx's deadline
// and its timeout. When ctx has already ended, or after [Group.Close],
// no connector is called and every one is reported as failed (with
// [ports.ErrClosed] after Close).
func (g *Group) Check(ctx context.Context) Report {
	entries, closed := g.snapshot()
	ctx, sp := g.checks.Start(ctx, len(entries))
	results := make([]CheckResult, len(entries))
	var wg sync.WaitGroup
	for i, e := range entries {
		if closed {
			err := ports.NewError("lifecycle", "check "+e.name, ports.ErrClosed, nil)
			g.checks.Record(ctx, e.name, err, 0)
			results[i] = g.result(e, err, 0)
			continue
		}
		wg.Go(func() { results[i] = g.checkOne(ctx, e) })
	}
	wg.Wait()
	failed := 0
	for _, r := range results {
		if !r.OK {
			failed++
		}
	}
	g.checks.End(sp, failed)
	return Report{Checks: results}
}

func (g *Group) checkOne(ctx context.Context, e *entry) CheckResult {
	start := time.Now()
	if ctx.Err() != nil { // no time to check at all: start nothing
		err := ports.NewError(e.name, "check", ports.ErrUnavailable, context.Cause(ctx))
		g.checks.Record(ctx, e.name, err, 0)
		return g.result(e, err, 0)
	}
	c := e.start(ctx)
	timer := time.NewTimer(e.timeout)
	defer timer.Stop()
	var err error
	select {
	case <-c.done:
		err = c.err
	case <-timer.C:
		err = ports.NewError(e.name, "check", ports.ErrUnavailable,
			fmt.Errorf("no answer within %v", e.timeout))
	case <-ctx.Done():
		err = ports.NewError(e.name, "check", ports.ErrUnavailable, context.Cause(ctx))
	}
	select {
	case <-c.done: // a result that arrived together with the deadline wins
		err = c.err
	default:
	}
	latency := time.Since(start)
	g.checks.Record(ctx, e.name, err, latency)
	r := g.result(e, err, latency)
	if !r.OK {
		g.logger.LogAttrs(ctx, slog.LevelWarn, "lifecycle: check failed",
			slog.String("name", r.Name), slog.String("error", r.Error),
			slog.Duration("latency", r.Latency))
	}
	return r
}

// start returns the connector's running check, starting one when none is
// running. The run gets a context of its own that carries ctx's values and
// deadline, bounded by the connector's timeout, but not ctx's cancellation,
// so that a caller that gives up early does not cancel the run other
// callers share.
func (e *entry) start(ctx context.Context) *call {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.inflight != nil {
		return e.inflight
	}
	c := &call{done: make(chan struct{})}
	e.inflight = c
	deadline := time.Now().Add(e.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	cctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	go func() {
		defer cancel()
		err := safeCall(func() error { return e.conn.Check(cctx) })
		e.mu.Lock()
		e.inflight = nil
		e.mu.Unlock()
		c.err = err
		close(c.done)
	}()
	return c
}

// safeCall runs f and turns a panic into an error, so that a misbehaving
// connector cannot crash the service from a background goroutine.
func safeCall(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return f()
}

func (g *Group) result(e *entry, err error, latency time.Duration) CheckResult {
	r := CheckResult{Name: e.name, Target: e.target, OK: err == nil, Latency: latency}
	if err != nil {
		r.Error = g.redact(err.Error())
	}
	return r
}

// Close closes every connector, in the reverse order they were added,
// each one after the previous has returned, and returns their errors
// joined with [errors.Join] (nil when all succeed).
//
// Close stays within ctx. When ctx ends while a connector's Close is
// running, that Close is abandoned (it goes on in the background), the
// connectors not yet closed are closed concurrently with the ended context,
// which asks them to release their resources without flushing, and Close
// returns at once; the error names every connector that did not finish and
// wraps ctx's error. A second Close returns an error wrapping
// [ports.ErrClosed]. Errors from connectors go through the group's
// redactor, with the original error still reachable by [errors.Is] and
// [errors.As].
func (g *Group) Close(ctx context.Context) error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return ports.NewError("lifecycle", "close", ports.ErrClosed, nil)
	}
	g.closed = true
	entries := g.entries
	g.mu.Unlock()

	var errs []error
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if ctx.Err() != nil {
			// Out of time: ask the rest to close, without flushing and
			// without waiting for them.
			go func() { _ = safeCall(func() error { return e.conn.Close(ctx) }) }()
			errs = append(errs, g.unfinished(ctx, e))
			continue
		}
		if err := g.closeOne(ctx, e); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// closeOne closes e and waits for it until ctx ends.
func (g *Group) closeOne(ctx context.Context, e *entry) error {
	done := make(chan error, 1)
	go func() { done <- safeCall(func() error { return e.conn.Close(ctx) }) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		select {
		case err = <-done: // finished together with the deadline
		default:
			return g.unfinished(ctx, e)
		}
	}
	if err == nil {
		g.logger.LogAttrs(ctx, slog.LevelInfo, "lifecycle: closed", slog.String("name", e.name))
		return nil
	}
	err = &redactedError{err: err, text: g.redact(err.Error())}
	g.logger.LogAttrs(ctx, slog.LevelError, "lifecycle: close failed",
		slog.String("name", e.name), slog.String("error", err.Error()))
	return err
}

func (g *Group) unfinished(ctx context.Context, e *entry) error {
	err := fmt.Errorf("lifecycle: close %s did not finish: %w", e.name, ctx.Err())
	g.logger.LogAttrs(ctx, slog.LevelError, "lifecycle: close abandoned",
		slog.String("name", e.name), slog.String("error", ctx.Err().Error()))
	return err
}

// redactedError shows a redacted text and unwraps to the original error.
type redactedError struct {
	err  error
	text string
}

func (r *redactedError) Error() string { return r.text }
func (r *redactedError) Unwrap() error { return r.err }
