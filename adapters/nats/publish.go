package nats

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/portkit/portkit/internal/subscribe"
	"github.com/portkit/portkit/ports"
)

// Publish sends msgs to topic and returns their IDs (the stream sequence
// numbers, in decimal) in order once JetStream has acknowledged every one
// (ports.Publisher).
//
// It checks, before anything is sent: the topic name (the naming rule of
// every portkit messaging implementation, see subscribe.ValidateName);
// every message against ports.ValidateMessage; and every message against
// the server's own, smaller limit, max_payload (1 MiB by default), counted
// as NATS counts it: the data plus the encoded headers that carry the
// attributes and the ordering key. A message over it is ErrInvalid, and
// nothing of that call is sent. An unknown topic fails every message with
// ErrNotFound (ids holds "" for each), nothing sent.
//
// The messages go out asynchronously, one after the other on the one
// connection, without waiting for each acknowledgement (PublishMsgAsync):
// the client writes them in batches and the acknowledgements come back
// while it writes. JetStream stores them in that order. Each message
// stands alone: one that fails does not fail another, of this call or
// another's. A message whose acknowledgement does not come within the
// publish timeout, or before ctx ends, is listed as unconfirmed
// (ErrUnavailable wrapping ports.ErrOutcomeUnknown): it may have been
// stored, and publishing it again may duplicate it. A message the server
// refuses for permissions is ErrPermission at once.
func (n *NATS) Publish(ctx context.Context, topic string, msgs ...ports.Message) ([]string, error) {
	ctx, sp, traced := n.pub.StartPublish(ctx, topic, msgs)
	ids, err := n.publish(ctx, topic, msgs, traced)
	sp.End(err)
	return ids, err
}

// publish is Publish of msgs, sent as traced: msgs with the trace context
// added to the attributes of those that can take it (or msgs itself).
func (n *NATS) publish(ctx context.Context, topic string, msgs, traced []ports.Message) ([]string, error) {
	op := "publish " + topic
	release, err := n.gate.Enter(ctx, backend, op)
	if err != nil {
		return nil, err
	}
	defer release()
	if topic == "" {
		return nil, invalidErr("publish", errors.New("empty topic"))
	}
	if err := checkName("topic", topic); err != nil {
		return nil, invalidErr(op, err)
	}
	encoded, err := n.encodeAll(op, topic, msgs, traced)
	if err != nil {
		return nil, err
	}
	if len(msgs) == 0 {
		return []string{}, nil
	}
	if err := n.knownStream(ctx, op, "topic", topic); err != nil {
		if ports.KindOf(err) == ports.ErrNotFound {
			return make([]string, len(msgs)), allFailed(op, len(msgs), err)
		}
		return nil, err
	}
	return n.send(ctx, op, topic, encoded)
}

// encodeAll checks msgs and encodes them for topic as traced (msgs with
// the trace context in their attributes, see obs.Instr.StartPublish). The
// rules apply to the caller's messages: a message whose trace context
// would take it past the server's max_payload is sent without it, so that
// tracing never makes a message unacceptable.
func (n *NATS) encodeAll(op, topic string, msgs, traced []ports.Message) ([]*nats.Msg, error) {
	maxPayload := int(n.nc.MaxPayload())
	subjects := n.lay.subjectsOf(topic)
	encoded := make([]*nats.Msg, len(msgs))
	for i, m := range msgs {
		if err := ports.ValidateMessage(m); err != nil {
			return nil, invalidErr(op, fmt.Errorf("message %d of %d: %w (nothing sent)", i, len(msgs), err))
		}
		subject := subjects[subjectIndex(m.OrderingKey)]
		msg := encode(subject, traced[i])
		if wireSize(msg) > maxPayload {
			msg = encode(subject, m)
		}
		if size := wireSize(msg); size > maxPayload {
			return nil, invalidErr(op, fmt.Errorf("message %d of %d: %d bytes as NATS counts them (data and encoded attributes), "+
				"over the server's max_payload of %d (nothing sent)", i, len(msgs), size, maxPayload))
		}
		encoded[i] = msg
	}
	return encoded, nil
}

// allFailed is the error of a Publish call of n messages that all failed
// with err, none sent.
func allFailed(op string, n int, err error) error {
	pe := &ports.PublishError{Total: n, Failures: make([]ports.PublishFailure, n)}
	for i := range pe.Failures {
		pe.Failures[i] = ports.PublishFailure{Index: i, Err: err}
	}
	return subscribe.PublishFailed(backend, op, pe)
}

// knownStream returns nil when the stream of topic (what names its role:
// "topic", "dead-letter topic") exists, asking the server unless it is
// known; ErrNotFound naming the topic when it does not.
func (n *NATS) knownStream(ctx context.Context, op, what, topic string) error {
	stream := n.lay.stream(topic)
	if _, ok := n.streams.Load(stream); ok {
		return nil
	}
	_, err := n.streamInfo(ctx, op, what, topic)
	return err
}

