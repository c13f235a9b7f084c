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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	igate "github.com/portkit/portkit/internal/gate"
	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/internal/subscribe"
	"github.com/portkit/portkit/ports"
)

// SubscriptionConfig is an alias of ports.SubscriptionConfig, the one
// subscription configuration of every portkit messaging implementation,
// kept for existing callers; new code names ports.SubscriptionConfig.
type SubscriptionConfig = ports.SubscriptionConfig

// PubSub is an in-memory [ports.Publisher], [ports.Subscriber],
// [ports.Admin] and [ports.Connector] (Name "fake-pubsub") that behaves
// like Google Pub/Sub, safe for concurrent use.
//
// It keeps the rules of the ports (ports.ValidateMessage before anything
// is published, ports.SubscriptionConfig.Validate, the entry-check order,
// the shutdown rule of Subscribe, run by the same runner as the adapters,
// package internal/subscribe) and follows Google Pub/Sub where the ports
// leave it to the backend:
//
//   - topics and subscriptions are named by ID or by full name of the
//     fake's project ([WithProject]); IDs follow Google's naming rule (3
//     to 255 characters, starting with a letter, no "goog" prefix):
//     ErrInvalid otherwise, before any check of existence;
//   - each subscription gets every message published to its topic after
//     it was created (fan-out); a topic without subscriptions accepts
//     messages and keeps them only for [PubSub.Published];
//   - message IDs are decimal counters from 1, PublishTime comes from the
//     clock with millisecond precision, and empty Data or Attributes are
//     delivered as nil;
//   - delivery is at least once: a nacked message (the handler returned an
//     error or panicked) is delivered again after the redelivery delay
//     ([WithRedeliveryDelay], real time); DeliveryAttempt counts deliveries
//     from 1 on a subscription with a dead-letter policy and is 0 on one
//     without; after MaxDeliveryAttempts the message goes to the
//     dead-letter topic as a new message, with its attributes plus the
//     four ports.AttrDeadLetter* ones;
//   - on a subscription with ordering, the messages of one ordering key
//     are handed out one at a time, in publish order; after a nack the
//     later messages of the key go on coming until the redelivery delay
//     passes (as from the client's buffer), then the nacked message and
//     every later message of its key handed out since, acknowledged or
//     not, are delivered again, in order (Google's documented
//     guarantee). A subscription without ordering still delivers the
//     ordering key;
//   - several Subscribe calls on one subscription share its messages, and
//     the fake never redelivers a message whose handler still runs (the
//     client extends its deadline meanwhile).
//
// Published, Pending, Acked and Nacked let tests inspect what happened;
// the embedded [Faults] inject failures, and [WithPublishLatency] a lost
// confirmation.
type PubSub struct {
	Faults

	name       string
	project    string
	clock      Clock
	logger     *slog.Logger
	maxConc    int
	grace      time.Duration
	redelivery time.Duration
	maxMessage int
	latency    time.Duration

	pub, sub, admin, conn *obs.Instr

	closed atomic.Bool

	mu     sync.Mutex
	topics map[string]*psTopic
	subs   map[string]*psSub
	seq    uint64
	runs   map[*psRun]struct{} // Subscribe calls in progress
	idle   chan struct{}       // closed when runs empties after Close
}

// psRun is one running Subscribe call, as Close sees it.
type psRun struct {
	cancel context.CancelCauseFunc
	runner *subscribe.Runner
}

type psTopic struct {
	name string
	subs []*psSub
	log  []ports.Message
}

type psSub struct {
	name     string
	topic    *psTopic
	cfg      ports.SubscriptionConfig
	queue    []*delivery // waiting messages, in publish order
	inflight int
	acked    int
	nacked   int
	changed  chan struct{} // closed and replaced whenever the queue changes

	// Ordering (cfg.Ordering, messages with a key):
	busy   map[string]bool        // keys with a message being handled
	sent   map[string][]*delivery // per key, handed out since its cursor, in publish order
	rewind map[string]rewind      // per key, a pending redelivery from a nacked message
}

// rewind is a pending redelivery of an ordering key from message seq on.
type rewind struct {
	seq uint64
	at  time.Time // real time
}

type delivery struct {
	seq      uint64
	msg      ports.Message // shared, never modified; handlers get copies
	attempts int
	readyAt  time.Time // real time; zero = now
	acked    bool      // ordering: acknowledged, still kept for a rewind
	handling bool      // handed to a handler, not yet settled
}

