package pubsub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	gax "github.com/googleapis/gax-go/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/portkit/portkit/ports"
)

// Publish hands every message to the client's batcher at once, then waits
// until the server has confirmed each one (or ctx ends), and returns their
// server-assigned IDs in order.
//
// topic is a topic ID of the configured project or a full name
// "projects/P/topics/T". Nothing is sent when a message is empty (no data
// and no attributes) or too large for a request ([MaxRequestBytes]): the
// error wraps ports.ErrInvalid. An unknown topic is ports.ErrNotFound, a
// service that does not confirm within the publish timeout
// ports.ErrUnavailable, and every call after Close ports.ErrClosed.
//
// On a partial failure the error is a *ports.OpError whose Err is a
// *[PublishError] naming each failed message by index, and ids holds "" at
// each failed index. Messages with an OrderingKey are delivered in order
// to subscriptions with ordering; after a failure, the later messages of
// the same key in this call fail too (they are not sent out of order), and
// Publish resumes the key before it returns, so the caller may retry from
// the first failed message.
//
// When ctx ends before every message is confirmed, Publish returns the
// context's error; the messages already handed over are still sent, and
// Close waits for them.
func (p *PubSub) Publish(ctx context.Context, topic string, msgs ...ports.Message) ([]string, error) {
	pd, err := p.PublishAsync(ctx, topic, msgs...)
	if err != nil {
		return nil, err
	}
	return pd.Wait(ctx)
}

