package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/portkit/portkit/internal/gate"
	"github.com/portkit/portkit/ports"
)

// Route is one subscription of a [Runner]: its handler and the middleware
// around it (the first outermost, as in Chain).
type Route struct {
	Subscription string
	Handler      ports.Handler
	Middleware   []Middleware
}

// RunnerConfig configures a [Runner].
type RunnerConfig struct {
	// Name is the runner's Connector name (default "messaging-runner").
	Name string
	// Restart spaces the restarts of a failed loop (default
	// DefaultRestartBackoff). A loop that ran for longer than Restart.Max
	// before failing restarts from Restart.Initial again.
	Restart Backoff
	// StopTimeout bounds how long Run waits for its loops once it stops
	// (default: ports.DefaultShutdownGrace plus 5 s, room for a
	// subscriber's grace and its one extra second).
	StopTimeout time.Duration
	// Logger receives restarts and stops (slog.Default() when nil).
	Logger *slog.Logger
}

// DefaultRestartBackoff is the Runner's restart backoff unless
// configured: 250 ms, doubling, capped at 30 s, half jitter.
var DefaultRestartBackoff = Backoff{Initial: 250 * time.Millisecond, Max: 30 * time.Second, Multiplier: 2, Jitter: 0.5}

// LoopState is the state of one loop of a Runner.
type LoopState int

// The states of a loop.
const (
	// LoopIdle: the runner has not started it.
	LoopIdle LoopState = iota
	// LoopReceiving: its Subscribe call is running.
	LoopReceiving
	// LoopRestarting: its Subscribe call failed with ErrUnavailable; it
	// waits to call it again.
	LoopRestarting
	// LoopStopped: it ended, on the runner's stop or a permanent failure.
	LoopStopped
)

func (s LoopState) String() string {
	switch s {
	case LoopReceiving:
		return "receiving"
	case LoopRestarting:
		return "restarting"
	case LoopStopped:
		return "stopped"
	default:
		return "idle"
	}
}

// LoopStatus describes one loop of a Runner.
type LoopStatus struct {
	Subscription string
	State        LoopState
	// Restarts counts the restarts since Run began.
	Restarts int
	// Err is the last failure of its Subscribe call, nil if none.
	Err error
}

// Runner runs one Subscribe loop per [Route], supervised: a loop whose
// Subscribe fails with ErrUnavailable (the backend went away) is restarted
// with backoff; any other failure (ErrNotFound for a missing subscription,
// ErrPermission, ErrClosed, ErrInvalid) stops every loop and is what Run
// returns, naming the subscription. When Run's ctx ends (or Close is
// called), every Subscribe is told to stop and Run returns once they have
// returned, or after cfg.StopTimeout, naming the loops that did not.
//
// A Runner is a ports.Connector: Check is nil while every loop is
// receiving (its Subscribe call is running) and ErrUnavailable, naming the
// others, otherwise; Close stops Run and waits for it.
type Runner struct {
	sub    ports.Subscriber
	cfg    RunnerConfig
	loops  []*loop
	g      gate.Gate
	mu     sync.Mutex
	cancel context.CancelFunc // of the running Run, nil when none
	done   chan struct{}      // closed when the running Run returns
}

type loop struct {
	sub string
	h   ports.Handler

	mu       sync.Mutex
	state    LoopState
	restarts int
	err      error
}

var _ ports.Connector = (*Runner)(nil)

