package pubsub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/internal/subscribe"
	"github.com/portkit/portkit/ports"
)

// receiveGrace is how long Subscribe waits, once its handlers are done,
// for the client's Receive to send the last acks and return.
const receiveGrace = 2 * time.Second

// subscriptionEntry is one running Subscribe call, as Close sees it.
type subscriptionEntry struct {
	cancel  context.CancelCauseFunc
	mu      sync.Mutex
	runner  *subscribe.Runner // nil until the start-up check passed
	hurried bool
}

// setRunner records r, hurrying it at once if Close already asked.
func (s *subscriptionEntry) setRunner(r *subscribe.Runner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runner = r
	if s.hurried {
		r.Hurry()
	}
}

// hurry cuts the shutdown grace of the call's handlers short.
func (s *subscriptionEntry) hurry() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hurried = true
	if s.runner != nil {
		s.runner.Hurry()
	}
}

// Subscribe calls h for every message of subscription (an ID of the
// configured project or a full name "projects/P/subscriptions/S"), up to
// PUBSUB_RECEIVE_GOROUTINES at once (default ports.DefaultMaxConcurrency),
// until ctx ends. It holds no more received, unsettled messages than that
// either (nor than PUBSUB_RECEIVE_MAX_OUTSTANDING): a message it could not
// hand to h at once would only wait, its lease extended, while another
// subscriber could take it. A nil return acknowledges the message; an error or a
// panic (which is logged once, with the message ID and the stack but never
// its data) negatively acknowledges it for redelivery. On a subscription
// with ordering, the messages of one ordering key reach h one at a time,
// in publish order.
//
// It returns ports.ErrUnavailable wrapping ctx's error when ctx is already
// done, ports.ErrInvalid for a bad name or a nil handler, and then asks the
// service for the subscription, bounded by the check timeout: an unknown
// subscription is ports.ErrNotFound and a service that does not answer
// ports.ErrUnavailable. While streaming, it asks again every third of the
// unavailable timeout and returns ports.ErrUnavailable once the service
// has not answered for that long (the client alone would retry forever).
//
// When ctx ends, Subscribe follows ports.Subscriber's rule (package
// internal/subscribe runs it): it stops receiving, nacks the messages it
// holds but has not handed to h, lets running handlers go on with their
// contexts live for the shutdown grace (PUBSUB_SHUTDOWN_TIMEOUT, default
// ports.DefaultShutdownGrace), then cancels their contexts, abandons (and
// nacks) a handler still running one second later, waits up to 2s for the
// last acks to be sent, and returns nil. A handler's context keeps ctx's
// values. After Close, Subscribe returns ports.ErrClosed.
func (p *PubSub) Subscribe(ctx context.Context, subscription string, h ports.Handler) error {
	err := p.doSubscribe(ctx, subscription, h)
	p.sub.RecordError(ctx, obs.OpSubscribe, subscription, err)
	return err
}

