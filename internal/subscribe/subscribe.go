// Package subscribe holds the machinery every messaging implementation of
// portkit shares (the Pub/Sub fake, the Google Pub/Sub adapter, the NATS
// adapter), so that the rules of ports.Subscriber and ports.Publisher are
// written once:
//
//   - [Runner], the one subscribe runner: it calls the handler under a
//     concurrency limit, turns a panic into a nack, serializes the messages
//     of one ordering key when asked, and implements the shutdown rule of
//     ports.Subscriber;
//   - [PublishFailed], the error of a Publish call some of whose messages
//     failed or were not confirmed;
//   - [ValidateName], the naming rule of topics and subscriptions.
package subscribe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/ports"
)

// AbandonDelay is how long a handler may still run after the runner has
// cancelled its context before the runner abandons it: its message is
// nacked and the runner no longer waits for it.
const AbandonDelay = time.Second

// ErrShutdownGrace is the cause (context.Cause) of a handler's context
// that the runner cancelled because the shutdown grace had passed.
var ErrShutdownGrace = errors.New("subscribe: shutdown grace over")

// Config configures a [Runner].
type Config struct {
	// Backend and Subscription name the runner in its log lines (Backend
	// only when set: leave it empty when Logger already names it).
	Backend      string
	Subscription string
	// MaxConcurrency caps the handler calls running at once; 0 means
	// ports.DefaultMaxConcurrency.
	MaxConcurrency int
	// ShutdownGrace is how long running handlers keep a live context once
	// shutdown begins; 0 means ports.DefaultShutdownGrace.
	ShutdownGrace time.Duration
	// Ordered makes Handle deliver the messages of one ordering key one at
	// a time, in the order Handle was called for them. Leave it unset when
	// the backend already serializes them (Google's client does).
	Ordered bool
	// Logger receives the panic and abandonment reports; nil means
	// slog.Default().
	Logger *slog.Logger
	// Instr, when set, records each handler call: a process span, child
	// of the trace context the message carries, and the consumer metrics
	// (obs.Instr.Handler).
	Instr *obs.Instr
	// DeadLetterAfter is the subscription's MaxDeliveryAttempts (0: no
	// dead-letter policy): a nack at that attempt or later counts as
	// dead-lettered.
	DeadLetterAfter int
}

// Delivery is one received message and the way to settle it. The runner
// calls exactly one of Ack and Nack, once.
type Delivery struct {
	Message ports.Message
	Ack     func()
	Nack    func()
}

// Runner runs the handler of one Subscribe call. Messages reach it in
// either of two ways: a backend that pushes them (a client callback) calls
// [Runner.Handle], which waits for room and returns once the message is
// settled; a backend that pulls them calls [Runner.Acquire] before taking
// a message and then [Runner.Run] (or [Runner.Release] when it took none).
//
// Shutdown begins when the context given to [New] ends (or with
// [Runner.Stop]): the runner hands no new message to the handler (a
// waiting Handle nacks its message), running handlers keep a live context
// for the shutdown grace, then their contexts are cancelled
// ([ErrShutdownGrace]), and a handler still running [AbandonDelay] later
// is abandoned: its message is nacked. [Runner.Wait] returns when every
// message is settled.
type Runner struct {
	cfg    Config
	h      ports.Handler
	logger *slog.Logger
	slots  chan struct{}

	hctx    context.Context // the handlers' context
	hcancel context.CancelCauseFunc

	stopping  chan struct{} // closed when shutdown begins
	abandon   chan struct{} // closed AbandonDelay after hurry
	stopWatch func() bool
	queued    atomic.Int64 // Handle calls that joined a key's queue, for tests

	mu        sync.Mutex
	stopped   bool
	hurried   bool
	waited    bool
	active    int           // Acquire'd slots and Handle calls not yet done
	idle      chan struct{} // closed once stopped and active == 0
	keys      map[string]chan struct{}
	timers    []*time.Timer
	abandoned int
}

// New returns a runner of h whose shutdown begins when ctx ends. The
// handlers' context keeps ctx's values but not its cancellation.
func New(ctx context.Context, cfg Config, h ports.Handler) *Runner {
	if cfg.MaxConcurrency <= 0 {
		cfg.MaxConcurrency = ports.DefaultMaxConcurrency
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = ports.DefaultShutdownGrace
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if cfg.Backend != "" {
		logger = logger.With(slog.String("backend", cfg.Backend))
	}
	r := &Runner{
		cfg:      cfg,
		h:        cfg.Instr.Handler(cfg.Subscription, h, cfg.DeadLetterAfter),
		logger:   logger.With(slog.String("subscription", cfg.Subscription)),
		slots:    make(chan struct{}, cfg.MaxConcurrency),
		stopping: make(chan struct{}),
		abandon:  make(chan struct{}),
		idle:     make(chan struct{}),
		keys:     map[string]chan struct{}{},
	}
	r.hctx, r.hcancel = context.WithCancelCause(context.WithoutCancel(ctx))
	r.stopWatch = context.AfterFunc(ctx, r.Stop)
	return r
}

// MaxConcurrency returns the runner's concurrency limit.
func (r *Runner) MaxConcurrency() int { return r.cfg.MaxConcurrency }

// Stopping is closed when shutdown begins: a pulling backend stops taking
// messages.
func (r *Runner) Stopping() <-chan struct{} { return r.stopping }

// Stop begins the shutdown (see [Runner]); later calls do nothing.
func (r *Runner) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopLocked()
}

