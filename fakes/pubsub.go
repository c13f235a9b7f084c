package fakes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portkit/portkit/ports"
)

// SubscriptionConfig configures a subscription made with
// PubSub.CreateSubscription.
type SubscriptionConfig struct {
	// Ordering delivers messages with the same ordering key one at a time,
	// in publish order; a nacked one is redelivered before later ones.
	Ordering bool
	// AckDeadline is recorded for inspection only: like the Pub/Sub client,
	// which extends leases while a handler runs, the fake never redelivers
	// a message whose handler is still running.
	AckDeadline time.Duration
	// MaxDeliveryAttempts, when positive, stops redelivering a message
	// after that many failed attempts: it is forwarded to DeadLetterTopic
	// when set (with a new ID), else dropped.
	MaxDeliveryAttempts int
	// DeadLetterTopic is where messages go after MaxDeliveryAttempts.
	DeadLetterTopic string
}

// PubSub is an in-memory [ports.Publisher], [ports.Subscriber] and
// [ports.Connector] (Name "fake-pubsub"), safe for concurrent use.
//
// Topics and subscriptions are created with CreateTopic and
// CreateSubscription. Each subscription gets every message published to
// its topic after it was created (fan-out). Delivery is at least once: a
// handler that returns an error or panics nacks the message, which is
// delivered again after a short real-time delay ([WithRedeliveryDelay]),
// with Message.DeliveryAttempt counting from 1. Message IDs are decimal
// counters, PublishTime comes from the clock. Several Subscribe calls on
// one subscription share its messages.
//
// Published, Pending, Acked and Nacked let tests inspect what happened.
type PubSub struct {
	Faults

	name       string
	clock      Clock
	logger     *slog.Logger
	maxConc    int
	redelivery time.Duration
	maxMessage int

	closed     atomic.Bool
	stop       chan struct{}      // closed by Close: stop delivering
	hard       context.Context    // cancelled when Close gives up waiting
	hardCancel context.CancelFunc // cancels hard

	mu      sync.Mutex
	topics  map[string]*psTopic
	subs    map[string]*psSub
	seq     uint64
	running int           // Subscribe calls in progress
	idle    chan struct{} // closed when running drops to 0 after Close
}

type psTopic struct {
	name string
	subs []*psSub
	log  []ports.Message
}

type psSub struct {
	name     string
	topic    *psTopic
	cfg      SubscriptionConfig
	queue    []*delivery // waiting messages, in publish order
	inflight int
	busy     map[string]bool // ordering keys with a message in flight
	acked    int
	nacked   int
	changed  chan struct{} // closed and replaced whenever the queue changes
}

type delivery struct {
	seq      uint64
	msg      ports.Message // shared, never modified; handlers get copies
	attempts int
	readyAt  time.Time // real time; zero = now
}

var (
	_ ports.Publisher  = (*PubSub)(nil)
	_ ports.Subscriber = (*PubSub)(nil)
	_ ports.Connector  = (*PubSub)(nil)
)

// NewPubSub returns a PubSub with no topic. It honours [WithClock],
// [WithName], [WithLogger], [WithMaxConcurrency], [WithRedeliveryDelay] and
// [WithMaxMessageBytes].
func NewPubSub(opts ...Option) *PubSub {
	cfg := newConfig("fake-pubsub", opts)
	ps := &PubSub{
		name:       cfg.name,
		clock:      cfg.clock,
		logger:     cfg.logger,
		maxConc:    cfg.maxConcurrency,
		redelivery: cfg.redelivery,
		maxMessage: cfg.maxMessage,
		stop:       make(chan struct{}),
		topics:     make(map[string]*psTopic),
		subs:       make(map[string]*psSub),
	}
	ps.hard, ps.hardCancel = context.WithCancel(context.Background())
	return ps
}

// Name returns "fake-pubsub" (or the name given with WithName).
func (ps *PubSub) Name() string { return ps.name }

// Check returns nil unless the PubSub is closed, ctx is done, or a fault
// is injected.
func (ps *PubSub) Check(ctx context.Context) error { return ps.enter(ctx, "check") }

func (ps *PubSub) enter(ctx context.Context, op string) error {
	return gate(ctx, &ps.closed, &ps.Faults, ps.name, op)
}

