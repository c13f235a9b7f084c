package pubsub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/pubsub/v2"
	vkit "cloud.google.com/go/pubsub/v2/apiv1"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/portkit/portkit/ports"
)

// Interface checks.
var (
	_ ports.Publisher  = (*PubSub)(nil)
	_ ports.Subscriber = (*PubSub)(nil)
	_ ports.Connector  = (*PubSub)(nil)
)

// closeGrace bounds how long Close waits, after its context has ended and
// the connection is closed, for the client's goroutines to notice.
const closeGrace = 1500 * time.Millisecond

// How the gRPC connections reconnect after losing the service: the first
// attempt at once, then after 100ms, growing 1.6x per failed attempt up
// to reconnectMaxDelay, each delay randomized by ±20%. gRPC's own
// defaults (1s, growing to 120s) let a client wait minutes after the
// service is back; with these it reconnects within 0.6s of the service
// returning, however long it was gone, at the price of at most about two
// connection attempts per second per connection meanwhile.
const (
	reconnectBaseDelay = 100 * time.Millisecond
	reconnectMaxDelay  = 500 * time.Millisecond
	// connectTimeout bounds one connection attempt (TCP, TLS and HTTP/2
	// handshakes) against a network that drops packets; gRPC's default
	// is 20s.
	connectTimeout = 5 * time.Second
)

// connectParams is the dial option of reconnectBaseDelay,
// reconnectMaxDelay and connectTimeout.
func connectParams() grpc.DialOption {
	return grpc.WithConnectParams(grpc.ConnectParams{
		Backoff: backoff.Config{
			BaseDelay:  reconnectBaseDelay,
			Multiplier: 1.6,
			Jitter:     0.2,
			MaxDelay:   reconnectMaxDelay,
		},
		MinConnectTimeout: connectTimeout,
	})
}

// checkTopicID is the topic Check asks about. It need not exist: NotFound
// proves the service answers.
const checkTopicID = "portkit-check"

// errClosing is the cancellation cause Close gives running Subscribe calls.
var errClosing = errors.New("pubsub adapter closing")

// PubSub is a [ports.Publisher], [ports.Subscriber] and [ports.Connector]
// over one Google Pub/Sub client. It is safe for concurrent use. Create it
// with [Open]; release it with Close.
type PubSub struct {
	cfg    Config // defaults applied
	client *pubsub.Client
	logger *slog.Logger

	// mu guards closed and subs; Publish holds it shared while it hands
	// messages to the client, so Close sees every message handed over.
	mu     sync.RWMutex
	closed bool
	subs   map[*int]context.CancelCauseFunc

	// pubMu guards pubs, the cached publisher of each topic.
	pubMu sync.Mutex
	pubs  map[string]*pubsub.Publisher

	inflight    atomic.Int64 // messages handed to the client and not yet resolved
	closing     atomic.Bool  // Close has begun flushing
	closeFailed atomic.Int64 // messages that failed while Close flushed

	trackers  sync.WaitGroup // goroutines collecting publish results
	receivers sync.WaitGroup // running Subscribe calls
	bg        sync.WaitGroup // Receive calls a Subscribe gave up waiting for
}

// Option configures [Open].
type Option func(*options)

type options struct {
	logger     *slog.Logger
	clientOpts []option.ClientOption
	lazy       bool
}

// WithLogger sets the logger of connection status, handler panics and
// messages that failed with nobody waiting for them (default
// slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithClientOptions passes options to pubsub.NewClientWithConfig after the
// adapter's own (for example option.WithCredentialsFile, or
// option.WithGRPCConn to an in-process server). They take precedence:
// option.WithGRPCDialOption(grpc.WithConnectParams(...)) replaces the
// adapter's reconnection settings (see [Open]).
func WithClientOptions(opts ...option.ClientOption) Option {
	return func(o *options) { o.clientOpts = append(o.clientOpts, opts...) }
}

// WithLazyConnect makes Open return without asking the service anything:
// the first call connects. By default Open runs Check and fails when the
// service does not answer within the check timeout.
func WithLazyConnect() Option {
	return func(o *options) { o.lazy = true }
}

