package pubsub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/portkit/portkit/ports"
)

// receiveGrace is how long Subscribe waits, once its handlers are done,
// for the client's Receive to send the last acks and return.
const receiveGrace = 2 * time.Second

// Subscribe calls h for every message of subscription (an ID of the
// configured project or a full name "projects/P/subscriptions/S"),
// concurrently, until ctx ends. A nil return acknowledges the message; an
// error or a panic (which is logged, with the message ID but never its
// data) negatively acknowledges it for redelivery.
//
// Before streaming, Subscribe asks the service for the subscription,
// bounded by the check timeout: an unknown subscription is
// ports.ErrNotFound and a service that does not answer
// ports.ErrUnavailable. While streaming, it asks again every third of the
// unavailable timeout and returns ports.ErrUnavailable once the service
// has not answered for that long (the client alone would retry forever).
//
// When ctx ends, Subscribe stops receiving, nacks the messages it holds
// but has not handed to h, waits for running handlers and for the last
// acks to be sent, and returns nil: within the shutdown timeout plus 2s. A
// handler's context keeps ctx's values but is cancelled only when the
// shutdown timeout has passed, so a handler can finish its work; one still
// running then is abandoned and its message nacked. After Close, Subscribe
// returns ports.ErrClosed.
func (p *PubSub) Subscribe(ctx context.Context, subscription string, h ports.Handler) error {
	const op = "subscribe"
	if subscription == "" {
		return invalidErr(op, errors.New("empty subscription"))
	}
	if h == nil {
		return invalidErr(op, errors.New("nil handler"))
	}
	opName := op + " " + subscription
	name := p.subName(subscription)

	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	key := new(int)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return closedErr(opName)
	}
	p.subs[key] = cancel
	p.receivers.Add(1)
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.subs, key)
		p.mu.Unlock()
		p.receivers.Done()
	}()

	// result turns the end of Subscribe into its error.
	result := func(err error) error {
		if cause := context.Cause(rctx); cause != nil && ctx.Err() == nil {
			if errors.Is(cause, errClosing) {
				return closedErr(opName)
			}
			return cause // the watchdog's verdict
		}
		if ctx.Err() != nil {
			return nil
		}
		return err
	}

	if _, err := p.probe(rctx, name); err != nil {
		return result(mapErr(opName, err))
	}

	stopWatch := p.watch(rctx, cancel, opName, name)
	defer stopWatch()

	s := p.client.Subscriber(name)
	s.ReceiveSettings = pubsub.ReceiveSettings{
		NumGoroutines:          p.cfg.Receive.Streams,
		MaxOutstandingMessages: p.cfg.Receive.MaxOutstanding,
		// Also the stream ack deadline: how long a message the server
		// pushed into a stream that broke stays invisible. Google's
		// emulator keeps pushing into a broken stream for a while; with
		// the client's default (60s) those messages would be that late.
		MaxDurationPerAckExtension: p.cfg.Receive.MaxAckExtension,
		// The client's graceful shutdown: it half-closes each stream
		// after the last ack. Its timed shutdown cancels the streams
		// first, and Google's emulator then hands the next message to a
		// dead stream, where it waits out the 60s stream ack deadline. The
		// bounds are the adapter's: see stopReceive.
		ShutdownOptions: &pubsub.ShutdownOptions{Timeout: -1},
	}

	hctx, hcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer hcancel()
	hs := &handlers{p: p, h: h, sub: subscription, hctx: hctx}
	if n := p.cfg.Receive.Goroutines; n > 0 {
		hs.limiter = make(chan struct{}, n)
	}

	done := make(chan error, 1)
	p.mu.Lock()
	if p.closed {
		// Close began during the start-up check; it waits on bg only
		// after setting closed, so this Add cannot race its Wait.
		p.mu.Unlock()
		return closedErr(opName)
	}
	p.bg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.bg.Done()
		done <- s.Receive(rctx, hs.receive)
	}()
	var err error
	select {
	case err = <-done:
		hs.stop(ctx, hcancel, p.cfg.Receive.ShutdownTimeout)
	case <-rctx.Done():
		err = p.stopReceive(ctx, hs, hcancel, done)
	}
	cancel(nil)

	if err == nil && ctx.Err() == nil && context.Cause(rctx) == nil {
		// Receive returned nil without being asked to stop: the stream
		// ended, which must not pass for a clean end.
		err = ports.NewError(backend, opName, ports.ErrUnavailable, errors.New("receive ended unexpectedly"))
	}
	return result(mapErr(opName, err))
}

// stopReceive ends a Receive whose context has ended: it waits for running
// handlers, at most the shutdown timeout, after which it abandons them
// (their messages are nacked); then it waits for Receive to send the last
// acks and return, at most receiveGrace. A Receive still running then
// (its streams retrying a server that is gone) is left to Close, which
// ends it by closing the connection.
func (p *PubSub) stopReceive(ctx context.Context, hs *handlers, hcancel context.CancelFunc, done <-chan error) error {
	hs.stop(ctx, hcancel, p.cfg.Receive.ShutdownTimeout)
	t := time.NewTimer(receiveGrace)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		p.logger.LogAttrs(ctx, slog.LevelWarn, "pubsub: receive still stopping; leaving it to Close",
			slog.String("subscription", hs.sub))
		return nil
	}
}

