package pubsub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/pubsub/v2"
	vkit "cloud.google.com/go/pubsub/v2/apiv1"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	gax "github.com/googleapis/gax-go/v2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/portkit/portkit/internal/gate"
	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/internal/subscribe"
	"github.com/portkit/portkit/ports"
)

// Interface checks.
var (
	_ ports.Publisher  = (*PubSub)(nil)
	_ ports.Subscriber = (*PubSub)(nil)
	_ ports.Connector  = (*PubSub)(nil)
	_ ports.Admin      = (*PubSub)(nil)
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
	subs   map[*subscriptionEntry]struct{}

	dialer *dialer // nil unless the adapter dials an emulator itself

	// pubMu guards pubs, the cached publisher of each topic.
	pubMu sync.Mutex
	pubs  map[string]*pubsub.Publisher

	inflight    atomic.Int64 // messages handed to the client and not yet resolved
	closing     atomic.Bool  // Close has begun flushing
	closeFailed atomic.Int64 // messages that failed while Close flushed

	trackers  sync.WaitGroup // goroutines collecting publish results
	receivers sync.WaitGroup // running Subscribe calls
	bg        sync.WaitGroup // Receive calls a Subscribe gave up waiting for

	pub, sub, admin, conn *obs.Instr // spans and metrics
}

// Option configures [Open].
type Option func(*options)

