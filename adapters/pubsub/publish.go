package pubsub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"cloud.google.com/go/pubsub/v2"
	gax "github.com/googleapis/gax-go/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/portkit/portkit/internal/gate"
	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/internal/subscribe"
	"github.com/portkit/portkit/ports"
)

// Publish hands every message to the client's batcher at once, then waits
// until the server has confirmed each one (or ctx ends), and returns their
// server-assigned IDs in order.
//
// topic is a topic ID of the configured project or a full name
// "projects/P/topics/T"; an ID that breaks Google Pub/Sub's naming rule is
// ports.ErrInvalid. Every message is checked with ports.ValidateMessage
// before anything is sent: one that breaks a rule (empty, over
// ports.MaxMessageBytes, too many or too long attributes, invalid UTF-8 in
// an attribute or the ordering key, a "goog" attribute key) is
// ports.ErrInvalid, naming the message's index, and no message of the call
// is sent, so no bad message ever shares a request with another caller's.
// Large messages are split into requests under the service's 10 MB
// request limit. An unknown topic is ports.ErrNotFound, a service that
// does not confirm within the publish timeout ports.ErrUnavailable, a
// request the server refuses as too large ports.ErrInvalid at once (never
// retried), and every call after Close ports.ErrClosed. Publish with no
// message sends nothing and returns no ID.
//
// On a partial failure the error is a *ports.OpError whose cause is a
// *ports.PublishError (errors.As finds it) listing each failed message by
// index, and ids holds "" at each failed index. Messages with an
// OrderingKey are delivered in order to subscriptions with ordering; after
// a failure, the later messages of the same key in this call fail too
// (they are not sent out of order), and Publish resumes the key before it
// returns, so the caller may retry from the first failed message.
//
// When ctx ends before every message is confirmed, the messages not yet
// confirmed are failures marked Unconfirmed, each an ErrUnavailable that
// wraps ports.ErrOutcomeUnknown and ctx's error (both reachable from the
// returned error with errors.Is): they are still sent, Close waits for
// them, and publishing them again may duplicate them.
func (p *PubSub) Publish(ctx context.Context, topic string, msgs ...ports.Message) ([]string, error) {
	ctx, sp, msgs := p.pub.StartPublish(ctx, topic, msgs)
	pd, err := p.publishAsync(ctx, topic, nil, msgs...)
	if err != nil {
		sp.End(err)
		return nil, err
	}
	ids, err := pd.Wait(ctx)
	sp.End(err)
	return ids, err
}

// PublishAsync checks msgs and hands them to the client's batcher like
// Publish, but returns at once with a [Pending] that resolves when the
// server has confirmed or refused each message. Close flushes the messages
// of every Pending, awaited or not. The caller must not modify msgs (their
// Data and Attributes) until the Pending resolves.
//
// Its publish span, like Publish's, covers the call until the Pending
// resolves, and its messages carry the span's trace context.
func (p *PubSub) PublishAsync(ctx context.Context, topic string, msgs ...ports.Message) (*Pending, error) {
	ctx, sp, msgs := p.pub.StartPublish(ctx, topic, msgs)
	pd, err := p.publishAsync(ctx, topic, sp, msgs...)
	if err != nil {
		sp.End(err)
		return nil, err
	}
	return pd, nil
}

// publishAsync is PublishAsync; sp, when not nil, is ended when the
// Pending resolves (a call with no message resolves at once).
func (p *PubSub) publishAsync(ctx context.Context, topic string, sp *obs.Span, msgs ...ports.Message) (*Pending, error) {
	op := "publish " + topic
	if err := p.enter(ctx, op); err != nil {
		return nil, err
	}
	if topic == "" {
		return nil, invalidErr("publish", errors.New("empty topic"))
	}
	if err := checkName("topic", "topics", topic); err != nil {
		return nil, invalidErr(op, err)
	}
	for i, m := range msgs {
		if err := ports.ValidateMessage(m); err != nil {
			return nil, invalidErr(op, fmt.Errorf("message %d of %d: %w (nothing sent)", i, len(msgs), err))
		}
	}
	pd := &Pending{p: p, op: op, done: make(chan struct{}), ids: []string{}, sp: sp}
	if len(msgs) == 0 {
		sp.End(nil)
		close(pd.done)
		return pd, nil
	}
	name := p.topicName(topic)

	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return nil, closedErr(op)
	}
	pub := p.publisher(name)
	results := make([]*pubsub.PublishResult, len(msgs))
	p.inflight.Add(int64(len(msgs)))
	for i, m := range msgs {
		results[i] = pub.Publish(ctx, &pubsub.Message{
			Data:        m.Data,
			Attributes:  m.Attributes,
			OrderingKey: m.OrderingKey,
		})
	}
	p.trackers.Add(1)
	p.mu.RUnlock()

	pd.results = results
	go p.collect(pd, pub, msgs, results)
	return pd, nil
}

