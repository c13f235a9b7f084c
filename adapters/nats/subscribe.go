package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/internal/subscribe"
	"github.com/portkit/portkit/ports"
)

// subscriptionEntry is one running Subscribe call, as Close sees it.
type subscriptionEntry struct {
	cancel  context.CancelCauseFunc
	mu      sync.Mutex
	runner  *subscribe.Runner // nil until the start-up lookups passed
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

// Subscribe calls h for every message of subscription, up to
// NATS_RECEIVE_GOROUTINES at once (default ports.DefaultMaxConcurrency),
// until ctx ends (ports.Subscriber). It pulls messages from the
// subscription's durable consumers over one subscription per consumer,
// never asking for more than its handlers can take (each consumer gets a
// share of that room; a message asked for counts until it arrives or its
// request expires), so it holds no message that another Subscribe call
// could handle sooner. A nil return acknowledges the message; an error or
// a panic (logged once, with the message ID and the stack but never its
// data) negatively acknowledges it, and JetStream delivers it again at
// once. While a handler runs, its message's ack deadline is extended
// (every third of it), so the message is not delivered elsewhere
// meanwhile. Message.DeliveryAttempt is JetStream's count of deliveries,
// from 1, with or without a dead-letter policy (NATS always counts).
//
// On a subscription with ordering, the messages of one ordering key reach
// h one at a time, in publish order, across every Subscribe call of the
// subscription: each partition's consumer has at most one message
// unacknowledged, so a nacked message (or one whose deadline expired) is
// delivered again before any later message of its partition, and the
// later ones follow it again, as ports.Subscriber requires. Keys that
// share a partition wait for each other (head-of-line blocking); messages
// without a key are delivered concurrently.
//
// With MaxDeliveryAttempts, a message whose handler fails on its last
// allowed delivery, or that comes again after its last one expired, is
// published to DeadLetterTopic with its data, ordering key and attributes
// plus the four ports.AttrDeadLetter* ones (the subscription project is
// the adapter's prefix), then acknowledged. A forward that fails is
// retried with the next delivery.
//
// It returns ports.ErrUnavailable wrapping ctx's error when ctx is already
// done, ports.ErrInvalid for a bad name or a nil handler, ports.ErrNotFound
// for an unknown subscription (or one whose topic or consumers were
// deleted, also while it runs: a running call asks every third of the
// unavailable timeout, at most every 10s), and ports.ErrUnavailable when
// the connection stays down for the unavailable timeout. When ctx ends it
// follows ports.Subscriber's shutdown rule (package internal/subscribe
// runs it): it stops pulling (it unsubscribes, lets the messages the
// server had already sent arrive, and nacks them), lets running handlers
// go on with their contexts live for the shutdown grace, then cancels
// their contexts, abandons (and nacks) a handler still running a second
// later, flushes the last acks and returns nil. After Close, Subscribe
// returns ports.ErrClosed.
func (n *NATS) Subscribe(ctx context.Context, subscription string, h ports.Handler) error {
	err := n.doSubscribe(ctx, subscription, h)
	n.sub.RecordError(ctx, obs.OpSubscribe, subscription, err)
	return err
}

func (n *NATS) doSubscribe(ctx context.Context, subscription string, h ports.Handler) error {
	op := "subscribe " + subscription
	if err := n.gate.Check(ctx, backend, op); err != nil {
		return err
	}
	if subscription == "" {
		return invalidErr("subscribe", errors.New("empty subscription"))
	}
	if err := checkName("subscription", subscription); err != nil {
		return invalidErr(op, err)
	}
	if h == nil {
		return invalidErr(op, errors.New("nil handler"))
	}

	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	entry := &subscriptionEntry{cancel: cancel}
	n.mu.Lock()
	if n.gate.Closed() {
		n.mu.Unlock()
		return closedErr(op)
	}
	n.subs[entry] = struct{}{}
	n.bg.Add(1)
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.subs, entry)
		n.mu.Unlock()
		n.bg.Done()
	}()

	// result turns the end of Subscribe into its error.
	result := func(err error) error {
		if cause := context.Cause(rctx); cause != nil && ctx.Err() == nil {
			if errors.Is(cause, errClosing) {
				return closedErr(op)
			}
			return cause // a puller's or the watchdog's verdict
		}
		if ctx.Err() != nil {
			return nil
		}
		return err
	}

	rec, err := n.lookup(rctx, op, subscription)
	if err != nil {
		return result(err)
	}
	consumers, err := n.consumersOf(rctx, op, subscription, rec)
	if err != nil {
		return result(err)
	}

	r := subscribe.New(rctx, subscribe.Config{
		Subscription:   subscription, // n.logger names the backend
		MaxConcurrency: n.cfg.Receive.Goroutines,
		ShutdownGrace:  n.cfg.Receive.ShutdownTimeout,
		Logger:         n.logger,
		Instr:          n.sub,
		// A failure at the last allowed delivery forwards the message to
		// the dead-letter topic (nackOrForward).
		DeadLetterAfter: rec.MaxDeliveryAttempts,
	}, h)
	entry.setRunner(r)
	s := &subscriber{
		n:            n,
		op:           op,
		subscription: subscription,
		rec:          rec,
		r:            r,
		fail:         cancel,
	}
	// Each puller has a share of the room: one message for each
	// partition (it has at most one unacknowledged), the rest for the
	// messages without a key, at least one.
	for i, c := range consumers {
		maxOwn := max(n.cfg.Receive.Goroutines-rec.Partitions, 1)
		if rec.consumers()[i] >= 0 {
			maxOwn = 1
		}
		s.pullers = append(s.pullers, newPuller(s, c, maxOwn))
	}
	var pullers sync.WaitGroup
	for _, p := range s.pullers {
		pullers.Go(p.run)
	}
	pullers.Go(func() { s.watch(rctx, consumers) })

	<-rctx.Done()
	r.Stop()
	pullers.Wait()
	r.Wait()
	s.settledAll()
	if n.nc.Status() == nats.CONNECTED {
		_ = n.nc.FlushTimeout(flushTimeout) // the last acks
	}
	return result(nil)
}