// Open creates the client, then (unless [WithLazyConnect]) checks within
// cfg.CheckTimeout that the service answers, and logs the outcome. It
// returns an error wrapping ports.ErrInvalid for a bad Config and
// ports.ErrUnavailable when the service does not answer.
//
// The client's connections reconnect faster than gRPC's defaults (first
// retry after 1s, growing to 120s): after 100ms, growing 1.6x up to
// 500ms (±20% jitter), with 5s for one connection attempt. Calls
// therefore succeed again within about 0.6s of the service's return, at
// the cost of up to two connection attempts per second per connection
// while it is away. Pass
// WithClientOptions(option.WithGRPCDialOption(grpc.WithConnectParams(p)))
// to use other values.
func Open(ctx context.Context, cfg Config, opts ...Option) (*PubSub, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	o := options{logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	project := cfg.ProjectID
	if project == "" {
		project = pubsub.DetectProjectID
	}
	copts := []option.ClientOption{option.WithGRPCDialOption(connectParams())}
	if cfg.EmulatorHost != "" {
		copts = append(copts,
			option.WithEndpoint(cfg.EmulatorHost),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
			option.WithoutAuthentication(),
			option.WithTelemetryDisabled(),
		)
	}
	copts = append(copts, o.clientOpts...)
	// The client keeps the context for its credentials: never hand it one
	// that the caller will cancel.
	ccfg := &pubsub.ClientConfig{
		TopicAdminCallOptions:        &vkit.TopicAdminCallOptions{Publish: publishCallOptions()},
		SubscriptionAdminCallOptions: &vkit.SubscriptionAdminCallOptions{StreamingPull: streamingPullCallOptions()},
	}
	client, err := pubsub.NewClientWithConfig(context.WithoutCancel(ctx), project, ccfg, copts...)
	if err != nil {
		return nil, ports.NewError(backend, "open", ports.ErrInvalid, err)
	}
	p := &PubSub{
		cfg:    cfg,
		client: client,
		logger: o.logger.With(slog.String("backend", backend)),
		subs:   map[*int]context.CancelCauseFunc{},
		pubs:   map[string]*pubsub.Publisher{},
	}
	if o.lazy {
		p.logger.LogAttrs(ctx, slog.LevelInfo, "pubsub client created (lazy: not checked)", slog.Any("config", cfg))
		return p, nil
	}
	if err := p.Check(ctx); err != nil {
		p.logger.LogAttrs(ctx, slog.LevelError, "pubsub unavailable", slog.Any("config", cfg), slog.Any("error", err))
		_ = client.Close()
		return nil, err
	}
	p.logger.LogAttrs(ctx, slog.LevelInfo, "pubsub connected", slog.Any("config", cfg))
	return p, nil
}

// Client returns the underlying client, for what the ports do not cover.
// Its lifetime is the adapter's: do not close it yourself.
func (p *PubSub) Client() *pubsub.Client { return p.client }

// Name returns "pubsub".
func (p *PubSub) Name() string { return backend }

// Check asks the service for a topic's metadata (GetTopic), bounded by the
// check timeout and ctx. The answers NotFound and PermissionDenied prove
// the service answers as well as any, so Check needs no topic to exist and
// no permission beyond the application's own. It returns
// ports.ErrUnavailable when no answer comes in time and ports.ErrClosed
// after Close.
func (p *PubSub) Check(ctx context.Context) error {
	const op = "check"
	if p.isClosed() {
		return closedErr(op)
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.CheckTimeout)
	defer cancel()
	_, err := p.client.TopicAdminClient.GetTopic(ctx, &pubsubpb.GetTopicRequest{Topic: p.topicName(checkTopicID)})
	switch status.Code(err) {
	case codes.OK, codes.NotFound, codes.PermissionDenied:
		// The service answered. PermissionDenied too: a publisher or
		// subscriber role need not read topic metadata.
		return nil
	}
	if p.isClosed() {
		// Close closed the connection under the call.
		return ports.NewError(backend, op, ports.ErrClosed, err)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return ports.NewError(backend, op, ports.ErrUnavailable,
			fmt.Errorf("no answer within %s: %w", p.cfg.CheckTimeout, err))
	}
	return mapErr(op, err)
}

// callErr maps the error of a call that may have raced Close: once closed,
// every failure is ErrClosed.
func (p *PubSub) callErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if p.isClosed() {
		return ports.NewError(backend, op, ports.ErrClosed, err)
	}
	return mapErr(op, err)
}