// NewRunner returns a Runner of the routes over sub. It is an ErrInvalid
// error to give no route, a route without subscription or handler, two
// routes of one subscription, or a configuration out of range.
func NewRunner(sub ports.Subscriber, cfg RunnerConfig, routes ...Route) (*Runner, error) {
	if sub == nil {
		return nil, configError("runner", "Subscriber is required")
	}
	if len(routes) == 0 {
		return nil, configError("runner", "no route")
	}
	if cfg.Name == "" {
		cfg.Name = "messaging-runner"
	}
	cfg.Restart = cfg.Restart.orDefault(DefaultRestartBackoff)
	if err := cfg.Restart.Validate(); err != nil {
		return nil, err
	}
	if cfg.StopTimeout < 0 {
		return nil, configError("runner", "StopTimeout %v must not be negative", cfg.StopTimeout)
	}
	if cfg.StopTimeout == 0 {
		cfg.StopTimeout = ports.DefaultShutdownGrace + 5*time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Runner{sub: sub, cfg: cfg}
	seen := map[string]bool{}
	for i, rt := range routes {
		switch {
		case rt.Subscription == "":
			return nil, configError("runner", "route %d has no subscription", i)
		case rt.Handler == nil:
			return nil, configError("runner", "route %q has no handler", rt.Subscription)
		case seen[rt.Subscription]:
			return nil, configError("runner", "two routes for subscription %q", rt.Subscription)
		}
		seen[rt.Subscription] = true
		r.loops = append(r.loops, &loop{sub: rt.Subscription, h: Apply(rt.Handler, rt.Middleware...)})
	}
	return r, nil
}

// Name returns the configured name ("messaging-runner" by default).
func (r *Runner) Name() string { return r.cfg.Name }

// Run runs the loops until ctx ends or Close is called (then it returns
// nil once they have stopped), or until a loop fails permanently (then it
// stops the others and returns that failure). It is ErrInvalid to call Run
// while another Run of r is running, and ErrClosed after Close.
func (r *Runner) Run(ctx context.Context) error {
	if err := r.g.Check(ctx, r.cfg.Name, "run"); err != nil {
		return err
	}
	r.mu.Lock()
	if r.cancel != nil {
		r.mu.Unlock()
		return ports.NewError(r.cfg.Name, "run", ports.ErrInvalid, errors.New("the runner is already running"))
	}
	if r.g.Closed() {
		r.mu.Unlock()
		return gate.Closed(r.cfg.Name, "run")
	}
	rctx, cancel := context.WithCancel(ctx)
	r.cancel, r.done = cancel, make(chan struct{})
	done := r.done
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.cancel = nil
		close(done)
		r.mu.Unlock()
	}()
	defer cancel()

	failed := make(chan error, len(r.loops))
	var wg sync.WaitGroup
	for _, l := range r.loops {
		l.mu.Lock()
		l.state, l.restarts, l.err = LoopReceiving, 0, nil
		l.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.runLoop(rctx, l); err != nil {
				failed <- err
				cancel()
			}
		}()
	}
	stopped := make(chan struct{})
	go func() { wg.Wait(); close(stopped) }()

	select {
	case <-stopped:
	case <-rctx.Done():
		timer := time.NewTimer(r.cfg.StopTimeout)
		defer timer.Stop()
		select {
		case <-stopped:
		case <-timer.C:
			var stuck []string
			for _, l := range r.loops {
				if l.status().State != LoopStopped {
					stuck = append(stuck, l.sub)
				}
			}
			r.cfg.Logger.Error("messaging: subscribers did not stop in time; abandoned",
				slog.String("runner", r.cfg.Name), slog.Any("subscriptions", stuck), slog.Duration("stop_timeout", r.cfg.StopTimeout))
			return ports.NewError(r.cfg.Name, "run", ports.ErrUnavailable,
				fmt.Errorf("the Subscribe calls of %s did not return within %v of the stop", strings.Join(stuck, ", "), r.cfg.StopTimeout))
		}
	}
	close(failed)
	var errs []error
	for err := range failed {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// runLoop calls Subscribe until ctx ends (nil) or it fails for good.
func (r *Runner) runLoop(ctx context.Context, l *loop) error {
	attempt := 0
	for {
		l.set(LoopReceiving, nil, 0)
		start := time.Now()
		err := r.sub.Subscribe(ctx, l.sub, l.h)
		if ctx.Err() != nil {
			l.set(LoopStopped, err, 0)
			return nil
		}
		if err == nil {
			err = ports.NewError(r.cfg.Name, "subscribe "+l.sub, ports.ErrUnavailable,
				errors.New("the Subscribe call returned nil before its context ended"))
		}
		if !errors.Is(err, ports.ErrUnavailable) {
			l.set(LoopStopped, err, 0)
			r.cfg.Logger.Error("messaging: subscriber failed; stopping the runner",
				slog.String("runner", r.cfg.Name), slog.String("subscription", l.sub), slog.Any("error", err))
			return fmt.Errorf("messaging: subscription %s: %w", l.sub, err)
		}
		if time.Since(start) > r.cfg.Restart.Max {
			attempt = 0
		}
		d := r.cfg.Restart.Delay(attempt)
		attempt++
		l.set(LoopRestarting, err, 1)
		r.cfg.Logger.Warn("messaging: subscriber failed; restarting",
			slog.String("runner", r.cfg.Name), slog.String("subscription", l.sub),
			slog.Any("error", err), slog.Duration("backoff", d))
		if !sleep(ctx, d) {
			l.set(LoopStopped, err, 0)
			return nil
		}
	}
}

func (l *loop) set(s LoopState, err error, restarts int) {
	l.mu.Lock()
	l.state = s
	if err != nil {
		l.err = err
	}
	l.restarts += restarts
	l.mu.Unlock()
}

func (l *loop) status() LoopStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	return LoopStatus{Subscription: l.sub, State: l.state, Restarts: l.restarts, Err: l.err}
}

// Status returns the status of every loop, in route order.
func (r *Runner) Status() []LoopStatus {
	out := make([]LoopStatus, len(r.loops))
	for i, l := range r.loops {
		out[i] = l.status()
	}
	return out
}

// Check returns nil when every loop is receiving; ErrUnavailable naming
// the loops that are not (and their last error), ErrClosed after Close.
func (r *Runner) Check(ctx context.Context) error {
	if err := r.g.Check(ctx, r.cfg.Name, "check"); err != nil {
		return err
	}
	var bad []string
	var errs []error
	for _, st := range r.Status() {
		if st.State == LoopReceiving {
			continue
		}
		bad = append(bad, st.Subscription+" ("+st.State.String()+")")
		if st.Err != nil {
			errs = append(errs, st.Err)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return ports.NewError(r.cfg.Name, "check", ports.ErrUnavailable,
		fmt.Errorf("not receiving: %s: %w", strings.Join(bad, ", "), errors.Join(errs...)))
}

// Close stops Run, if it runs, and waits until it returns or ctx ends
// (then it returns ctx's error, as ErrUnavailable). Every later call of
// any method, a second Close included, returns ErrClosed.
func (r *Runner) Close(ctx context.Context) error {
	if ctx == nil {
		return ports.NewError(r.cfg.Name, "close", ports.ErrInvalid, gate.ErrNilContext)
	}
	if !r.g.Close() {
		return gate.Closed(r.cfg.Name, "close")
	}
	r.mu.Lock()
	cancel, done := r.cancel, r.done
	r.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return gate.ContextError(ctx, r.cfg.Name, "close")
	}
}