var (
	_ ports.Publisher  = (*PubSub)(nil)
	_ ports.Subscriber = (*PubSub)(nil)
	_ ports.Admin      = (*PubSub)(nil)
	_ ports.Connector  = (*PubSub)(nil)
)

// errFakeClosed is the cause with which Close ends running Subscribe calls.
var errFakeClosed = errors.New("fake pubsub closing")

// NewPubSub returns a PubSub with no topic. It honours [WithClock],
// [WithName], [WithLogger], [WithMaxConcurrency], [WithShutdownGrace],
// [WithRedeliveryDelay], [WithMaxMessageBytes], [WithPublishLatency] and
// [WithProject].
func NewPubSub(opts ...Option) *PubSub {
	cfg := newConfig("fake-pubsub", opts)
	ps := &PubSub{
		name:       cfg.name,
		project:    cfg.pubsub.project,
		clock:      cfg.clock,
		logger:     cfg.logger,
		maxConc:    cfg.maxConcurrency,
		grace:      cfg.pubsub.grace,
		redelivery: cfg.redelivery,
		maxMessage: min(cfg.maxMessage, ports.MaxMessageBytes),
		latency:    cfg.pubsub.latency,
		topics:     make(map[string]*psTopic),
		subs:       make(map[string]*psSub),
		runs:       make(map[*psRun]struct{}),
		pub:        cfg.instr(obs.PortPublisher, ""),
		sub:        cfg.instr(obs.PortSubscriber, ""),
		admin:      cfg.instr(obs.PortAdmin, ""),
		conn:       cfg.instr(obs.PortConnector, ""),
	}
	if ps.project == "" {
		ps.project = DefaultPubSubProject
	}
	if ps.grace <= 0 {
		ps.grace = ports.DefaultShutdownGrace
	}
	return ps
}

// Name returns "fake-pubsub" (or the name given with WithName).
func (ps *PubSub) Name() string { return ps.name }

// Check returns nil unless the PubSub is closed, ctx is nil or done, or a
// fault is injected.
func (ps *PubSub) Check(ctx context.Context) error {
	ctx, sp := ps.conn.Start(ctx, obs.OpCheck)
	err := ps.enter(ctx, "check")
	sp.End(err)
	return err
}

// enter is the entry check: closed, nil ctx, done ctx, then the faults.
func (ps *PubSub) enter(ctx context.Context, op string) error {
	return gate(ctx, &ps.closed, &ps.Faults, ps.name, op)
}

func (ps *PubSub) invalid(op string, cause error) error {
	return ports.NewError(ps.name, op, ports.ErrInvalid, cause)
}

func (ps *PubSub) notFound(op, format string, args ...any) error {
	return ports.NewError(ps.name, op, ports.ErrNotFound, fmt.Errorf(format, args...))
}

// resolve returns the ID of a topic (collection "topics") or
// subscription ("subscriptions") named by ID or by full name
// "projects/PROJECT/<collection>/ID" of the fake's project ([WithProject]),
// after checking it against Google Pub/Sub's naming rule.
func (ps *PubSub) resolve(what, collection, name string) (string, error) {
	if rest, ok := strings.CutPrefix(name, "projects/"); ok {
		prefix := ps.project + "/" + collection + "/"
		id, ok := strings.CutPrefix(rest, prefix)
		if !ok {
			return "", fmt.Errorf("%s %.80q is not an ID nor a name of the form projects/%s/%s/ID (the fake's project)", what, name, ps.project, collection)
		}
		name = id
	}
	return name, subscribe.ValidateName(what, name)
}

// id is the ID of a topic or subscription given to an inspection method
// (as resolve, without the checks).
func (ps *PubSub) id(collection, name string) string {
	if id, ok := strings.CutPrefix(name, "projects/"+ps.project+"/"+collection+"/"); ok {
		return id
	}
	return name
}

// Close ends running Subscribe calls, which stop handing out messages, let
// their running handlers finish within the shutdown grace and return an
// error wrapping ports.ErrClosed. Close waits for them until ctx ends; then
// it cancels the handlers' contexts (they are abandoned a second later)
// and returns an error wrapping ports.ErrUnavailable and ctx.Err(). Every
// later call returns an error wrapping ports.ErrClosed.
func (ps *PubSub) Close(ctx context.Context) error {
	ctx, sp := ps.conn.Start(ctx, obs.OpClose)
	err := ps.close(ctx)
	sp.End(err)
	return err
}