// publisher returns the cached publisher of the topic with full name name,
// creating it on first use.
//
// Message ordering is always enabled on it: the client then accepts
// messages with an ordering key and sends those of one key one request at
// a time, in order; messages without a key are batched and sent
// concurrently exactly as with ordering disabled, so enabling it costs
// nothing for them.
func (p *PubSub) publisher(name string) *pubsub.Publisher {
	p.pubMu.Lock()
	defer p.pubMu.Unlock()
	if pub, ok := p.pubs[name]; ok {
		return pub
	}
	pub := p.client.Publisher(name)
	pub.EnableMessageOrdering = true
	s := pubsub.DefaultPublishSettings
	s.CountThreshold = p.cfg.Publish.BatchCount
	s.ByteThreshold = p.cfg.Publish.BatchBytes
	s.DelayThreshold = p.cfg.Publish.BatchDelay
	s.Timeout = p.cfg.Publish.Timeout
	pub.PublishSettings = s
	p.pubs[name] = pub
	return pub
}

// Publish retries: the codes the client retries, less Canceled (also
// what every call returns once the connection is closed, so a publisher
// stopping after Close would retry until the publish timeout), and less a
// request the server refused as too large (it fails again). The pause
// between attempts grows from 50ms to at most 250ms (the client's grows
// to 60s: a request in flight during a 2s outage then waited up to 11.6s
// more after the service's return). Each attempt also waits for the
// connection to be ready instead of failing at once while it reconnects,
// so it starts the moment the connection is back.
const (
	publishRetryInitial = 50 * time.Millisecond
	publishRetryMax     = 250 * time.Millisecond
)

// publishCallOptions replace the client's retry policy for Publish RPCs
// (see publishRetryMax).
func publishCallOptions() []gax.CallOption {
	return []gax.CallOption{
		gax.WithGRPCOptions(grpc.WaitForReady(true)),
		gax.WithRetry(func() gax.Retryer {
			return publishRetryer{gax.OnCodes([]codes.Code{
				codes.Aborted,
				codes.Internal,
				codes.ResourceExhausted,
				codes.Unknown,
				codes.Unavailable,
				codes.DeadlineExceeded,
			}, gax.Backoff{
				Initial:    publishRetryInitial,
				Max:        publishRetryMax,
				Multiplier: 2,
			})}
		}),
	}
}

// publishRetryer never retries a request refused as too large.
type publishRetryer struct{ inner gax.Retryer }

func (r publishRetryer) Retry(err error) (time.Duration, bool) {
	if tooLarge(err) {
		return 0, false
	}
	return r.inner.Retry(err)
}

// streamingPullCallOptions replace the client's retry policy for opening
// a StreamingPull stream: the same codes, with a backoff capped at 1s
// instead of 60s. The client retries opening a stream forever, sleeping
// on a context only its own shutdown cancels; with a 60s cap a Receive
// whose server went away could outlive Close by a minute, with 1s it
// notices the closed connection within a second.
func streamingPullCallOptions() []gax.CallOption {
	return []gax.CallOption{
		gax.WithRetry(func() gax.Retryer {
			return gax.OnCodes([]codes.Code{
				codes.DeadlineExceeded,
				codes.ResourceExhausted,
				codes.Aborted,
				codes.Internal,
				codes.Unavailable,
			}, gax.Backoff{
				Initial:    100 * time.Millisecond,
				Max:        time.Second,
				Multiplier: 2,
			})
		}),
	}
}