type options struct {
	logger        *slog.Logger
	clientOpts    []option.ClientOption
	lazy          bool
	tel           obs.Settings
	clientTracing bool
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
// returns an error wrapping ports.ErrInvalid for a bad Config (or a nil
// ctx) and ports.ErrUnavailable when the service does not answer: at once,
// naming the cause, when the emulator's port refuses connections or its
// host does not resolve; else once the check's bound has passed (the check
// timeout, or ctx's deadline when sooner), naming that bound and the last
// error seen.
//
// The client's connections reconnect faster than gRPC's defaults (first
// retry after 1s, growing to 120s): after 100ms, growing 1.6x up to
// 500ms (±20% jitter), with 5s for one connection attempt. A publish
// request waits for the connection to be ready and retries after at most
// 250ms, so a publish in flight during an outage completes within about
// 0.6s of the service's return, at the cost of up to two connection
// attempts per second per connection while it is away. Pass
// WithClientOptions(option.WithGRPCDialOption(grpc.WithConnectParams(p)))
// to use other connection values.
func Open(ctx context.Context, cfg Config, opts ...Option) (*PubSub, error) {
	if ctx == nil {
		return nil, ports.NewError(backend, "open", ports.ErrInvalid, gate.ErrNilContext)
	}
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
	var d *dialer
	if cfg.EmulatorHost != "" {
		// The adapter dials the emulator itself, to learn why a dial
		// failed (gRPC only reports it as text). Not with the real
		// service, whose transport may go through a proxy.
		d = &dialer{}
		copts = append(copts,
			option.WithEndpoint(cfg.EmulatorHost),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
			option.WithGRPCDialOption(grpc.WithContextDialer(d.dial)),
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
		EnableOpenTelemetryTracing:   o.clientTracing,
	}
	client, err := pubsub.NewClientWithConfig(context.WithoutCancel(ctx), project, ccfg, copts...)
	if err != nil {
		return nil, ports.NewError(backend, "open", ports.ErrInvalid, err)
	}
	p := &PubSub{
		cfg:    cfg,
		client: client,
		logger: o.logger.With(slog.String("backend", backend)),
		subs:   map[*subscriptionEntry]struct{}{},
		pubs:   map[string]*pubsub.Publisher{},
		dialer: d,
	}
	p.instrument(cfg, o.tel)
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

// dialer dials the emulator and remembers the outcome of the last dial,
// so that a call can tell a refused port or an unknown host (no use
// waiting) from a slow network.
type dialer struct {
	mu   sync.Mutex
	last error // nil after a successful dial
}

func (d *dialer) dial(ctx context.Context, addr string) (net.Conn, error) {
	var nd net.Dialer
	c, err := nd.DialContext(ctx, "tcp", addr)
	d.mu.Lock()
	d.last = err
	d.mu.Unlock()
	return c, err
}

// hopeless returns the last dial error when it is one that retrying at
// once would meet again (refused, no such host), else nil.
func (p *PubSub) hopeless() error {
	if p.dialer == nil {
		return nil
	}
	p.dialer.mu.Lock()
	defer p.dialer.mu.Unlock()
	if p.dialer.last != nil && refusedOrUnknownHost(p.dialer.last) {
		return p.dialer.last
	}
	return nil
}

// Client returns the underlying client, for what the ports do not cover.
// Its lifetime is the adapter's: do not close it yourself.
func (p *PubSub) Client() *pubsub.Client { return p.client }

// Name returns "pubsub".
func (p *PubSub) Name() string { return backend }

// enter is the entry check of every method: ErrClosed after Close, then
// ErrInvalid for a nil ctx, then ErrUnavailable for a done ctx.
func (p *PubSub) enter(ctx context.Context, op string) error {
	if p.isClosed() {
		return classifier.Closed(op)
	}
	return gate.CheckContext(ctx, backend, op)
}

// Check asks the service for a topic's metadata (GetTopic), bounded by the
// check timeout and ctx. The answers NotFound and PermissionDenied prove
// the service answers as well as any, so Check needs no topic to exist and
// no permission beyond the application's own; Unauthenticated (bad
// credentials) is ports.ErrPermission. It returns ports.ErrUnavailable at
// once when the emulator's port refuses connections or its host does not
// resolve (the error names which), and when no answer comes within its
// bound (the error names the bound: the check timeout or ctx's deadline,
// whichever is sooner, and the last error seen); ports.ErrClosed after
// Close.
func (p *PubSub) Check(ctx context.Context) error {
	ctx, sp := p.conn.Start(ctx, obs.OpCheck)
	err := p.doCheck(ctx)
	sp.End(err)
	return err
}

func (p *PubSub) doCheck(ctx context.Context) error {
	const op = "check"
	if err := p.enter(ctx, op); err != nil {
		return err
	}
	bound, what := p.cfg.CheckTimeout, "the check timeout"
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < bound {
		bound, what = time.Until(dl), "the context's deadline"
	}
	cctx, cancel := context.WithTimeout(ctx, p.cfg.CheckTimeout)
	defer cancel()
	rec := &recordingRetryer{inner: adminRetryer(), stop: p.hopeless}
	_, err := p.client.TopicAdminClient.GetTopic(cctx, &pubsubpb.GetTopicRequest{Topic: p.topicName(checkTopicID)},
		gax.WithRetry(func() gax.Retryer { return rec }))
	switch status.Code(err) {
	case codes.OK, codes.NotFound, codes.PermissionDenied:
		// The service answered. PermissionDenied too: a publisher or
		// subscriber role need not read topic metadata.
		return nil
	}
	return p.unanswered(ctx, cctx, op, err, rec, bound, what)
}

// unanswered turns the failure of a call bounded by cctx (derived from
// ctx, the caller's) into its error: the hopeless dial error when that
// stopped the retries, the bound and the last error when cctx's deadline
// passed, else the classified error.
func (p *PubSub) unanswered(ctx, cctx context.Context, op string, err error, rec *recordingRetryer, bound time.Duration, what string) error {
	if p.isClosed() {
		// Close closed the connection under the call.
		return ports.NewError(backend, op, ports.ErrClosed, err)
	}
	if rec.hopeless != nil {
		return ports.NewError(backend, op, ports.ErrUnavailable, fmt.Errorf("%s: %w", describeDial(rec.hopeless), rec.hopeless))
	}
	if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return p.wrap(ctx, op, err) // the caller gave up
	}
	if errors.Is(cctx.Err(), context.DeadlineExceeded) {
		cause := err
		if rec.last != nil && !ports.IsContextError(rec.last) && rec.last.Error() != err.Error() {
			cause = fmt.Errorf("%w (last attempt: %v)", err, rec.last)
		}
		return ports.NewError(backend, op, ports.ErrUnavailable,
			fmt.Errorf("no answer within %s (%s): %w", roundBound(bound), what, cause))
	}
	return p.wrap(ctx, op, err)
}

// roundBound rounds a bound for a message: to 100ms from 1s on, else to
// the millisecond.
func roundBound(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

// describeDial names a hopeless dial error.
func describeDial(err error) string {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return "no such host " + dnsErr.Name
	}
	return "connection refused"
}

// recordingRetryer retries like inner, remembering the last error, and
// gives up at once when stop reports a hopeless dial error.
type recordingRetryer struct {
	inner    gax.Retryer
	stop     func() error
	last     error
	hopeless error
}

func (r *recordingRetryer) Retry(err error) (time.Duration, bool) {
	r.last = err
	if status.Code(err) == codes.Unavailable && r.stop != nil {
		if h := r.stop(); h != nil {
			r.hopeless = h
			return 0, false
		}
	}
	return r.inner.Retry(err)
}

// adminRetryer is the client's retry policy for admin calls: Unavailable,
// with a backoff capped at 1s (the client's own grows to 60s).
func adminRetryer() gax.Retryer {
	return gax.OnCodes([]codes.Code{codes.Unavailable}, gax.Backoff{
		Initial:    100 * time.Millisecond,
		Max:        time.Second,
		Multiplier: 1.3,
	})
}

// Close stops accepting calls (they return ErrClosed), ends running
// Subscribe calls (which return ErrClosed once their handlers have
// returned, within their shutdown grace), and flushes every message handed
// to the client, until ctx ends. It then closes the connection.
//
// When ctx ends first with messages unconfirmed, Close returns an error
// wrapping ErrUnavailable that says how many; they may or may not have
// been published. Subscribe calls still stopping then have their handlers'
// contexts cancelled at once (and are abandoned a second later; their
// unacked messages are redelivered). Close returns at most 1.5s after ctx
// ends: the time the client's goroutines need to notice the closed
// connection. A second Close returns ErrClosed.
func (p *PubSub) Close(ctx context.Context) error {
	ctx, sp := p.conn.Start(ctx, obs.OpClose)
	err := p.doClose(ctx)
	sp.End(err)
	return err
}

func (p *PubSub) doClose(ctx context.Context) error {
	const op = "close"
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return closedErr(op)
	}
	if ctx == nil {
		p.mu.Unlock()
		return ports.NewError(backend, op, ports.ErrInvalid, gate.ErrNilContext)
	}
	p.closed = true
	p.closing.Store(true)
	subs := make([]*subscriptionEntry, 0, len(p.subs))
	for s := range p.subs {
		subs = append(subs, s)
		s.cancel(errClosing)
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
		for _, s := range subs {
			s.hurry()
		}
		p.logger.LogAttrs(ctx, slog.LevelWarn, "pubsub close: subscriptions still stopping when the context ended; their handlers' contexts are cancelled and their unacked messages will be redelivered")
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
		errs = append(errs, p.classify(op, err))
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

// checkName checks a topic (collection "topics") or subscription
// ("subscriptions") given by ID or full name "projects/P/<collection>/ID":
// the ID must follow Google Pub/Sub's naming rule (subscribe.ValidateName),
// which the service and its emulator enforce and pstest does not.
func checkName(what, collection, name string) error {
	id := name
	if strings.HasPrefix(name, "projects/") {
		parts := strings.Split(name, "/")
		if len(parts) != 4 || parts[1] == "" || parts[2] != collection {
			return fmt.Errorf("%s %.80q is neither an ID nor a name of the form projects/PROJECT/%s/ID", what, name, collection)
		}
		id = parts[3]
	}
	return subscribe.ValidateName(what, id)
}