// Close stops delivery: running Subscribe calls stop handing out messages,
// wait for their running handlers and return an error wrapping
// ports.ErrClosed. Close waits for them until ctx ends; then it cancels the
// handlers' contexts and returns an error wrapping ctx.Err(). Every later
// call returns an error wrapping ports.ErrClosed.
func (ps *PubSub) Close(ctx context.Context) error {
	ps.mu.Lock()
	if ps.closed.Load() {
		ps.mu.Unlock()
		return ports.NewError(ps.name, "close", ports.ErrClosed, nil)
	}
	ps.closed.Store(true)
	close(ps.stop)
	var idle chan struct{}
	if ps.running > 0 {
		idle = make(chan struct{})
		ps.idle = idle
	}
	ps.mu.Unlock()
	if idle == nil {
		ps.hardCancel()
		return nil
	}
	select {
	case <-idle:
		ps.hardCancel()
		return nil
	case <-ctx.Done():
		ps.hardCancel()
		return ports.NewError(ps.name, "close", ports.ErrUnavailable, fmt.Errorf("handlers still running: %w", ctx.Err()))
	}
}

// CreateTopic creates the topic name. An existing topic is an error
// wrapping ports.ErrConflict.
func (ps *PubSub) CreateTopic(ctx context.Context, name string) error {
	if err := ps.enter(ctx, "create topic"); err != nil {
		return err
	}
	if name == "" {
		return ports.NewError(ps.name, "create topic", ports.ErrInvalid, errors.New("empty topic name"))
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if _, ok := ps.topics[name]; ok {
		return ports.NewError(ps.name, "create topic "+name, ports.ErrConflict, errors.New("topic exists"))
	}
	ps.topics[name] = &psTopic{name: name}
	return nil
}

// CreateSubscription creates the subscription name to topic. An unknown
// topic is an error wrapping ports.ErrNotFound, an existing subscription
// ports.ErrConflict.
func (ps *PubSub) CreateSubscription(ctx context.Context, name, topic string, cfg SubscriptionConfig) error {
	op := "create subscription " + name
	if err := ps.enter(ctx, op); err != nil {
		return err
	}
	if name == "" {
		return ports.NewError(ps.name, op, ports.ErrInvalid, errors.New("empty subscription name"))
	}
	if cfg.AckDeadline < 0 || cfg.MaxDeliveryAttempts < 0 {
		return ports.NewError(ps.name, op, ports.ErrInvalid, errors.New("negative ack deadline or delivery attempts"))
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	t, ok := ps.topics[topic]
	if !ok {
		return ports.NewError(ps.name, op, ports.ErrNotFound, fmt.Errorf("topic %q does not exist", topic))
	}
	if cfg.DeadLetterTopic != "" {
		if _, ok := ps.topics[cfg.DeadLetterTopic]; !ok {
			return ports.NewError(ps.name, op, ports.ErrNotFound, fmt.Errorf("dead-letter topic %q does not exist", cfg.DeadLetterTopic))
		}
	}
	if _, ok := ps.subs[name]; ok {
		return ports.NewError(ps.name, op, ports.ErrConflict, errors.New("subscription exists"))
	}
	s := &psSub{name: name, topic: t, cfg: cfg, busy: make(map[string]bool), changed: make(chan struct{})}
	ps.subs[name] = s
	t.subs = append(t.subs, s)
	return nil
}

// Publish stores msgs on topic, fans them out to its subscriptions and
// returns their IDs in order. An unknown topic is an error wrapping
// ports.ErrNotFound; an empty message (no data, no attribute), an empty
// attribute key, or a message over the size limit is ErrInvalid, and then
// nothing is published.
func (ps *PubSub) Publish(ctx context.Context, topic string, msgs ...ports.Message) ([]string, error) {
	op := "publish"
	if err := ps.enter(ctx, op); err != nil {
		return nil, err
	}
	for i, m := range msgs {
		if err := ps.validate(m); err != nil {
			return nil, ports.NewError(ps.name, op, ports.ErrInvalid, fmt.Errorf("message %d: %w", i, err))
		}
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	t, ok := ps.topics[topic]
	if !ok {
		return nil, ports.NewError(ps.name, op, ports.ErrNotFound, fmt.Errorf("topic %q does not exist", topic))
	}
	return ps.publishLocked(t, msgs), nil
}

func (ps *PubSub) validate(m ports.Message) error {
	if len(m.Data) == 0 && len(m.Attributes) == 0 {
		return errors.New("empty message (no data and no attribute)")
	}
	size := len(m.Data) + len(m.OrderingKey)
	for k, v := range m.Attributes {
		if k == "" {
			return errors.New("empty attribute key")
		}
		size += len(k) + len(v)
	}
	if size > ps.maxMessage {
		return fmt.Errorf("message of %d bytes is over the limit of %d", size, ps.maxMessage)
	}
	return nil
}

// publishLocked stores copies of msgs and queues them (ps.mu held).
func (ps *PubSub) publishLocked(t *psTopic, msgs []ports.Message) []string {
	now := ps.clock.Now().UTC()
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ps.seq++
		stored := ports.Message{
			ID:          strconv.FormatUint(ps.seq, 10),
			Data:        bytes.Clone(m.Data),
			Attributes:  maps.Clone(m.Attributes),
			OrderingKey: m.OrderingKey,
			PublishTime: now,
		}
		ids[i] = stored.ID
		t.log = append(t.log, stored)
		for _, s := range t.subs {
			s.queue = append(s.queue, &delivery{seq: ps.seq, msg: stored})
		}
	}
	for _, s := range t.subs {
		s.signal()
	}
	return ids
}

// signal wakes the Subscribe calls waiting on s (ps.mu held).
func (s *psSub) signal() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// next takes the first deliverable message off s's queue (ps.mu held):
// ready, and on an ordering subscription the first of its key with no
// message of that key in flight. It also returns the earliest time a
// waiting message becomes ready.
func (s *psSub) next(now time.Time) (*delivery, time.Time) {
	var wake time.Time
	var blocked map[string]bool
	for i, d := range s.queue {
		key := d.msg.OrderingKey
		ordered := s.cfg.Ordering && key != ""
		if ordered && (s.busy[key] || blocked[key]) {
			continue
		}
		if d.readyAt.After(now) {
			if wake.IsZero() || d.readyAt.Before(wake) {
				wake = d.readyAt
			}
			if ordered {
				if blocked == nil {
					blocked = make(map[string]bool)
				}
				blocked[key] = true
			}
			continue
		}
		s.queue = slices.Delete(s.queue, i, i+1)
		d.attempts++
		s.inflight++
		if ordered {
			s.busy[key] = true
		}
		return d, time.Time{}
	}
	return nil, wake
}

// requeue puts d back in publish order (ps.mu held).
func (s *psSub) requeue(d *delivery) {
	i, _ := slices.BinarySearchFunc(s.queue, d.seq, func(e *delivery, seq uint64) int {
		switch {
		case e.seq < seq:
			return -1
		case e.seq > seq:
			return 1
		}
		return 0
	})
	s.queue = slices.Insert(s.queue, i, d)
}

// Subscribe calls h for the messages of subscription, up to
// WithMaxConcurrency at once, until ctx ends; then it waits for the running
// handlers and returns nil. Handlers get a context that ends with ctx (or
// when Close gives up waiting). An unknown subscription is an error
// wrapping ports.ErrNotFound; after Close (also when Close is called
// during Subscribe) ports.ErrClosed.
func (ps *PubSub) Subscribe(ctx context.Context, subscription string, h ports.Handler) error {
	op := "subscribe " + subscription
	if err := ps.enter(ctx, op); err != nil {
		return err
	}
	if h == nil {
		return ports.NewError(ps.name, op, ports.ErrInvalid, errors.New("nil handler"))
	}
	ps.mu.Lock()
	if ps.closed.Load() {
		ps.mu.Unlock()
		return ports.NewError(ps.name, op, ports.ErrClosed, nil)
	}
	s, ok := ps.subs[subscription]
	if !ok {
		ps.mu.Unlock()
		return ports.NewError(ps.name, op, ports.ErrNotFound, fmt.Errorf("subscription %q does not exist", subscription))
	}
	ps.running++
	ps.mu.Unlock()
	defer ps.leave()

	hctx, hcancel := context.WithCancel(ctx)
	defer hcancel()
	stopHard := context.AfterFunc(ps.hard, hcancel)
	defer stopHard()

	var wg sync.WaitGroup
	defer wg.Wait() // runs first: handlers end before hctx is cancelled
	slots := make(chan struct{}, ps.maxConc)
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		case <-ps.stop:
			return ports.NewError(ps.name, op, ports.ErrClosed, nil)
		}
		d, err := ps.await(ctx, s)
		if d == nil {
			<-slots
			return err // nil when ctx ended, ErrClosed after Close
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			ps.deliver(hctx, s, d, h)
		}()
	}
}

