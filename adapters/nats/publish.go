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
	encoded, err := n.encodeAll(op, topic, msgs)
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

// encodeAll checks and encodes msgs for topic.
func (n *NATS) encodeAll(op, topic string, msgs []ports.Message) ([]*nats.Msg, error) {
	maxPayload := int(n.nc.MaxPayload())
	encoded := make([]*nats.Msg, len(msgs))
	for i, m := range msgs {
		if err := ports.ValidateMessage(m); err != nil {
			return nil, invalidErr(op, fmt.Errorf("message %d of %d: %w (nothing sent)", i, len(msgs), err))
		}
		msg := encode(n.lay.subject(topic, m.OrderingKey), m)
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

// pending is one message handed to the client.
type pending struct {
	index   int
	subject string
	future  jetstream.PubAckFuture
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

func (d *denials) of(subject string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.by[subject]
}

// send publishes encoded (checked) messages to the stream of topic
// asynchronously and waits for their acknowledgements.
func (n *NATS) send(ctx context.Context, op, topic string, encoded []*nats.Msg) ([]string, error) {
	ids := make([]string, len(encoded))
	var failures []ports.PublishFailure

	subjects := map[string]bool{}
	for _, m := range encoded {
		subjects[m.Subject] = true
	}
	denied := &denials{by: map[string]error{}, signal: make(chan struct{}, 1)}
	stopWatch := n.perms.watch(func(s string) bool { return subjects[s] }, denied.report)
	defer stopWatch()

	stall := n.cfg.Publish.Timeout
	if dl, ok := ctx.Deadline(); ok {
		stall = max(min(stall, time.Until(dl)), time.Millisecond)
	}
	sent := make([]pending, 0, len(encoded))
	for i, m := range encoded {
		if err := ctx.Err(); err != nil {
			failures = append(failures, ports.PublishFailure{Index: i, Err: n.wrap(ctx, op, fmt.Errorf("not sent: %w", err))})
			continue
		}
		f, err := n.js.PublishMsgAsync(m, jetstream.WithStallWait(stall))
		if err != nil {
			failures = append(failures, ports.PublishFailure{Index: i, Err: n.wrap(ctx, op, fmt.Errorf("not sent: %w", err))})
			continue
		}
		sent = append(sent, pending{index: i, subject: m.Subject, future: f})
	}

	var (
		checked    bool  // a no-responders answer was checked
		streamGone error // what the check found
	)
	// outcome turns a failed acknowledgement into the message's failure.
	outcome := func(p pending, err error) ports.PublishFailure {
		switch {
		case errors.Is(err, jetstream.ErrAsyncPublishTimeout):
			return ports.PublishFailure{Index: p.index, Unconfirmed: true,
				Err: classifier.OutcomeUnknown(op, fmt.Errorf("no acknowledgement within the publish timeout of %s: %w", n.cfg.Publish.Timeout, err))}
		case errors.Is(err, nats.ErrDisconnected), errors.Is(err, nats.ErrConnectionClosed):
			// The connection was lost with the message sent and its
			// acknowledgement not yet back.
			return ports.PublishFailure{Index: p.index, Unconfirmed: true,
				Err: classifier.OutcomeUnknown(op, fmt.Errorf("connection lost before the acknowledgement: %w", err))}
		case errors.Is(err, jetstream.ErrNoStreamResponse):
			// No stream took the subject: the topic was deleted since,
			// or JetStream is unavailable. Ask once per call.
			if !checked {
				checked = true
				n.streams.Delete(n.lay.stream(topic))
				if _, serr := n.streamInfo(context.WithoutCancel(ctx), op, "topic", topic); ports.KindOf(serr) == ports.ErrNotFound {
					streamGone = serr
				}
			}
			if streamGone != nil {
				return ports.PublishFailure{Index: p.index, Err: streamGone}
			}
		}
		return ports.PublishFailure{Index: p.index, Err: n.wrap(ctx, op, err)}
	}
	for j, p := range sent {
		ack, err, ok := waitAck(ctx, n.closed, p, denied)
		switch {
		case ok && err == nil:
			ids[p.index] = strconv.FormatUint(ack.Sequence, 10)
			continue
		case ok:
			failures = append(failures, outcome(p, err))
			continue
		}
		// ctx ended, or Close closed the connection: what has not
		// resolved yet is unconfirmed.
		cause := contextErr(ctx)
		if ctx.Err() == nil {
			cause = errors.New("the adapter was closed before the acknowledgement")
		}
		for _, q := range sent[j:] {
			ack, err, ok := resolved(q.future)
			switch {
			case ok && err == nil:
				ids[q.index] = strconv.FormatUint(ack.Sequence, 10)
			case ok:
				failures = append(failures, outcome(q, err))
			default:
				failures = append(failures, ports.PublishFailure{Index: q.index, Unconfirmed: true,
					Err: classifier.OutcomeUnknown(op, cause)})
			}
		}
		break
	}
	return finish(op, ids, failures)
}

// waitAck waits for p's outcome: its acknowledgement, its error (a
// permissions violation of its subject among them), or, with ok false,
// the end of ctx or the closing of closed.
func waitAck(ctx context.Context, closed <-chan struct{}, p pending, denied *denials) (ack *jetstream.PubAck, err error, ok bool) {
	for {
		if derr := denied.of(p.subject); derr != nil {
			if ack, err, ok := resolved(p.future); ok {
				return ack, err, true
			}
			return nil, derr, true
		}
		select {
		case ack := <-p.future.Ok():
			return ack, nil, true
		case err := <-p.future.Err():
			return nil, err, true
		case <-denied.signal:
		case <-ctx.Done():
			return nil, nil, false
		case <-closed:
			return nil, nil, false
		}
	}
}

// resolved returns the outcome of f when it has resolved, without
// waiting; ok is false when it has not.
func resolved(f jetstream.PubAckFuture) (ack *jetstream.PubAck, err error, ok bool) {
	select {
	case ack := <-f.Ok():
		return ack, nil, true
	case err := <-f.Err():
		return nil, err, true
	default:
		return nil, nil, false
	}
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
