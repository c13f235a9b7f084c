package messaging_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portkit/portkit/messaging"
	"github.com/portkit/portkit/ports"
)

// scriptedSubscriber returns, for each call of a subscription, the next
// scripted error; once the script is spent, it blocks until its context
// ends (or, with ignoreCtx, until release is closed).
type scriptedSubscriber struct {
	mu        sync.Mutex
	script    map[string][]error
	calls     map[string]int
	ignoreCtx bool
	release   chan struct{}
}

func newScripted(script map[string][]error) *scriptedSubscriber {
	return &scriptedSubscriber{script: script, calls: map[string]int{}, release: make(chan struct{})}
}

func (s *scriptedSubscriber) Subscribe(ctx context.Context, sub string, h ports.Handler) error {
	s.mu.Lock()
	s.calls[sub]++
	var next error
	scripted := len(s.script[sub]) > 0
	if scripted {
		next, s.script[sub] = s.script[sub][0], s.script[sub][1:]
	}
	s.mu.Unlock()
	if scripted {
		return next
	}
	if s.ignoreCtx {
		<-s.release
		return nil
	}
	<-ctx.Done()
	return nil
}

func (s *scriptedSubscriber) callsOf(sub string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[sub]
}

var fastRestart = messaging.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond, Multiplier: 2}

func nopHandler(context.Context, ports.Message) error { return nil }

func newRunner(t *testing.T, sub ports.Subscriber, cfg messaging.RunnerConfig, subs ...string) *messaging.Runner {
	t.Helper()
	if cfg.Restart == (messaging.Backoff{}) {
		cfg.Restart = fastRestart
	}
	if cfg.Logger == nil {
		cfg.Logger, _ = newLogger()
	}
	var routes []messaging.Route
	for _, s := range subs {
		routes = append(routes, messaging.Route{Subscription: s, Handler: nopHandler})
	}
	return must[*messaging.Runner](t)(messaging.NewRunner(sub, cfg, routes...))
}

// eventually polls cond every few milliseconds for up to 20 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func unavailable() error {
	return ports.NewError("sub", "subscribe", ports.ErrUnavailable, errors.New("connection refused"))
}