// await waits for a deliverable message of s. It returns nil and the
// error Subscribe must return when ctx ends or the PubSub closes.
func (ps *PubSub) await(ctx context.Context, s *psSub) (*delivery, error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-ps.stop:
			return nil, ports.NewError(ps.name, "subscribe "+s.name, ports.ErrClosed, nil)
		default:
		}
		ps.mu.Lock()
		d, wake := s.next(time.Now())
		changed := s.changed
		ps.mu.Unlock()
		if d != nil {
			return d, nil
		}
		var timeout <-chan time.Time
		if !wake.IsZero() {
			if timer == nil {
				timer = time.NewTimer(time.Until(wake))
			} else {
				timer.Reset(time.Until(wake))
			}
			timeout = timer.C
		}
		select {
		case <-changed:
		case <-timeout:
		case <-ctx.Done():
			return nil, nil
		case <-ps.stop:
			return nil, ports.NewError(ps.name, "subscribe "+s.name, ports.ErrClosed, nil)
		}
	}
}

// leave ends a Subscribe call.
func (ps *PubSub) leave() {
	ps.mu.Lock()
	ps.running--
	if ps.running == 0 && ps.idle != nil {
		close(ps.idle)
		ps.idle = nil
	}
	ps.mu.Unlock()
}

// deliver runs h on a copy of d's message and acks or nacks it.
func (ps *PubSub) deliver(ctx context.Context, s *psSub, d *delivery, h ports.Handler) {
	m := d.msg
	m.Data = bytes.Clone(m.Data)
	m.Attributes = maps.Clone(m.Attributes)
	m.DeliveryAttempt = d.attempts
	err := ps.call(ctx, s, h, m)

	ps.mu.Lock()
	defer ps.mu.Unlock()
	s.inflight--
	if s.cfg.Ordering && m.OrderingKey != "" {
		delete(s.busy, m.OrderingKey)
	}
	switch {
	case err == nil:
		s.acked++
	case s.cfg.MaxDeliveryAttempts > 0 && d.attempts >= s.cfg.MaxDeliveryAttempts:
		s.nacked++
		if dl, ok := ps.topics[s.cfg.DeadLetterTopic]; ok && s.cfg.DeadLetterTopic != "" {
			dead := d.msg
			dead.Attributes = maps.Clone(dead.Attributes)
			if dead.Attributes == nil {
				dead.Attributes = make(map[string]string)
			}
			dead.Attributes["CloudPubSubDeadLetterSourceSubscription"] = s.name
			dead.Attributes["CloudPubSubDeadLetterSourceDeliveryCount"] = strconv.Itoa(d.attempts)
			ps.publishLocked(dl, []ports.Message{dead})
		}
	default:
		s.nacked++
		d.readyAt = time.Now().Add(ps.redelivery)
		s.requeue(d)
	}
	s.signal()
}