// PublishAsync checks msgs and hands them to the client's batcher like
// Publish, but returns at once with a [Pending] that resolves when the
// server has confirmed or refused each message. Close flushes the messages
// of every Pending, awaited or not. The caller must not modify msgs (their
// Data and Attributes) until the Pending resolves.
func (p *PubSub) PublishAsync(ctx context.Context, topic string, msgs ...ports.Message) (*Pending, error) {
	if topic == "" {
		return nil, invalidErr("publish", errors.New("empty topic"))
	}
	op := "publish " + topic
	pd := &Pending{op: op, done: make(chan struct{})}
	if len(msgs) == 0 {
		close(pd.done)
		return pd, nil
	}
	name := p.topicName(topic)
	if err := checkMessages(name, msgs); err != nil {
		return nil, invalidErr(op, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, ctxErr(op, err)
	}

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

// publishCallOptions replace the client's retry policy for Publish RPCs:
// the same codes and backoff, less Canceled. The client retries Canceled,
// which is also what every call returns once the connection is closed, so
// a publisher stopping after Close would retry until the publish timeout.
func publishCallOptions() []gax.CallOption {
	return []gax.CallOption{
		gax.WithRetry(func() gax.Retryer {
			return gax.OnCodes([]codes.Code{
				codes.Aborted,
				codes.Internal,
				codes.ResourceExhausted,
				codes.Unknown,
				codes.Unavailable,
				codes.DeadlineExceeded,
			}, gax.Backoff{
				Initial:    100 * time.Millisecond,
				Max:        60 * time.Second,
				Multiplier: 4,
			})
		}),
	}
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

// checkMessages returns an error naming the first message that cannot be
// sent to the topic with full name topic.
func checkMessages(topic string, msgs []ports.Message) error {
	limit := maxMessageSize(topic)
	for i, m := range msgs {
		if len(m.Data) == 0 && len(m.Attributes) == 0 {
			return fmt.Errorf("message %d is empty (no data and no attributes)", i)
		}
		if sizeBound(m) <= limit {
			continue // the exact size is no larger
		}
		size := proto.Size(&pubsubpb.PubsubMessage{
			Data:        m.Data,
			Attributes:  m.Attributes,
			OrderingKey: m.OrderingKey,
		})
		if size > limit {
			return fmt.Errorf("message %d is %d bytes encoded, over the limit of %d for this topic (10 MB per request)", i, size, limit)
		}
	}
	return nil
}

// sizeBound is an upper bound of m's encoded size, cheaper than
// proto.Size: every field counted with the largest tag and length prefix
// (1 + 5 bytes for fields under 4 GB).
func sizeBound(m ports.Message) int {
	const field = 1 + 5
	n := field + len(m.Data) + field + len(m.OrderingKey)
	for k, v := range m.Attributes {
		n += field + field + len(k) + field + len(v)
	}
	return n
}

// maxMessageSize is the largest encoded message the client accepts for the
// topic: a request of that one message is exactly MaxRequestBytes (the
// client's BundleByteLimit).
func maxMessageSize(topic string) int {
	topicField := 1 + protowire.SizeVarint(uint64(len(topic))) + len(topic)
	return MaxRequestBytes - topicField - 5
}

// collect waits for the results of one PublishAsync call, in order, and
// resolves pd.
func (p *PubSub) collect(pd *Pending, pub *pubsub.Publisher, msgs []ports.Message, results []*pubsub.PublishResult) {
	defer p.trackers.Done()
	ids := make([]string, len(results))
	var failed []FailedMessage
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
			failed = append(failed, FailedMessage{Index: i, OrderingKey: msgs[i].OrderingKey, Err: err})
			continue
		}
		ids[i] = id
	}
	pd.ids = ids
	if len(failed) > 0 {
		// Resume the ordering keys this call paused, so that the caller
		// can publish them again.
		var keys []string
		for _, f := range failed {
			if f.OrderingKey != "" && !slices.Contains(keys, f.OrderingKey) {
				keys = append(keys, f.OrderingKey)
				pub.ResumePublish(f.OrderingKey)
			}
		}
		pe := &PublishError{Topic: pub.ID(), Total: len(results), Failed: failed}
		pd.err = ports.NewError(backend, pd.op, pe.kind(), pe)
	}
	close(pd.done)
	if len(failed) > 0 && !pd.awaited.Load() {
		p.logger.LogAttrs(context.Background(), slog.LevelWarn, "pubsub: messages not published and nobody waiting for them",
			slog.String("topic", pub.ID()), slog.Int("failed", len(failed)), slog.Int("total", len(results)),
			slog.Any("error", pd.err))
	}
}

// Pending is the outcome of a [PubSub.PublishAsync] call, resolved once
// the server has confirmed or refused each message.
type Pending struct {
	op      string
	done    chan struct{}
	awaited atomic.Bool
	ids     []string
	err     error
}

// Done is closed when every message of the call is resolved.
func (pd *Pending) Done() <-chan struct{} { return pd.done }

// Wait waits until every message is resolved or ctx ends, and returns what
// Publish returns: the IDs in order, "" at each failed index, and an error
// naming the failed messages. When ctx ends first it returns ctx's error
// (as ports.ErrUnavailable for a deadline); the messages are still sent.
func (pd *Pending) Wait(ctx context.Context) ([]string, error) {
	pd.awaited.Store(true)
	select {
	case <-pd.done:
		return pd.ids, pd.err
	default:
	}
	select {
	case <-pd.done:
		return pd.ids, pd.err
	case <-ctx.Done():
		return nil, ctxErr(pd.op, fmt.Errorf("messages not yet confirmed (they are still sent): %w", ctx.Err()))
	}
}

// FailedMessage is one message a Publish call could not publish.
type FailedMessage struct {
	Index       int    // index of the message in the call
	OrderingKey string // its ordering key, if any
	Err         error  // the client's error
}

// PublishError reports the messages of one Publish call that failed. It is
// the Err of the *ports.OpError that Publish returns; errors.As finds it.
type PublishError struct {
	Topic  string          // topic ID
	Total  int             // messages in the call
	Failed []FailedMessage // in index order
}

// Error names every failed message by index, grouped by cause:
// "2 of 5 messages failed: [1 3]: rpc error: ...".
func (e *PublishError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d messages failed", len(e.Failed), e.Total)
	for i, g := range e.groups() {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString("[")
		b.WriteString(indexRanges(g.indexes))
		b.WriteString("]: ")
		b.WriteString(g.err.Error())
	}
	return b.String()
}

// Unwrap returns one error of each distinct cause.
func (e *PublishError) Unwrap() []error {
	groups := e.groups()
	errs := make([]error, len(groups))
	for i, g := range groups {
		errs[i] = g.err
	}
	return errs
}

type failureGroup struct {
	err     error
	indexes []int
}

// groups gathers failures with the same message, in order of first index.
func (e *PublishError) groups() []failureGroup {
	var groups []failureGroup
	pos := map[string]int{}
	for _, f := range e.Failed {
		msg := f.Err.Error()
		i, ok := pos[msg]
		if !ok {
			i = len(groups)
			pos[msg] = i
			groups = append(groups, failureGroup{err: f.Err})
		}
		groups[i].indexes = append(groups[i].indexes, f.Index)
	}
	return groups
}

// kind is the port sentinel of the first failure that is not a mere
// consequence of an earlier one (a paused ordering key).
func (e *PublishError) kind() error {
	for _, f := range e.Failed {
		var paused pubsub.ErrPublishingPaused
		if !errors.As(f.Err, &paused) {
			return kindOf(f.Err)
		}
	}
	return kindOf(e.Failed[0].Err)
}

// indexRanges formats sorted indexes compactly: "0-4 7 9-10".
func indexRanges(idx []int) string {
	var b strings.Builder
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && idx[j+1] == idx[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Itoa(idx[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(idx[j]))
		}
		i = j + 1
	}
	return b.String()
}