func TestRunnerRestartsOnUnavailable(t *testing.T) {
	sub := newScripted(map[string][]error{"a": {unavailable(), unavailable()}})
	r := newRunner(t, sub, messaging.RunnerConfig{}, "a", "b")
	if err := r.Check(context.Background()); !errors.Is(err, ports.ErrUnavailable) {
		t.Fatalf("Check before Run = %v, want ErrUnavailable", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	eventually(t, "both loops receiving", func() bool { return r.Check(ctx) == nil && sub.callsOf("a") == 3 })
	st := r.Status()
	if st[0].Restarts != 2 || st[0].State != messaging.LoopReceiving || !errors.Is(st[0].Err, ports.ErrUnavailable) {
		t.Fatalf("status of a = %+v", st[0])
	}
	if st[1].Restarts != 0 || sub.callsOf("b") != 1 {
		t.Fatalf("status of b = %+v, %d calls", st[1], sub.callsOf("b"))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil on ctx end", err)
	}
	if err := r.Check(context.Background()); !errors.Is(err, ports.ErrUnavailable) {
		t.Fatalf("Check after Run = %v", err)
	}
}

func TestRunnerStopsOnPermanentFailure(t *testing.T) {
	notFound := ports.NewError("sub", "subscribe", ports.ErrNotFound, errors.New(`subscription "b" does not exist`))
	sub := newScripted(map[string][]error{"b": {notFound}})
	r := newRunner(t, sub, messaging.RunnerConfig{}, "a", "b")
	err := r.Run(context.Background())
	if !errors.Is(err, ports.ErrNotFound) || !strings.Contains(err.Error(), "subscription b") {
		t.Fatalf("Run = %v, want ErrNotFound naming b", err)
	}
	st := r.Status()
	if st[0].State != messaging.LoopStopped || st[1].State != messaging.LoopStopped {
		t.Fatalf("status = %+v: every loop must stop", st)
	}
	if err := r.Check(context.Background()); !errors.Is(err, ports.ErrNotFound) {
		t.Fatalf("Check = %v, want it to report the failure", err)
	}
}

func TestRunnerSubscribeReturningNilIsRestarted(t *testing.T) {
	sub := newScripted(map[string][]error{"a": {nil}})
	r := newRunner(t, sub, messaging.RunnerConfig{}, "a")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	eventually(t, "the restart", func() bool { return sub.callsOf("a") == 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestRunnerStopBound(t *testing.T) {
	sub := newScripted(nil)
	sub.ignoreCtx = true
	defer close(sub.release)
	r := newRunner(t, sub, messaging.RunnerConfig{StopTimeout: 50 * time.Millisecond}, "stuck")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	eventually(t, "the loop", func() bool { return sub.callsOf("stuck") == 1 })
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, ports.ErrUnavailable) || !strings.Contains(err.Error(), "stuck") {
			t.Fatalf("Run = %v, want ErrUnavailable naming the stuck loop", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return within its stop bound")
	}
}

func TestRunnerClose(t *testing.T) {
	sub := newScripted(nil)
	r := newRunner(t, sub, messaging.RunnerConfig{Name: "projector"}, "a")
	if r.Name() != "projector" {
		t.Fatalf("Name = %q", r.Name())
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background()) }()
	eventually(t, "receiving", func() bool { return r.Check(context.Background()) == nil })
	if err := r.Run(context.Background()); !errors.Is(err, ports.ErrInvalid) {
		t.Fatalf("second Run = %v, want ErrInvalid", err)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	for name, err := range map[string]error{
		"Close": r.Close(context.Background()),
		"Check": r.Check(context.Background()),
		"Run":   r.Run(context.Background()),
	} {
		if !errors.Is(err, ports.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
	// Close of a runner that never ran.
	r2 := newRunner(t, sub, messaging.RunnerConfig{}, "a")
	if err := r2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	//lint:ignore SA1012 a nil context is the point
	if err := newRunner(t, sub, messaging.RunnerConfig{}, "a").Run(nil); !errors.Is(err, ports.ErrInvalid) {
		t.Fatalf("Run(nil) = %v", err)
	}
}

func TestRunnerConfig(t *testing.T) {
	sub := newScripted(nil)
	h := messaging.Route{Subscription: "a", Handler: nopHandler}
	cases := map[string]func() error{
		"no subscriber": func() error { _, err := messaging.NewRunner(nil, messaging.RunnerConfig{}, h); return err },
		"no route":      func() error { _, err := messaging.NewRunner(sub, messaging.RunnerConfig{}); return err },
		"no subscription": func() error {
			_, err := messaging.NewRunner(sub, messaging.RunnerConfig{}, messaging.Route{Handler: nopHandler})
			return err
		},
		"no handler": func() error {
			_, err := messaging.NewRunner(sub, messaging.RunnerConfig{}, messaging.Route{Subscription: "a"})
			return err
		},
		"twice": func() error { _, err := messaging.NewRunner(sub, messaging.RunnerConfig{}, h, h); return err },
		"bad backoff": func() error {
			_, err := messaging.NewRunner(sub, messaging.RunnerConfig{Restart: messaging.Backoff{Initial: -1}}, h)
			return err
		},
	}
	for name, f := range cases {
		if err := f(); !errors.Is(err, ports.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

func TestRunnerAppliesMiddleware(t *testing.T) {
	var mu sync.Mutex
	var trace []string
	sub := &handOver{msgs: []ports.Message{msg}}
	tag := func(next ports.Handler) ports.Handler {
		return func(ctx context.Context, m ports.Message) error {
			mu.Lock()
			trace = append(trace, "mw")
			mu.Unlock()
			return next(ctx, m)
		}
	}
	r := must[*messaging.Runner](t)(messaging.NewRunner(sub, messaging.RunnerConfig{}, messaging.Route{
		Subscription: "a", Middleware: []messaging.Middleware{tag},
		Handler: func(context.Context, ports.Message) error {
			mu.Lock()
			trace = append(trace, "h")
			mu.Unlock()
			return nil
		},
	}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	eventually(t, "the message", func() bool { mu.Lock(); defer mu.Unlock(); return len(trace) == 2 })
	cancel()
	<-done
	if strings.Join(trace, ",") != "mw,h" {
		t.Fatalf("trace = %v", trace)
	}
}

// handOver hands its messages to the handler once, then waits for ctx.
type handOver struct{ msgs []ports.Message }

func (s *handOver) Subscribe(ctx context.Context, _ string, h ports.Handler) error {
	for _, m := range s.msgs {
		_ = h(ctx, m)
	}
	<-ctx.Done()
	return nil
}