// consumersOf returns the consumers of the subscription rec describes, in
// the order of rec.consumers(): ErrNotFound when its stream or one of them
// is missing.
func (n *NATS) consumersOf(ctx context.Context, op, subscription string, rec subRecord) ([]jetstream.Consumer, error) {
	var out []jetstream.Consumer
	for _, part := range rec.consumers() {
		name := consumer(subscription, part)
		var c jetstream.Consumer
		err := n.api(ctx, op, func(ctx context.Context) error {
			var err error
			c, err = n.js.Consumer(ctx, rec.Stream, name)
			return err
		})
		if err != nil {
			if ports.KindOf(err) == ports.ErrNotFound {
				return nil, ports.NewError(backend, op, ports.ErrNotFound,
					fmt.Errorf("subscription %q is detached: its topic %q or its consumer %s is gone: %w", subscription, rec.Topic, name, err))
			}
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// subscriber is the state of one Subscribe call.
type subscriber struct {
	n            *NATS
	op           string
	subscription string
	rec          subRecord
	r            *subscribe.Runner
	fail         context.CancelCauseFunc // ends the call with an error
	pullers      []*puller

	open sync.WaitGroup // messages received and not yet settled
}

// settledAll waits for the settling of every message received (the
// forwards to the dead-letter topic among them).
func (s *subscriber) settledAll() { s.open.Wait() }

// fatal ends the call when err says the subscription is gone, and reports
// whether it did.
func (s *subscriber) fatal(err error) bool {
	if s.n.gate.Closed() && errors.Is(err, nats.ErrConnectionClosed) {
		return true
	}
	if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) ||
		errors.Is(err, jetstream.ErrStreamNotFound) {
		s.fail(ports.NewError(backend, s.op, ports.ErrNotFound,
			fmt.Errorf("subscription %q was deleted while receiving: %w", s.subscription, err)))
		return true
	}
	return false
}

// gone asks the server, after a failed pull request, whether c still
// exists (a pull request to a deleted consumer gets no responders), and
// ends the call with ErrNotFound when it does not.
func (s *subscriber) gone(c jetstream.Consumer) bool {
	if s.n.nc.Status() != nats.CONNECTED {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.n.cfg.CheckTimeout)
	defer cancel()
	_, err := c.Info(ctx)
	return err != nil && s.fatal(err)
}

// watch ends the call with ErrUnavailable once the connection has been
// down for the unavailable timeout, and with ErrNotFound when one of the
// consumers disappears (it asks every third of the unavailable timeout,
// at most every 10s).
func (s *subscriber) watch(ctx context.Context, consumers []jetstream.Consumer) {
	limit := s.n.cfg.Receive.UnavailableTimeout
	t := time.NewTicker(min(max(limit/10, 10*time.Millisecond), time.Second))
	defer t.Stop()
	probeEvery := min(max(limit/3, 100*time.Millisecond), 10*time.Second)
	lastProbe := time.Now()
	var downSince time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		switch st := s.n.nc.Status(); {
		case st == nats.CONNECTED:
			downSince = time.Time{}
			if time.Since(lastProbe) >= probeEvery {
				lastProbe = time.Now()
				for _, c := range consumers {
					if s.gone(c) {
						return
					}
				}
			}
		case st == nats.CLOSED && !s.n.gate.Closed():
			s.fail(ports.NewError(backend, s.op, ports.ErrUnavailable, fmt.Errorf("connection closed: %w", s.n.scrub(s.n.nc.LastError()))))
			return
		case downSince.IsZero():
			downSince = time.Now()
		case time.Since(downSince) >= limit:
			cause := fmt.Errorf("no connection to the server for %s", limit.Round(time.Millisecond))
			if last := s.n.nc.LastError(); last != nil {
				cause = fmt.Errorf("%w: %w", cause, s.n.scrub(last))
			}
			s.fail(ports.NewError(backend, s.op, ports.ErrUnavailable, cause))
			return
		}
	}
}

// dispatch hands a message received by p to the runner, or settles it at
// once: nacked once the shutdown has begun, forwarded when it is past its
// last allowed delivery.
func (s *subscriber) dispatch(p *puller, msg *nats.Msg) {
	s.open.Add(1)
	d := &delivery{s: s, p: p, msg: msg, m: decode(msg)}
	d.extend(s.rec.ackWait() / 3)
	if limit := s.rec.MaxDeliveryAttempts; limit > 0 && d.m.DeliveryAttempt > limit {
		// Its last delivery expired (the handler's process died, say):
		// it has had its attempts.
		go d.settle(func() { s.deadLetter(d, limit) })
		return
	}
	if !s.r.Acquire() {
		d.settle(d.nak)
		return
	}
	go s.r.Run(subscribe.Delivery{Message: d.m, Ack: d.ack, Nack: d.nack})
}

// delivery is one received message until it is settled.
type delivery struct {
	s   *subscriber
	p   *puller
	msg *nats.Msg
	m   ports.Message

	mu    sync.Mutex
	done  bool
	timer *time.Timer
	every time.Duration
}

// extend tells the server every interval that the message is still being
// handled, until it is settled.
func (d *delivery) extend(every time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.every = every
	d.timer = time.AfterFunc(every, d.tick)
}

func (d *delivery) tick() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done {
		return
	}
	progress(d.s.n.nc, d.msg)
	d.timer.Reset(d.every)
}