// Close stops accepting Publish and Subscribe calls (they return
// ErrClosed), ends running Subscribe calls (which return ErrClosed once
// their handlers have returned), and flushes every message handed to the
// client, until ctx ends. It then closes the connection.
//
// When ctx ends first with messages unconfirmed, Close returns an error
// wrapping ErrUnavailable that says how many; they may or may not have
// been published. Subscribe calls still stopping then are left to finish
// (their unacked messages are redelivered). Close returns at most 1.5s
// after ctx ends: the time the client's goroutines need to notice the
// closed connection. A second Close returns ErrClosed.
func (p *PubSub) Close(ctx context.Context) error {
	const op = "close"
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return closedErr(op)
	}
	p.closed = true
	p.closing.Store(true)
	for _, cancel := range p.subs {
		cancel(errClosing)
	}
	p.mu.Unlock()

	p.pubMu.Lock()
	pubs := make([]*pubsub.Publisher, 0, len(p.pubs))
	for _, pub := range p.pubs {
		pubs = append(pubs, pub)
	}
	p.pubMu.Unlock()

	var errs []error
	var stops sync.WaitGroup
	for _, pub := range pubs {
		stops.Go(pub.Stop)
	}
	stopped := waitCtx(ctx, &stops)
	if n := p.inflight.Load(); !stopped && n > 0 {
		// Read before closeFailed: a collector counts a failure before it
		// uncounts the message, so none slips between the two reads.
		errs = append(errs, ports.NewError(backend, op, ports.ErrUnavailable,
			fmt.Errorf("%d messages not confirmed by the server: %w", n, ctx.Err())))
	}
	if !waitCtx(ctx, &p.receivers) {
		// Not an error of Close: their messages not yet acked will be
		// redelivered.
		p.logger.LogAttrs(ctx, slog.LevelWarn, "pubsub close: subscriptions still stopping when the context ended; their unacked messages will be redelivered")
	}
	// From here on Close waits closeGrace at most.
	grace, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeGrace)
	defer cancel()
	if stopped {
		// Every result is resolved once Stop returns, so the collectors
		// finish at once: wait for them to count the failures, whether
		// or not ctx has ended meanwhile.
		waitCtx(grace, &p.trackers)
	}
	if n := p.closeFailed.Load(); n > 0 {
		errs = append(errs, ports.NewError(backend, op, ports.ErrUnavailable,
			fmt.Errorf("%d messages failed to publish while closing", n)))
	}

	if err := p.client.Close(); err != nil {
		errs = append(errs, mapErr(op, err))
	}
	// With the connection closed every pending call fails at once; give
	// the goroutines that wait for them a moment to return.
	for _, wg := range []*sync.WaitGroup{&stops, &p.receivers, &p.trackers, &p.bg} {
		if !waitCtx(grace, wg) {
			p.logger.LogAttrs(ctx, slog.LevelWarn, "pubsub close: client goroutines still running after the grace period")
			break
		}
	}
	if len(errs) > 0 {
		err := errors.Join(errs...)
		p.logger.LogAttrs(ctx, slog.LevelWarn, "pubsub closed with errors", slog.Any("error", err))
		return err
	}
	p.logger.LogAttrs(ctx, slog.LevelInfo, "pubsub closed")
	return nil
}

// waitCtx waits for wg until ctx ends and reports whether wg finished
// first. (When both have happened by the time it looks, either answer may
// come.)
func waitCtx(ctx context.Context, wg *sync.WaitGroup) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	default:
	}
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

func (p *PubSub) isClosed() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.closed
}

// topicName returns the full name of a topic given by ID or full name.
func (p *PubSub) topicName(topic string) string {
	if strings.HasPrefix(topic, "projects/") {
		return topic
	}
	return "projects/" + p.client.Project() + "/topics/" + topic
}

// subName returns the full name of a subscription given by ID or full
// name.
func (p *PubSub) subName(sub string) string {
	if strings.HasPrefix(sub, "projects/") {
		return sub
	}
	return "projects/" + p.client.Project() + "/subscriptions/" + sub
}