// streamInfo asks the server for the stream of topic and remembers that it
// exists.
func (n *NATS) streamInfo(ctx context.Context, op, what, topic string) (*jetstream.StreamInfo, error) {
	stream := n.lay.stream(topic)
	var info *jetstream.StreamInfo
	err := n.api(ctx, op, func(ctx context.Context) error {
		s, err := n.js.Stream(ctx, stream)
		if err == nil {
			info = s.CachedInfo()
		}
		return err
	})
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			n.streams.Delete(stream)
			return nil, ports.NewError(backend, op, ports.ErrNotFound, fmt.Errorf("%s %q does not exist: %w", what, topic, err))
		}
		return nil, err
	}
	n.streams.Store(stream, struct{}{})
	return info, nil
}

// api runs call, a JetStream API request, with a context that a
// permissions violation on the API's subjects cancels, and classifies its
// error.
func (n *NATS) api(ctx context.Context, op string, call func(ctx context.Context) error) error {
	wctx, stop := n.perms.watchContext(ctx, apiSubject)
	defer stop()
	err := call(wctx)
	if err == nil {
		return nil
	}
	if ctx.Err() == nil && errors.Is(wctx.Err(), context.Canceled) {
		return n.wrap(wctx, op, err) // the permissions violation
	}
	return n.wrap(ctx, op, err)
}

// call tracks the messages of one Publish call handed to the client: the
// client's acknowledgement and error callbacks (set on the JetStream
// context by Open) resolve them through NATS.acks, so that no message
// needs a channel of its own.
type call struct {
	mu        sync.Mutex
	results   []result
	remaining int
	done      chan struct{} // closed when every message is handed over and resolved
	handing   bool          // messages are still being handed over
	abandoned bool          // the caller stopped waiting
}

// result is the outcome of one message of a call.
type result struct {
	sent     bool
	resolved bool
	seq      uint64
	err      error
}

// tracked is the entry of a message in NATS.acks.
type tracked struct {
	c     *call
	index int
}

func newCall(n int) *call {
	return &call{results: make([]result, n), done: make(chan struct{}), handing: true}
}

// resolve records the outcome of message i, unless it is known already.
func (c *call) resolve(i int, seq uint64, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := &c.results[i]
	if r.resolved || !r.sent {
		return
	}
	r.resolved, r.seq, r.err = true, seq, err
	c.remaining--
	if c.remaining == 0 && !c.handing && !c.abandoned {
		close(c.done)
	}
}

// onAck and onError are the JetStream context's callbacks.
func (n *NATS) onAck(_ jetstream.JetStream, m *nats.Msg, ack *jetstream.PubAck) {
	if t, ok := n.untrack(m); ok {
		t.c.resolve(t.index, ack.Sequence, nil)
	}
}

func (n *NATS) onError(_ jetstream.JetStream, m *nats.Msg, err error) {
	if t, ok := n.untrack(m); ok {
		t.c.resolve(t.index, 0, err)
	}
}

func (n *NATS) untrack(m *nats.Msg) (tracked, bool) {
	n.acksMu.Lock()
	defer n.acksMu.Unlock()
	t, ok := n.acks[m]
	if ok {
		delete(n.acks, m)
	}
	return t, ok
}

// denials collects the permissions violations of one Publish call's
// subjects.
type denials struct {
	mu     sync.Mutex
	by     map[string]error
	signal chan struct{}
}

func (d *denials) report(err error) {
	_, subject, ok := parseViolation(err)
	if !ok {
		return
	}
	d.mu.Lock()
	if _, seen := d.by[subject]; !seen {
		d.by[subject] = err
	}
	d.mu.Unlock()
	select {
	case d.signal <- struct{}{}:
	default:
	}
}

// apply fails the unresolved messages of c whose subject was denied.
func (d *denials) apply(c *call, encoded []*nats.Msg) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, m := range encoded {
		if err, ok := d.by[m.Subject]; ok {
			c.resolve(i, 0, err)
		}
	}
}