func (p *PubSub) doSubscribe(ctx context.Context, subscription string, h ports.Handler) error {
	const op = "subscribe"
	opName := op + " " + subscription
	if err := p.enter(ctx, opName); err != nil {
		return err
	}
	if subscription == "" {
		return invalidErr(op, errors.New("empty subscription"))
	}
	if err := checkName("subscription", "subscriptions", subscription); err != nil {
		return invalidErr(opName, err)
	}
	if h == nil {
		return invalidErr(opName, errors.New("nil handler"))
	}
	name := p.subName(subscription)

	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	entry := &subscriptionEntry{cancel: cancel}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return closedErr(opName)
	}
	p.subs[entry] = struct{}{}
	p.receivers.Add(1)
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.subs, entry)
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

	var maxAttempts int
	if _, err := p.probe(rctx, name, &maxAttempts); err != nil {
		return result(p.wrap(rctx, opName, err))
	}

	stopWatch := p.watch(rctx, cancel, opName, name)
	defer stopWatch()

	concurrency := p.cfg.Receive.Goroutines
	if concurrency <= 0 {
		concurrency = ports.DefaultMaxConcurrency
	}
	s := p.client.Subscriber(name)
	s.ReceiveSettings = pubsub.ReceiveSettings{
		NumGoroutines:          p.cfg.Receive.Streams,
		MaxOutstandingMessages: min(p.cfg.Receive.MaxOutstanding, concurrency),
		// Also the stream ack deadline: how long a message the server
		// pushed into a stream that broke stays invisible. Google's
		// emulator keeps pushing into a broken stream for a while; with
		// the client's default (60s) those messages would be that late.
		MaxDurationPerAckExtension: p.cfg.Receive.MaxAckExtension,
		// The client's graceful shutdown: it waits for every callback,
		// then half-closes each stream after the last ack. Its timed
		// shutdown cancels the streams first, and Google's emulator then
		// hands the next message to a dead stream, where it waits out the
		// 60s stream ack deadline. The runner bounds the callbacks.
		ShutdownOptions: &pubsub.ShutdownOptions{Timeout: -1},
	}

	r := subscribe.New(rctx, subscribe.Config{
		Subscription: subscription, // p.logger names the backend

		MaxConcurrency: concurrency,
		ShutdownGrace:  p.cfg.Receive.ShutdownTimeout,
		Logger:         p.logger,
		Instr:          p.sub,
		// A nack at the policy's last attempt moves the message to the
		// dead-letter topic.
		DeadLetterAfter: maxAttempts,
	}, h)
	entry.setRunner(r)

	done := make(chan error, 1)
	p.mu.Lock()
	if p.closed {
		// Close began during the start-up check; it waits on bg only
		// after setting closed, so this Add cannot race its Wait.
		p.mu.Unlock()
		r.Wait()
		return closedErr(opName)
	}
	p.bg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.bg.Done()
		done <- s.Receive(rctx, func(_ context.Context, m *pubsub.Message) {
			r.Handle(subscribe.Delivery{Message: toPortMessage(m), Ack: m.Ack, Nack: m.Nack})
		})
	}()
	var err error
	select {
	case err = <-done:
		r.Wait()
	case <-rctx.Done():
		err = p.stopReceive(ctx, r, subscription, done)
	}
	cancel(nil)

	if err == nil && ctx.Err() == nil && context.Cause(rctx) == nil {
		// Receive returned nil without being asked to stop: the stream
		// ended, which must not pass for a clean end.
		err = ports.NewError(backend, opName, ports.ErrUnavailable, errors.New("receive ended unexpectedly"))
	}
	return result(p.classify(opName, err))
}

// stopReceive ends a Receive whose context has ended: it waits for the
// runner's shutdown (its handlers, within the grace and the abandon
// delay), then for Receive to send the last acks and return, at most
// receiveGrace. A Receive still running then (its streams retrying a
// server that is gone) is left to Close, which ends it by closing the
// connection.
func (p *PubSub) stopReceive(ctx context.Context, r *subscribe.Runner, sub string, done <-chan error) error {
	r.Wait()
	t := time.NewTimer(receiveGrace)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		p.logger.LogAttrs(ctx, slog.LevelWarn, "pubsub: receive still stopping; leaving it to Close",
			slog.String("subscription", sub))
		return nil
	}
}

// toPortMessage converts a received message. DeliveryAttempt is 0 unless
// the subscription has a dead-letter policy, as on the service.
func toPortMessage(m *pubsub.Message) ports.Message {
	pm := ports.Message{
		ID:          m.ID,
		Data:        m.Data,
		Attributes:  m.Attributes,
		OrderingKey: m.OrderingKey,
		PublishTime: m.PublishTime,
	}
	if len(pm.Data) == 0 {
		pm.Data = nil
	}
	if len(pm.Attributes) == 0 {
		pm.Attributes = nil
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
func (p *PubSub) probe(ctx context.Context, name string, maxDeliveryAttempts *int) (alive bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.CheckTimeout)
	defer cancel()
	sub, err := p.client.SubscriptionAdminClient.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: name})
	if err == nil {
		if maxDeliveryAttempts != nil {
			// For the dead-lettered count of the process metrics.
			*maxDeliveryAttempts = int(sub.GetDeadLetterPolicy().GetMaxDeliveryAttempts())
		}
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
			alive, err := p.probe(wctx, name, nil)
			if wctx.Err() != nil {
				return
			}
			switch {
			case isNotFound(err):
				cancel(p.classify(opName, err))
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