func (ps *PubSub) close(ctx context.Context) error {
	ps.mu.Lock()
	if ps.closed.Load() {
		ps.mu.Unlock()
		return ports.NewError(ps.name, "close", ports.ErrClosed, nil)
	}
	if ctx == nil {
		ps.mu.Unlock()
		return ports.NewError(ps.name, "close", ports.ErrInvalid, igate.ErrNilContext)
	}
	ps.closed.Store(true)
	for run := range ps.runs {
		run.cancel(errFakeClosed)
	}
	var idle chan struct{}
	if len(ps.runs) > 0 {
		idle = make(chan struct{})
		ps.idle = idle
	}
	ps.mu.Unlock()
	if idle == nil {
		return nil
	}
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		ps.mu.Lock()
		for run := range ps.runs {
			run.runner.Hurry()
		}
		ps.mu.Unlock()
		return ports.NewError(ps.name, "close", ports.ErrUnavailable, fmt.Errorf("handlers still running: %w", ctx.Err()))
	}
}

// EnsureTopic creates topic unless it exists (ports.Admin).
func (ps *PubSub) EnsureTopic(ctx context.Context, topic string) error {
	ctx, sp := ps.admin.StartDest(ctx, obs.OpEnsureTopic, topic)
	err := ps.doEnsureTopic(ctx, topic)
	sp.End(err)
	return err
}

func (ps *PubSub) doEnsureTopic(ctx context.Context, topic string) error {
	return ps.createTopic(ctx, "ensure topic "+topic, topic, false)
}

// CreateTopic creates topic; unlike EnsureTopic, an existing topic is an
// error wrapping ports.ErrConflict, for tests that want to know.
func (ps *PubSub) CreateTopic(ctx context.Context, topic string) error {
	return ps.createTopic(ctx, "create topic "+topic, topic, true)
}