// settle stops the extension, runs how (at most once) and counts the
// message out.
func (d *delivery) settle(how func()) {
	d.mu.Lock()
	if d.done {
		d.mu.Unlock()
		return
	}
	d.done = true
	d.timer.Stop()
	d.mu.Unlock()
	how()
	d.p.settledOne()
	d.s.open.Done()
}

func (d *delivery) ack()  { d.settle(func() { ack(d.s.n.nc, d.msg) }) }
func (d *delivery) nak()  { nak(d.s.n.nc, d.msg) }
func (d *delivery) nack() { d.settle(d.nackOrForward) }

// nackOrForward nacks the message, or forwards it to the dead-letter topic
// when this was its last allowed delivery.
func (d *delivery) nackOrForward() {
	if limit := d.s.rec.MaxDeliveryAttempts; limit > 0 && d.m.DeliveryAttempt >= limit {
		d.s.deadLetter(d, limit)
		return
	}
	d.nak()
}

// deadLetter publishes d's message to the dead-letter topic with the
// dead-letter attributes, then acknowledges it; when that fails, it nacks
// it after a second, and the next delivery forwards it again.
func (s *subscriber) deadLetter(d *delivery, attempts int) {
	m := d.m
	attrs := make(map[string]string, len(m.Attributes)+4)
	maps.Copy(attrs, m.Attributes)
	attrs[ports.AttrDeadLetterDeliveryCount] = strconv.Itoa(min(m.DeliveryAttempt, attempts))
	attrs[ports.AttrDeadLetterSubscription] = s.subscription
	attrs[ports.AttrDeadLetterSubscriptionProject] = s.n.cfg.Prefix
	attrs[ports.AttrDeadLetterTopicPublishTime] = m.PublishTime.UTC().Format("2006-01-02T15:04:05.000Z")
	out := ports.Message{Data: m.Data, Attributes: attrs, OrderingKey: m.OrderingKey}
	ctx, cancel := context.WithTimeout(context.Background(), s.n.cfg.Publish.Timeout)
	defer cancel()
	var err error
	if st := s.n.nc.Status(); st != nats.CONNECTED {
		// Not worth a publish timeout: the message comes back after its
		// ack deadline, and is forwarded then.
		err = ports.NewError(backend, "forward to dead-letter topic", ports.ErrUnavailable,
			fmt.Errorf("not connected to the server (%s)", st))
	} else {
		err = s.n.forward(ctx, s.rec.DeadLetterTopic, out)
	}
	if err != nil {
		s.n.logger.LogAttrs(ctx, slog.LevelError, "nats: could not forward a message to its dead-letter topic; it is delivered again",
			slog.String("subscription", s.subscription), slog.String("message_id", m.ID),
			slog.String("dead_letter_topic", s.rec.DeadLetterTopic), slog.Any("error", err))
		nakAfter(s.n.nc, d.msg, time.Second)
		return
	}
	ack(s.n.nc, d.msg)
}

// forward publishes m, a dead-lettered message, to topic and waits for its
// acknowledgement. Only the server's limit applies: the dead-letter
// attributes may take a message past the portable ones.
func (n *NATS) forward(ctx context.Context, topic string, m ports.Message) error {
	const op = "forward to dead-letter topic"
	msg := encode(n.lay.subject(topic, m.OrderingKey), m)
	if size, limit := wireSize(msg), int(n.nc.MaxPayload()); size > limit {
		return invalidErr(op, fmt.Errorf("the dead-lettered message has %d bytes with its dead-letter attributes, over the server's max_payload of %d", size, limit))
	}
	return n.api(ctx, op, func(ctx context.Context) error {
		_, err := n.js.PublishMsg(ctx, msg)
		return err
	})
}