// call runs h, turning a panic into an error.
func (ps *PubSub) call(ctx context.Context, s *psSub, h ports.Handler, m ports.Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			ps.logger.Error("fakes: pub/sub handler panicked; message nacked",
				slog.String("subscription", s.name), slog.String("message_id", m.ID), slog.Any("panic", r))
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return h(ctx, m)
}

// Published returns copies of every message published to topic, in
// order, with their IDs and publish times (nil for an unknown topic).
func (ps *PubSub) Published(topic string) []ports.Message {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	t, ok := ps.topics[topic]
	if !ok {
		return nil
	}
	out := make([]ports.Message, len(t.log))
	for i, m := range t.log {
		m.Data = bytes.Clone(m.Data)
		m.Attributes = maps.Clone(m.Attributes)
		out[i] = m
	}
	return out
}

// Pending returns how many messages of subscription are not acknowledged
// yet: waiting or being handled (0 for an unknown subscription).
func (ps *PubSub) Pending(subscription string) int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if s, ok := ps.subs[subscription]; ok {
		return len(s.queue) + s.inflight
	}
	return 0
}

// Acked returns how many deliveries of subscription were acknowledged.
func (ps *PubSub) Acked(subscription string) int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if s, ok := ps.subs[subscription]; ok {
		return s.acked
	}
	return 0
}

// Nacked returns how many deliveries of subscription failed (the handler
// returned an error or panicked).
func (ps *PubSub) Nacked(subscription string) int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if s, ok := ps.subs[subscription]; ok {
		return s.nacked
	}
	return 0
}