func (ps *PubSub) createTopic(ctx context.Context, op, topic string, strict bool) error {
	if err := ps.enter(ctx, op); err != nil {
		return err
	}
	topic, err := ps.resolve("topic", "topics", topic)
	if err != nil {
		return ps.invalid(op, err)
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if _, ok := ps.topics[topic]; ok {
		if strict {
			return ports.NewError(ps.name, op, ports.ErrConflict, errors.New("topic exists"))
		}
		return nil
	}
	ps.topics[topic] = &psTopic{name: topic}
	return nil
}

// EnsureSubscription creates the subscription unless it exists
// (ports.Admin): ErrInvalid when cfg fails Validate or a name breaks the
// naming rule, ErrNotFound when the topic or the dead-letter topic does
// not exist, ErrConflict naming the fields that differ when the
// subscription exists with another configuration.
func (ps *PubSub) EnsureSubscription(ctx context.Context, subscription string, cfg ports.SubscriptionConfig) error {
	ctx, sp := ps.admin.StartDest(ctx, obs.OpEnsureSubscription, subscription)
	err := ps.doEnsureSubscription(ctx, subscription, cfg)
	sp.End(err)
	return err
}

func (ps *PubSub) doEnsureSubscription(ctx context.Context, subscription string, cfg ports.SubscriptionConfig) error {
	return ps.createSubscription(ctx, "ensure subscription "+subscription, subscription, cfg, false)
}

// CreateSubscription creates the subscription name to topic with cfg
// (cfg.Topic, when set, must be topic). Unlike EnsureSubscription, an
// existing subscription is an error wrapping ports.ErrConflict whatever its
// configuration, for tests that want to know.
func (ps *PubSub) CreateSubscription(ctx context.Context, name, topic string, cfg ports.SubscriptionConfig) error {
	op := "create subscription " + name
	if cfg.Topic != "" && cfg.Topic != topic {
		if err := ps.enter(ctx, op); err != nil {
			return err
		}
		return ps.invalid(op, fmt.Errorf("cfg.Topic %q is not the topic %q", cfg.Topic, topic))
	}
	cfg.Topic = topic
	return ps.createSubscription(ctx, op, name, cfg, true)
}

func (ps *PubSub) createSubscription(ctx context.Context, op, name string, cfg ports.SubscriptionConfig, strict bool) error {
	if err := ps.enter(ctx, op); err != nil {
		return err
	}
	name, err := ps.resolve("subscription", "subscriptions", name)
	if err != nil {
		return ps.invalid(op, err)
	}
	if err := cfg.Validate(); err != nil {
		return ports.NewError(ps.name, op, ports.ErrInvalid, err)
	}
	if cfg.Topic, err = ps.resolve("topic", "topics", cfg.Topic); err != nil {
		return ps.invalid(op, err)
	}
	if cfg.DeadLetterTopic != "" {
		if cfg.DeadLetterTopic, err = ps.resolve("dead-letter topic", "topics", cfg.DeadLetterTopic); err != nil {
			return ps.invalid(op, err)
		}
	}
	if cfg.AckDeadline == 0 {
		cfg.AckDeadline = ports.DefaultAckDeadline
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	t, ok := ps.topics[cfg.Topic]
	if !ok {
		return ps.notFound(op, "topic %q does not exist", cfg.Topic)
	}
	if cfg.DeadLetterTopic != "" {
		if _, ok := ps.topics[cfg.DeadLetterTopic]; !ok {
			return ps.notFound(op, "dead-letter topic %q does not exist", cfg.DeadLetterTopic)
		}
	}
	if s, ok := ps.subs[name]; ok {
		if strict {
			return ports.NewError(ps.name, op, ports.ErrConflict, errors.New("subscription exists"))
		}
		if diff := configDiff(s.cfg, cfg); diff != "" {
			return ports.NewError(ps.name, op, ports.ErrConflict, fmt.Errorf("subscription exists with another configuration: %s", diff))
		}
		return nil
	}
	s := &psSub{
		name: name, topic: t, cfg: cfg,
		changed: make(chan struct{}),
		busy:    make(map[string]bool),
		sent:    make(map[string][]*delivery),
		rewind:  make(map[string]rewind),
	}
	ps.subs[name] = s
	t.subs = append(t.subs, s)
	return nil
}

// configDiff names the fields in which got differs from want ("" when
// none does); both have their AckDeadline defaulted.
func configDiff(got, want ports.SubscriptionConfig) string {
	var diffs []string
	add := func(field string, g, w any) {
		if g != w {
			diffs = append(diffs, fmt.Sprintf("%s is %v, not %v", field, g, w))
		}
	}
	add("Topic", got.Topic, want.Topic)
	add("Ordering", got.Ordering, want.Ordering)
	add("AckDeadline", got.AckDeadline, want.AckDeadline)
	add("DeadLetterTopic", got.DeadLetterTopic, want.DeadLetterTopic)
	add("MaxDeliveryAttempts", got.MaxDeliveryAttempts, want.MaxDeliveryAttempts)
	return strings.Join(diffs, "; ")
}

// Publish stores msgs on topic, fans them out to its subscriptions and
// returns their IDs in order (ports.Publisher). A bad topic name or a
// message that breaks ports.ValidateMessage (or the smaller limit of
// [WithMaxMessageBytes]) is ErrInvalid, and nothing is published; with
// no message it publishes nothing and returns no ID. An unknown topic, or
// a fault injected with [Faults], fails every message: ids holds "" for
// each and the error's *ports.PublishError lists them. With
// [WithPublishLatency], a ctx that ends before the confirmation lists
// every message as Unconfirmed, although each was published.
func (ps *PubSub) Publish(ctx context.Context, topic string, msgs ...ports.Message) ([]string, error) {
	ctx, sp, msgs := ps.pub.StartPublishMax(ctx, topic, msgs, ps.maxMessage)
	v, err := ps.doPublish(ctx, topic, msgs...)
	sp.End(err)
	return v, err
}

func (ps *PubSub) doPublish(ctx context.Context, topic string, msgs ...ports.Message) ([]string, error) {
	op := "publish " + topic
	if ps.closed.Load() {
		return nil, ports.NewError(ps.name, op, ports.ErrClosed, nil)
	}
	if err := igate.CheckContext(ctx, ps.name, op); err != nil {
		return nil, err
	}
	topic, err := ps.resolve("topic", "topics", topic)
	if err != nil {
		return nil, ps.invalid(op, err)
	}
	for i, m := range msgs {
		if err := ps.validate(m); err != nil {
			return nil, ps.invalid(op, fmt.Errorf("message %d of %d: %w (nothing sent)", i, len(msgs), err))
		}
	}
	if len(msgs) == 0 {
		return []string{}, nil
	}
	if err := ps.inject(ps.name, op); err != nil {
		return make([]string, len(msgs)), ps.allFailed(op, len(msgs), err, false)
	}
	ps.mu.Lock()
	t, ok := ps.topics[topic]
	if !ok {
		ps.mu.Unlock()
		return make([]string, len(msgs)), ps.allFailed(op, len(msgs), ps.notFound(op, "topic %q does not exist", topic), false)
	}
	ids := ps.publishLocked(t, msgs)
	ps.mu.Unlock()
	if ps.latency > 0 {
		timer := time.NewTimer(ps.latency)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-ctx.Done():
			cause := ctx.Err()
			if c := context.Cause(ctx); c != nil && c != cause {
				cause = errors.Join(cause, c)
			}
			unknown := ports.NewError(ps.name, op, ports.ErrUnavailable, fmt.Errorf("%w: %w", ports.ErrOutcomeUnknown, cause))
			return make([]string, len(msgs)), ps.allFailed(op, len(msgs), unknown, true)
		}
	}
	return ids, nil
}

// allFailed is the error of a Publish call of n messages that all failed
// with err.
func (ps *PubSub) allFailed(op string, n int, err error, unconfirmed bool) error {
	pe := &ports.PublishError{Total: n, Failures: make([]ports.PublishFailure, n)}
	for i := range pe.Failures {
		pe.Failures[i] = ports.PublishFailure{Index: i, Err: err, Unconfirmed: unconfirmed}
	}
	return subscribe.PublishFailed(ps.name, op, pe)
}

func (ps *PubSub) validate(m ports.Message) error {
	if err := ports.ValidateMessage(m); err != nil {
		return err
	}
	if n := ports.MessageSize(m); n > ps.maxMessage {
		return fmt.Errorf("message of %d bytes, over this fake's limit of %d", n, ps.maxMessage)
	}
	return nil
}

// publishLocked stores copies of msgs and queues them (ps.mu held).
func (ps *PubSub) publishLocked(t *psTopic, msgs []ports.Message) []string {
	now := ps.clock.Now().UTC().Truncate(time.Millisecond)
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ps.seq++
		stored := ports.Message{
			ID:          strconv.FormatUint(ps.seq, 10),
			Data:        cloneBytes(m.Data),
			Attributes:  cloneAttrs(m.Attributes),
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

// cloneBytes copies b; empty is nil, as Pub/Sub delivers it.
func cloneBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return bytes.Clone(b)
}

// cloneAttrs copies a; empty is nil, as Pub/Sub delivers it.
func cloneAttrs(a map[string]string) map[string]string {
	if len(a) == 0 {
		return nil
	}
	return maps.Clone(a)
}

// signal wakes the Subscribe calls waiting on s (ps.mu held).
func (s *psSub) signal() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// ordered reports whether d is delivered under s's ordering rules.
func (s *psSub) ordered(d *delivery) bool { return s.cfg.Ordering && d.msg.OrderingKey != "" }

// next takes the first deliverable message off s's queue (ps.mu held):
// ready, and on an ordering subscription the first of its key with no
// message of that key being handled, after applying the key's rewind once
// it is due. It also returns the earliest time a waiting message, or a
// rewind, becomes due.
func (s *psSub) next(now time.Time) (*delivery, time.Time) {
	var wake time.Time
	later := func(t time.Time) {
		if wake.IsZero() || t.Before(wake) {
			wake = t
		}
	}
	for key, rw := range s.rewind {
		if s.busy[key] {
			continue
		}
		if rw.at.After(now) {
			later(rw.at)
			continue
		}
		s.applyRewind(key, rw.seq)
	}
	var blocked map[string]bool
	for i, d := range s.queue {
		key := d.msg.OrderingKey
		ordered := s.ordered(d)
		if ordered && (s.busy[key] || blocked[key]) {
			continue
		}
		if d.readyAt.After(now) {
			later(d.readyAt)
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
		d.handling = true
		s.inflight++
		if ordered {
			s.busy[key] = true
			s.sent[key] = append(s.sent[key], d)
		}
		return d, time.Time{}
	}
	return nil, wake
}

// applyRewind puts back in the queue the messages of key handed out from
// seq on, acknowledged or not (ps.mu held).
func (s *psSub) applyRewind(key string, seq uint64) {
	delete(s.rewind, key)
	sent := s.sent[key]
	i := slices.IndexFunc(sent, func(d *delivery) bool { return d.seq >= seq })
	if i < 0 {
		return
	}
	for _, d := range sent[i:] {
		d.acked = false
		d.readyAt = time.Time{}
		s.requeue(d)
	}
	s.sent[key] = slices.Clip(sent[:i])
	if len(s.sent[key]) == 0 {
		delete(s.sent, key)
	}
}

// trimSent drops the acknowledged messages at the head of key's list: the
// key's cursor moves past them (ps.mu held).
func (s *psSub) trimSent(key string) {
	sent := s.sent[key]
	n := 0
	for n < len(sent) && sent[n].acked {
		n++
	}
	if n == len(sent) {
		delete(s.sent, key)
		return
	}
	s.sent[key] = sent[n:]
}

// requeue puts d back in publish order (ps.mu held).
func (s *psSub) requeue(d *delivery) {
	i, found := slices.BinarySearchFunc(s.queue, d.seq, func(e *delivery, seq uint64) int {
		switch {
		case e.seq < seq:
			return -1
		case e.seq > seq:
			return 1
		}
		return 0
	})
	if found {
		return
	}
	s.queue = slices.Insert(s.queue, i, d)
}

// Subscribe calls h for the messages of subscription, until ctx ends
// (ports.Subscriber), through the subscribe runner the adapters use: up
// to [WithMaxConcurrency] handlers at once (ports.DefaultMaxConcurrency
// by default); a nil return acks, an error or a panic (logged once with
// the stack, never the data) nacks. When ctx ends it stops handing out
// messages, lets running handlers go on with a live context for the
// shutdown grace ([WithShutdownGrace]), then cancels their contexts,
// abandons a handler still running a second later (its message is
// nacked), and returns nil. It returns ErrUnavailable when ctx is already
// done, ErrInvalid for a bad name or a nil handler, ErrNotFound for an
// unknown subscription, and ErrClosed after Close (also when Close is
// called during Subscribe).
func (ps *PubSub) Subscribe(ctx context.Context, subscription string, h ports.Handler) error {
	err := ps.doSubscribe(ctx, subscription, h)
	ps.sub.RecordError(ctx, obs.OpSubscribe, subscription, err)
	return err
}

func (ps *PubSub) doSubscribe(ctx context.Context, subscription string, h ports.Handler) error {
	op := "subscribe " + subscription
	if err := ps.enter(ctx, op); err != nil {
		return err
	}
	subscription, err := ps.resolve("subscription", "subscriptions", subscription)
	if err != nil {
		return ps.invalid(op, err)
	}
	if h == nil {
		return ps.invalid(op, errors.New("nil handler"))
	}
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	run := &psRun{cancel: cancel}
	ps.mu.Lock()
	if ps.closed.Load() {
		ps.mu.Unlock()
		return ports.NewError(ps.name, op, ports.ErrClosed, nil)
	}
	s, ok := ps.subs[subscription]
	if !ok {
		ps.mu.Unlock()
		return ps.notFound(op, "subscription %q does not exist", subscription)
	}
	r := subscribe.New(rctx, subscribe.Config{
		Backend:        ps.name,
		Subscription:   subscription,
		MaxConcurrency: ps.maxConc,
		ShutdownGrace:  ps.grace,
		Logger:         ps.logger,
		Instr:          ps.sub,
		// The fake moves a message to the dead-letter topic when a
		// delivery at MaxDeliveryAttempts fails.
		DeadLetterAfter: s.cfg.MaxDeliveryAttempts,
	}, h)
	run.runner = r
	ps.runs[run] = struct{}{}
	ps.mu.Unlock()
	defer ps.leave(run)

	for r.Acquire() {
		d := ps.await(rctx, s)
		if d == nil {
			r.Release()
			break
		}
		go r.Run(ps.delivery(s, d))
	}
	r.Wait()
	if errors.Is(context.Cause(rctx), errFakeClosed) && ctx.Err() == nil {
		return ports.NewError(ps.name, op, ports.ErrClosed, nil)
	}
	return nil
}

// await waits for a deliverable message of s; nil once ctx ends.
func (ps *PubSub) await(ctx context.Context, s *psSub) *delivery {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if ctx.Err() != nil {
			return nil
		}
		ps.mu.Lock()
		d, wake := s.next(time.Now())
		changed := s.changed
		ps.mu.Unlock()
		if d != nil {
			return d
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
			return nil
		}
	}
}

// leave ends a Subscribe call.
func (ps *PubSub) leave(run *psRun) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	delete(ps.runs, run)
	if len(ps.runs) == 0 && ps.idle != nil {
		close(ps.idle)
		ps.idle = nil
	}
}

// delivery hands d to the runner: a copy of its message, and its ack and
// nack.
func (ps *PubSub) delivery(s *psSub, d *delivery) subscribe.Delivery {
	m := d.msg
	m.Data = cloneBytes(m.Data)
	m.Attributes = cloneAttrs(m.Attributes)
	if s.cfg.MaxDeliveryAttempts > 0 {
		m.DeliveryAttempt = d.attempts
	}
	return subscribe.Delivery{
		Message: m,
		Ack:     func() { ps.settle(s, d, true) },
		Nack:    func() { ps.settle(s, d, false) },
	}
}

// settle records the outcome of one delivery of d.
func (ps *PubSub) settle(s *psSub, d *delivery, ack bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	s.inflight--
	d.handling = false
	key := d.msg.OrderingKey
	ordered := s.ordered(d)
	if ordered {
		delete(s.busy, key)
	}
	switch {
	case ack:
		s.acked++
		if ordered {
			d.acked = true
			s.trimSent(key)
		}
	case s.cfg.MaxDeliveryAttempts > 0 && d.attempts >= s.cfg.MaxDeliveryAttempts:
		s.nacked++
		if ordered {
			d.acked = true // settled: the cursor may pass it
			s.trimSent(key)
		}
		ps.deadLetterLocked(s, d)
	default:
		s.nacked++
		at := time.Now().Add(ps.redelivery)
		if !ordered {
			d.readyAt = at
			s.requeue(d)
			break
		}
		if rw, ok := s.rewind[key]; !ok || d.seq < rw.seq {
			s.rewind[key] = rewind{seq: d.seq, at: at}
		}
	}
	s.signal()
}

// deadLetterLocked publishes d's message to s's dead-letter topic as a
// new message with the dead-letter attributes (ps.mu held).
func (ps *PubSub) deadLetterLocked(s *psSub, d *delivery) {
	dl, ok := ps.topics[s.cfg.DeadLetterTopic]
	if !ok {
		return
	}
	dead := d.msg
	dead.Attributes = maps.Clone(dead.Attributes)
	if dead.Attributes == nil {
		dead.Attributes = make(map[string]string, 4)
	}
	dead.Attributes[ports.AttrDeadLetterDeliveryCount] = strconv.Itoa(d.attempts)
	dead.Attributes[ports.AttrDeadLetterSubscription] = s.name
	dead.Attributes[ports.AttrDeadLetterSubscriptionProject] = ps.project
	dead.Attributes[ports.AttrDeadLetterTopicPublishTime] = d.msg.PublishTime.UTC().Format("2006-01-02T15:04:05.000Z")
	ps.publishLocked(dl, []ports.Message{dead})
}

// Published returns copies of every message published to topic, in
// order, with their IDs and publish times (nil for an unknown topic).
func (ps *PubSub) Published(topic string) []ports.Message {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	t, ok := ps.topics[ps.id("topics", topic)]
	if !ok {
		return nil
	}
	out := make([]ports.Message, len(t.log))
	for i, m := range t.log {
		m.Data = cloneBytes(m.Data)
		m.Attributes = cloneAttrs(m.Attributes)
		out[i] = m
	}
	return out
}

// Pending returns how many messages of subscription are not acknowledged
// yet: waiting, being handled, or due for redelivery (0 for an unknown
// subscription).
func (ps *PubSub) Pending(subscription string) int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	s, ok := ps.subs[ps.id("subscriptions", subscription)]
	if !ok {
		return 0
	}
	n := len(s.queue) + s.inflight
	for _, sent := range s.sent {
		for _, d := range sent {
			if !d.acked && !d.handling {
				n++ // nacked, due for redelivery with its key
			}
		}
	}
	return n
}

// Acked returns how many deliveries of subscription were acknowledged.
func (ps *PubSub) Acked(subscription string) int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if s, ok := ps.subs[ps.id("subscriptions", subscription)]; ok {
		return s.acked
	}
	return 0
}

// Nacked returns how many deliveries of subscription failed (the handler
// returned an error, panicked or was abandoned).
func (ps *PubSub) Nacked(subscription string) int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if s, ok := ps.subs[ps.id("subscriptions", subscription)]; ok {
		return s.nacked
	}
	return 0
}