// collect waits for the results of one PublishAsync call, in order, and
// resolves pd.
func (p *PubSub) collect(pd *Pending, pub *pubsub.Publisher, msgs []ports.Message, results []*pubsub.PublishResult) {
	defer p.trackers.Done()
	ids := make([]string, len(results))
	var failures []ports.PublishFailure
	var keys []string
	for i, r := range results {
		<-r.Ready()
		id, err := r.Get(context.Background())
		if err != nil && p.closing.Load() {
			// Counted before the message leaves inflight: Close reads
			// inflight first, then closeFailed, and so counts it.
			p.closeFailed.Add(1)
		}
		p.inflight.Add(-1)
		if err != nil {
			failures = append(failures, ports.PublishFailure{Index: i, Err: p.classify(pd.op, err)})
			if k := msgs[i].OrderingKey; k != "" && !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
			continue
		}
		ids[i] = id
	}
	// Resume the ordering keys this call paused, so that the caller can
	// publish them again.
	for _, k := range keys {
		pub.ResumePublish(k)
	}
	pd.ids = ids
	if len(failures) > 0 {
		pd.err = subscribe.PublishFailed(backend, pd.op, &ports.PublishError{Total: len(results), Failures: failures})
	}
	pd.sp.End(pd.err)
	close(pd.done)
	if len(failures) > 0 && !pd.awaited.Load() {
		p.logger.LogAttrs(context.Background(), slog.LevelWarn, "pubsub: messages not published and nobody waiting for them",
			slog.String("topic", pub.ID()), slog.Int("failed", len(failures)), slog.Int("total", len(results)),
			slog.Any("error", pd.err))
	}
}

// Pending is the outcome of a [PubSub.PublishAsync] call, resolved once
// the server has confirmed or refused each message.
type Pending struct {
	p       *PubSub
	op      string
	done    chan struct{}
	awaited atomic.Bool
	results []*pubsub.PublishResult
	ids     []string
	err     error
	sp      *obs.Span // PublishAsync's span, ended when pd resolves
}

// Done is closed when every message of the call is resolved.
func (pd *Pending) Done() <-chan struct{} { return pd.done }

// Wait waits until every message is resolved or ctx ends, and returns what
// Publish returns: the IDs in order, "" at each failed index, and an error
// naming the failed messages. When ctx ends first, the messages not yet
// confirmed are listed as Unconfirmed failures (ErrUnavailable wrapping
// ports.ErrOutcomeUnknown and ctx's error); they are still sent.
func (pd *Pending) Wait(ctx context.Context) ([]string, error) {
	pd.awaited.Store(true)
	if ctx == nil {
		return nil, ports.NewError(backend, pd.op, ports.ErrInvalid, gate.ErrNilContext)
	}
	select {
	case <-pd.done:
		return pd.ids, pd.err
	default:
	}
	select {
	case <-pd.done:
		return pd.ids, pd.err
	case <-ctx.Done():
		return pd.unconfirmed(ctx)
	}
}

// unconfirmed is Wait's answer when ctx ended first: the outcome of each
// message resolved by then, and an Unconfirmed failure for each other.
func (pd *Pending) unconfirmed(ctx context.Context) ([]string, error) {
	ids := make([]string, len(pd.results))
	var failures []ports.PublishFailure
	for i, r := range pd.results {
		select {
		case <-r.Ready():
			id, err := r.Get(context.Background())
			if err != nil {
				failures = append(failures, ports.PublishFailure{Index: i, Err: pd.p.classify(pd.op, err)})
				continue
			}
			ids[i] = id
		default:
			failures = append(failures, ports.PublishFailure{
				Index:       i,
				Err:         classifier.OutcomeUnknown(pd.op, contextErr(ctx)),
				Unconfirmed: true,
			})
		}
	}
	return ids, subscribe.PublishFailed(backend, pd.op, &ports.PublishError{Total: len(pd.results), Failures: failures})
}

// contextErr is ctx's error, joined with its cause when that says more.
func contextErr(ctx context.Context) error {
	err := ctx.Err()
	if cause := context.Cause(ctx); cause != nil && cause != err {
		err = errors.Join(err, cause)
	}
	return err
}