func (r *Runner) stopLocked() {
	if r.stopped {
		return
	}
	r.stopped = true
	close(r.stopping)
	r.timers = append(r.timers, time.AfterFunc(r.cfg.ShutdownGrace, r.Hurry))
	r.checkIdleLocked()
}

// Hurry ends the shutdown grace now: it begins the shutdown if need be,
// cancels the handlers' contexts, and abandons the handlers still running
// AbandonDelay later. A Close whose own deadline has passed calls it.
func (r *Runner) Hurry() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopLocked()
	if r.hurried || r.waited {
		return
	}
	r.hurried = true
	r.hcancel(ErrShutdownGrace)
	r.timers = append(r.timers, time.AfterFunc(AbandonDelay, func() { close(r.abandon) }))
}

// Wait begins the shutdown if need be and returns once every message the
// runner was given is settled (handlers that ignored their context for
// AbandonDelay are left running). It reports how many handlers were
// abandoned.
func (r *Runner) Wait() (abandoned int) {
	r.Stop()
	<-r.idle
	r.stopWatch()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.waited = true
	for _, t := range r.timers {
		t.Stop()
	}
	r.hcancel(context.Canceled)
	return r.abandoned
}

// enter counts a caller in, unless the shutdown has begun.
func (r *Runner) enter() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return false
	}
	r.active++
	return true
}

func (r *Runner) leave() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.active--
	r.checkIdleLocked()
}

func (r *Runner) checkIdleLocked() {
	if r.stopped && r.active == 0 {
		select {
		case <-r.idle:
		default:
			close(r.idle)
		}
	}
}

func (r *Runner) isStopping() bool {
	select {
	case <-r.stopping:
		return true
	default:
		return false
	}
}

// Acquire waits for room for one more handler call and reports true, or
// false once the shutdown has begun. After true the caller must call Run
// or Release exactly once.
func (r *Runner) Acquire() bool {
	if !r.enter() {
		return false
	}
	select {
	case r.slots <- struct{}{}:
		if !r.isStopping() {
			return true
		}
		<-r.slots
	case <-r.stopping:
	}
	r.leave()
	return false
}

// Release gives back a slot taken by Acquire and not used.
func (r *Runner) Release() {
	<-r.slots
	r.leave()
}

// Run calls the handler on d in a slot taken by Acquire, settles d, and
// releases the slot. It returns when d is settled: the handler returned,
// or was abandoned.
func (r *Runner) Run(d Delivery) {
	defer r.Release()
	r.run(d)
}

// Handle waits for d's turn (its ordering key's, when Config.Ordered) and
// for room, calls the handler on d, and settles d; it returns when d is
// settled. Once the shutdown has begun it nacks d without calling the
// handler.
func (r *Runner) Handle(d Delivery) {
	if !r.enter() {
		d.Nack()
		return
	}
	defer r.leave()
	if key := d.Message.OrderingKey; r.cfg.Ordered && key != "" {
		prev, mine := r.queueKey(key)
		defer r.doneKey(key, mine)
		if prev != nil {
			select {
			case <-prev:
			case <-r.stopping:
				d.Nack()
				return
			}
		}
	}
	select {
	case r.slots <- struct{}{}:
	case <-r.stopping:
		d.Nack()
		return
	}
	defer func() { <-r.slots }()
	if r.isStopping() {
		d.Nack()
		return
	}
	r.run(d)
}

// queueKey appends a caller to key's queue: it returns the channel of the
// caller before it (nil when none) and its own, which doneKey closes.
func (r *Runner) queueKey(key string) (prev, mine chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	prev = r.keys[key]
	mine = make(chan struct{})
	r.keys[key] = mine
	r.queued.Add(1)
	return prev, mine
}

func (r *Runner) doneKey(key string, mine chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	close(mine)
	if r.keys[key] == mine {
		delete(r.keys, key)
	}
}

// run calls the handler on d and settles d: Ack on nil, Nack on an error,
// a panic or abandonment.
func (r *Runner) run(d Delivery) {
	done := make(chan error, 1)
	go func() { done <- r.call(d.Message) }()
	select {
	case err := <-done:
		if err != nil {
			d.Nack()
			return
		}
		d.Ack()
	case <-r.abandon:
		r.mu.Lock()
		r.abandoned++
		r.mu.Unlock()
		r.logger.LogAttrs(context.Background(), slog.LevelWarn,
			"handler still running after the shutdown grace and its context's end; abandoned, message nacked",
			slog.String("message_id", d.Message.ID), slog.Duration("shutdown_grace", r.cfg.ShutdownGrace))
		d.Nack()
	}
}

// call runs the handler, turning a panic into an error and one log line
// with the stack (never the message's data or attributes).
func (r *Runner) call(m ports.Message) (err error) {
	defer func() {
		if p := recover(); p != nil {
			r.logger.LogAttrs(context.Background(), slog.LevelError, "handler panicked; message nacked",
				slog.String("message_id", m.ID), slog.String("panic", fmt.Sprint(p)), slog.String("stack", string(debug.Stack())))
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return r.h(r.hctx, m)
}