// handlers runs the user's handler for one Subscribe call.
type handlers struct {
	p       *PubSub
	h       ports.Handler
	sub     string
	hctx    context.Context // the handlers' context
	limiter chan struct{}   // nil: no cap besides MaxOutstanding

	mu      sync.Mutex
	stopped bool
	running sync.WaitGroup
}

// receive is the callback given to the client's Receive. It runs the
// handler in a goroutine of its own so that it can give up on a handler
// still running after the shutdown timeout: the message is then nacked and
// the client's shutdown completes.
func (hs *handlers) receive(rctx context.Context, m *pubsub.Message) {
	hs.mu.Lock()
	if hs.stopped || rctx.Err() != nil {
		// Shutting down: do not start new work; redeliver.
		hs.mu.Unlock()
		m.Nack()
		return
	}
	hs.running.Add(1)
	hs.mu.Unlock()

	if hs.limiter != nil {
		select {
		case hs.limiter <- struct{}{}:
		case <-rctx.Done():
			hs.running.Done()
			m.Nack()
			return
		}
	}
	res := make(chan error, 1)
	go func() {
		defer hs.running.Done()
		if hs.limiter != nil {
			defer func() { <-hs.limiter }()
		}
		res <- hs.call(m)
	}()
	select {
	case err := <-res:
		if err != nil {
			m.Nack()
			return
		}
		m.Ack()
	case <-hs.hctx.Done():
		m.Nack() // abandoned after the shutdown timeout
	}
}

// call runs the handler on m, turning a panic into an error and a log line.
func (hs *handlers) call(m *pubsub.Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			hs.p.logger.LogAttrs(hs.hctx, slog.LevelError, "pubsub: handler panicked; message nacked",
				slog.String("subscription", hs.sub), slog.String("message_id", m.ID),
				slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return hs.h(hs.hctx, toPortMessage(m))
}

// stop prevents new handler calls and waits for running ones, at most
// timeout; then it cancels the handlers' context, which abandons those
// still running.
func (hs *handlers) stop(ctx context.Context, hcancel context.CancelFunc, timeout time.Duration) {
	defer hcancel()
	hs.mu.Lock()
	hs.stopped = true
	hs.mu.Unlock()
	done := make(chan struct{})
	go func() {
		hs.running.Wait()
		close(done)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		hs.p.logger.LogAttrs(ctx, slog.LevelWarn, "pubsub: handlers still running after the shutdown timeout; their messages will be redelivered",
			slog.String("subscription", hs.sub), slog.Duration("shutdown_timeout", timeout))
	}
}

// toPortMessage converts a received message.
func toPortMessage(m *pubsub.Message) ports.Message {
	pm := ports.Message{
		ID:          m.ID,
		Data:        m.Data,
		Attributes:  m.Attributes,
		OrderingKey: m.OrderingKey,
		PublishTime: m.PublishTime,
	}
	if m.DeliveryAttempt != nil {
		pm.DeliveryAttempt = *m.DeliveryAttempt
	}
	return pm
}

// probe asks the service for the subscription, bounded by the check
// timeout. alive reports whether the service answered at all; err is its
// error answer (NotFound among them) or why it did not answer. A
// PermissionDenied answer counts as alive with no error.
func (p *PubSub) probe(ctx context.Context, name string) (alive bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.CheckTimeout)
	defer cancel()
	_, err = p.client.SubscriptionAdminClient.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: name})
	if err == nil {
		return true, nil
	}
	switch status.Code(err) {
	case codes.PermissionDenied:
		// The subscriber role may consume a subscription without reading
		// its metadata: the service answered; let the stream decide.
		return true, nil
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.Unknown:
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %s: %w", p.cfg.CheckTimeout, err)
		}
		return false, err
	}
	if ctx.Err() != nil {
		return false, err
	}
	return true, err
}

func isNotFound(err error) bool { return status.Code(err) == codes.NotFound }

// watch probes the subscription while Subscribe runs and cancels rctx with
// ErrUnavailable once the service has not answered for the unavailable
// timeout, or with ErrNotFound when the subscription disappears. The
// returned function stops it and waits for it.
func (p *PubSub) watch(rctx context.Context, cancel context.CancelCauseFunc, opName, name string) (stop func()) {
	wctx, wcancel := context.WithCancel(rctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		limit := p.cfg.Receive.UnavailableTimeout
		t := time.NewTicker(max(limit/3, 10*time.Millisecond))
		defer t.Stop()
		lastAnswer := time.Now()
		for {
			select {
			case <-wctx.Done():
				return
			case <-t.C:
			}
			alive, err := p.probe(wctx, name)
			if wctx.Err() != nil {
				return
			}
			switch {
			case isNotFound(err):
				cancel(mapErr(opName, err))
				return
			case alive:
				lastAnswer = time.Now()
			case time.Since(lastAnswer) >= limit:
				cancel(ports.NewError(backend, opName, ports.ErrUnavailable,
					fmt.Errorf("no answer from the service for %s: %w", limit.Round(time.Millisecond), err)))
				return
			}
		}
	})
	return func() {
		wcancel()
		wg.Wait()
	}
}