// send publishes encoded (checked) messages to the stream of topic
// asynchronously and waits for their acknowledgements.
func (n *NATS) send(ctx context.Context, op, topic string, encoded []*nats.Msg) ([]string, error) {
	var subjects []string // the call's distinct subjects (at most 1+Partitions)
	for _, m := range encoded {
		if !slices.Contains(subjects, m.Subject) {
			subjects = append(subjects, m.Subject)
		}
	}
	denied := &denials{by: map[string]error{}, signal: make(chan struct{}, 1)}
	stopWatch := n.perms.watch(func(s string) bool { return slices.Contains(subjects, s) }, denied.report)
	defer stopWatch()

	stall := n.cfg.Publish.Timeout
	if dl, ok := ctx.Deadline(); ok {
		stall = max(min(stall, time.Until(dl)), time.Millisecond)
	}
	c := newCall(len(encoded))
	for i := range c.results {
		c.results[i].sent = true
	}
	c.remaining = len(encoded)
	// Tracked before they are sent: a callback may come before
	// PublishMsgAsync returns.
	n.acksMu.Lock()
	for i, m := range encoded {
		n.acks[m] = tracked{c: c, index: i}
	}
	n.acksMu.Unlock()
	var failures []ports.PublishFailure
	unsent := func(i int, m *nats.Msg, err error) {
		n.untrack(m)
		c.mu.Lock()
		c.results[i] = result{}
		c.remaining--
		c.mu.Unlock()
		failures = append(failures, ports.PublishFailure{Index: i, Err: n.wrap(ctx, op, fmt.Errorf("not sent: %w", err))})
	}
	for i, m := range encoded {
		if err := ctx.Err(); err != nil {
			unsent(i, m, err)
			continue
		}
		_, err := n.js.PublishMsgAsync(m)
		if errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			// MaxPending messages await their acknowledgements: wait for
			// room within the publish timeout and ctx.
			_, err = n.js.PublishMsgAsync(m, jetstream.WithStallWait(stall))
		}
		if err != nil {
			unsent(i, m, err)
		}
	}
	c.mu.Lock()
	c.handing = false
	if c.remaining == 0 {
		close(c.done)
	}
	c.mu.Unlock()

	// Wait for every acknowledgement, ctx's end, or Close.
	var cause error
wait:
	for {
		select {
		case <-c.done:
			break wait
		case <-denied.signal:
			denied.apply(c, encoded)
		case <-ctx.Done():
			cause = contextErr(ctx)
			break wait
		case <-n.closed:
			cause = errors.New("the adapter was closed before the acknowledgement")
			break wait
		}
	}
	c.mu.Lock()
	c.abandoned = true
	results := slices.Clone(c.results)
	c.mu.Unlock()

	ids := make([]string, len(encoded))
	var (
		checked    bool  // a no-responders answer was checked
		streamGone error // what the check found
	)
	for i, r := range results {
		switch {
		case !r.sent:
		case !r.resolved:
			// Its entry stays in acks until its callback comes (the
			// publish timeout at the latest).
			failures = append(failures, ports.PublishFailure{Index: i, Unconfirmed: true, Err: classifier.OutcomeUnknown(op, cause)})
		case r.err == nil:
			ids[i] = strconv.FormatUint(r.seq, 10)
		case errors.Is(r.err, jetstream.ErrAsyncPublishTimeout):
			failures = append(failures, ports.PublishFailure{Index: i, Unconfirmed: true,
				Err: classifier.OutcomeUnknown(op, fmt.Errorf("no acknowledgement within the publish timeout of %s: %w", n.cfg.Publish.Timeout, r.err))})
		case errors.Is(r.err, nats.ErrDisconnected), errors.Is(r.err, nats.ErrConnectionClosed):
			// The connection was lost with the message sent and its
			// acknowledgement not yet back.
			failures = append(failures, ports.PublishFailure{Index: i, Unconfirmed: true,
				Err: classifier.OutcomeUnknown(op, fmt.Errorf("connection lost before the acknowledgement: %w", r.err))})
		case errors.Is(r.err, jetstream.ErrNoStreamResponse):
			// No stream took the subject: the topic was deleted since,
			// or JetStream is unavailable. Ask once per call.
			if !checked {
				checked = true
				n.streams.Delete(n.lay.stream(topic))
				if _, serr := n.streamInfo(context.WithoutCancel(ctx), op, "topic", topic); ports.KindOf(serr) == ports.ErrNotFound {
					streamGone = serr
				}
			}
			err := streamGone
			if err == nil {
				err = n.wrap(ctx, op, r.err)
			}
			failures = append(failures, ports.PublishFailure{Index: i, Err: err})
		default:
			failures = append(failures, ports.PublishFailure{Index: i, Err: n.wrap(ctx, op, r.err)})
		}
	}
	return finish(op, ids, failures)
}

// finish returns ids and the error of the failures, sorted by index.
func finish(op string, ids []string, failures []ports.PublishFailure) ([]string, error) {
	if len(failures) == 0 {
		return ids, nil
	}
	slices.SortFunc(failures, func(a, b ports.PublishFailure) int { return a.Index - b.Index })
	for _, f := range failures {
		ids[f.Index] = ""
	}
	return ids, subscribe.PublishFailed(backend, op, &ports.PublishError{Total: len(ids), Failures: failures})
}

// contextErr is ctx's error, joined with its cause when that says more.
func contextErr(ctx context.Context) error {
	err := ctx.Err()
	if cause := context.Cause(ctx); cause != nil && cause != err {
		err = errors.Join(err, cause)
	}
	return err
}
